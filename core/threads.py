"""Thread budgets of the numeric libraries, set once at start-up rather than around each call.

The service runs ``limits.workers`` jobs side by side (:mod:`core.scheduler`), so each job gets
:data:`PER_JOB` compute thread: W workers use W × 1 threads, one per core when W is the number of
cores. A library that spreads one job over every core oversubscribes them as soon as two jobs
run (two SwiftF0 sessions with a thread per core made 20 concurrent searches ~40× slower than one
at a time). Raise ``limits.workers`` to use more cores, not the libraries' thread counts.

- BLAS and OpenMP (numpy's and scipy's OpenBLAS, torch's OpenMP): :func:`configure` sets their
  limit once, process-wide, with threadpoolctl. (A ``threadpool_limits`` *context* around each
  call, as the melody-salience network had, is process-wide too: two workers' contexts raced,
  the second one saving and then restoring the first one's limit.)
- torch's intra-op pool: ``torch.set_num_threads`` in :func:`configure`, when torch is loaded.
- ONNX Runtime (SwiftF0, Basic Pitch): sessions take :func:`onnx_threads` intra-op threads when
  they are built; a session cannot change them afterwards.

:func:`configure` acts on the libraries loaded when it is called: ``bot.wiring.build_service``
calls it once the embedders (torch, scipy, ONNX Runtime) are loaded. Calling it again is harmless.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

#: Compute threads per job (BLAS, OpenMP, torch, ONNX Runtime intra-op).
PER_JOB = 1


def onnx_threads() -> int:
    """Intra-op threads for an ONNX Runtime session (inter-op: always 1)."""
    return PER_JOB


def configure(workers: int) -> None:
    """Limit BLAS, OpenMP and torch to :data:`PER_JOB` thread each, for ``workers`` parallel jobs."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships no type information

    threadpool_limits(limits=PER_JOB)  # not a context: the limit stays
    if "torch" in sys.modules:  # loaded by the PANNs embedder; not imported here for nothing
        import torch

        torch.set_num_threads(PER_JOB)
    log.debug("compute threads: %d workers × %d", workers, PER_JOB)
