"""The melody embedder's thread pool: one query's melody work, spread over two threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

#: Threads one query's melody work is spread over: the re-ranking's DTW (numba, without the
#: GIL) and the query's two contours (ONNX Runtime and librosa, which release it too). Two, not
#: one per core: the work splits in two (Basic Pitch's windows in two halves, then SwiftF0 and
#: the CQT; BENCHMARKS.md: 442 → 266 ms on a 10 s query), and the service already runs
#: ``limits.workers`` jobs side by side (:mod:`core.threads`), so more threads per query would
#: only oversubscribe the cores.
_THREADS = 2
_pool: ThreadPoolExecutor | None = None


def _melody_pool() -> ThreadPoolExecutor:
    """The process's one melody pool, made on first use and shared by every
    :class:`~core.embedders.melody.MelodyEmbedder` (this module owns it; nothing shuts it down:
    its threads idle until the interpreter exits)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="melody")
    return _pool
