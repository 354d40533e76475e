"""SwiftF0 on a query's voice, run once however many parts of a search read it.

The melody embedder (:mod:`core.embedders.melody`) tracks a query's voice to build its vectors;
the query evidence (:mod:`core.evidence`) reads the same track to count its notes. Both run in
the same search, on the same 16 kHz samples, on two threads: :class:`VoicePitch` answers the
second caller with the first one's result (waiting for it if it is still running) instead of
tracking the 10 s of audio again (~90 ms of CPU here).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Protocol

import numpy as np

from core import threads as thread_budget

#: Tracks kept: the queries of one batch of searches (MicroBatcher's max_batch is 8) fit twice.
RECENT = 16


class PitchTrack(Protocol):
    """A pitch track as SwiftF0 gives it (``swift_f0.PitchResult``): per frame (all (frames,)),
    ``timestamps`` (s), ``pitch_hz`` (Hz) and ``confidence`` (0 … 1)."""

    timestamps: np.ndarray
    pitch_hz: np.ndarray
    confidence: np.ndarray


class PitchDetector(Protocol):
    """What tracks a voice: :class:`VoicePitch`, or ``swift_f0.SwiftF0`` itself."""

    def detect(self, samples: np.ndarray, sample_rate: float, *, fmin: float, fmax: float) -> PitchTrack: ...


class VoicePitch:
    """A SwiftF0 detector (one ONNX thread) with a small memory of the audio it tracked last.

    ``detect`` takes the same arguments as ``swift_f0.SwiftF0.detect``; equal samples at equal
    settings get the very same result object.
    """

    def __init__(self) -> None:
        from swift_f0 import SwiftF0

        # A job's ONNX thread budget (core.threads: one): the service already runs
        # `limits.workers` jobs in parallel, and oversubscribing 2 cores made 20 concurrent
        # searches ~40× slower than one at a time.
        self._f0 = SwiftF0(threads=thread_budget.onnx_threads(), spin=False)
        self._run_lock = threading.Lock()  # one inference at a time on the shared session
        self._lock = threading.Lock()
        self._recent: OrderedDict[bytes, Future[PitchTrack]] = OrderedDict()

    def detect(self, samples: np.ndarray, sample_rate: float, *, fmin: float, fmax: float) -> PitchTrack:
        key = hashlib.blake2b(
            np.ascontiguousarray(samples, np.float32).tobytes(),
            digest_size=16,
            person=f"{sample_rate:g}/{fmin:g}/{fmax:g}".encode()[:16],
        ).digest()
        with self._lock:
            found = self._recent.get(key)
            owner = found is None
            if found is None:
                fut: Future[PitchTrack] = Future()
                self._recent[key] = fut
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
            else:
                fut = found
                self._recent.move_to_end(key)
        if owner:
            try:
                with self._run_lock:
                    fut.set_result(self._f0.detect(samples, sample_rate, fmin=fmin, fmax=fmax))
            except BaseException as e:  # the waiting caller gets it too; the next call tries again
                with self._lock:
                    self._recent.pop(key, None)
                fut.set_exception(e)
        return fut.result()


_shared: VoicePitch | None = None
_shared_lock = threading.Lock()


def shared() -> VoicePitch:
    """The process's one detector (its model loads once)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = VoicePitch()
        return _shared
