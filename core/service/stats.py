"""The service's figures for ``/stats`` and ``humbot stats``: songs, queries, feedback, the index."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from core.errors import HumbotError
from core.service.backends import Backends
from core.types import IndexStats


@dataclass(frozen=True)
class ServiceStats:
    songs: int
    queries: int
    matched: int
    feedback_correct: int
    feedback_wrong: int
    index: IndexStats
    embedders: list[str]
    notes: list[str] = field(default_factory=list)  # e.g. "PANNs checkpoint missing"

    @property
    def hit_rate(self) -> float | None:
        """Share of queries with feedback that users confirmed, or None without feedback."""
        n = self.feedback_correct + self.feedback_wrong
        return self.feedback_correct / n if n else None


async def collect(backends: Backends, notes: list[str]) -> ServiceStats:
    """The figures now; an index that cannot say (down, broken) is reported with its error."""
    usage = await asyncio.to_thread(backends.catalog.usage)
    try:
        index = await backends.index.stats()
    except HumbotError as e:
        index = IndexStats(backends.index.backend, 0, {}, False, str(e))
    return ServiceStats(
        songs=await asyncio.to_thread(backends.catalog.count),
        index=index,
        embedders=list(backends.embedders),
        notes=notes,
        **usage,
    )
