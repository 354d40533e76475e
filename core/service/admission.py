"""Admission control: the service's worker pool and the bound on the work waiting for it.

CPU/GPU work (decoding, pitch tracking, models) runs on a thread pool of ``limits.workers``
threads, never on the event loop; at most ``limits.max_queued`` jobs may wait for it, beyond
which requests fail fast with :class:`core.errors.Busy` ("try again in a moment") rather than
queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from core import audio as audio_mod
from core import scheduler
from core.errors import Busy
from core.settings import LimitsConfig

T = TypeVar("T")


class Admission:
    """The worker pool, its waiting count and the limits every part of the service reads.

    ``limits`` lives here only: assigning ``service.admission.limits`` changes them for every part
    at once.
    """

    def __init__(self, limits: LimitsConfig) -> None:
        self.limits = limits
        # Jobs of the oldest request first, so answers come back in arrival order (core.scheduler).
        self.pool = scheduler.PriorityPool(limits.workers, name="humbot-work")
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Jobs admitted and not finished yet (queued or running): what ``max_queued`` bounds."""
        return self._waiting

    async def run(self, fn: Callable[..., T], *args: Any, admitted: bool = False) -> T:
        """Run CPU/GPU work on the pool; fail fast with Busy when too much is waiting.

        Only a request's first job is checked: the later jobs of an ``admitted`` request (embed,
        re-rank, clip) always run, or a burst of users would see work already done thrown away
        half-way (20 searches at once × 3 embedders' jobs each went past ``max_queued``).

        The job goes where its request's ticket puts it (:mod:`core.scheduler`): after the
        queued jobs of older requests, before those of younger ones.
        """
        if not admitted and self._waiting >= self.limits.max_queued:
            raise Busy()
        self._waiting += 1
        try:
            return await asyncio.wrap_future(self.pool.submit(scheduler.current(), fn, *args))
        finally:
            self._waiting -= 1

    def check_upload_size(self, size_bytes: int | None) -> None:
        """Adapters call this with the platform's announced size *before* downloading."""
        if size_bytes is not None:
            audio_mod.check_size(size_bytes, self.limits.max_upload_mb)

    def shutdown(self) -> None:
        """Wait for the running jobs, then stop the pool's threads."""
        self.pool.shutdown(wait=True)
