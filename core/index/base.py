"""The vector index interface every backend implements (local SQLite, Elasticsearch).

An index stores, per song, the song's metadata (denormalised, for filters) and its segment
vectors for each embedder. A search takes query vectors for one embedder and returns *songs*
— never the same song twice — each with the score and offset of its best-matching segment.
Callers (the service) never know which backend they talk to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping

import numpy as np

from core.types import EmbedderSpec, IndexHit, IndexStats, SearchFilter, Segments, Song


class VectorIndex(ABC):
    backend: str = "?"

    @abstractmethod
    async def open(self, embedders: Mapping[str, EmbedderSpec]) -> None:
        """Create the index on first use, or check the existing one.

        Raises :class:`core.errors.IndexMismatch` when the stored embedders (name, version,
        dimension) or mapping differ from ``embedders``: the fix is ``humbot reindex``.
        Raises :class:`core.errors.BackendUnavailable` when the backend cannot be reached.
        """

    @abstractmethod
    async def close(self) -> None: ...

    async def refresh(self) -> None:
        """Catch up with writes other processes made to this index (called when the catalog's
        generation moved). A backend whose state lives in a server (Elasticsearch) has nothing
        to do; one that keeps vectors in memory reloads what changed."""

    @abstractmethod
    async def upsert(self, song: Song, segments: Mapping[str, Segments]) -> None:
        """Store ``song`` with its segments, replacing any previous version atomically.

        The song is searchable when this returns.
        """

    @abstractmethod
    async def delete(self, song_id: str) -> bool:
        """Remove a song and all its segments. True when it was there."""

    @abstractmethod
    async def search(
        self,
        embedder: str,
        queries: np.ndarray,
        top_k: int,
        filters: SearchFilter | None = None,
    ) -> list[IndexHit]:
        """Songs best matching any of ``queries`` (shape (q, dim), unit rows) for ``embedder``.

        Score: the cosine similarity of the best (query vector, segment) pair of each song.
        Sorted by score, descending; at most ``top_k`` distinct songs.
        """

    @abstractmethod
    async def song_ids(self) -> set[str]:
        """Ids of every song in the index (used to reconcile with the catalog)."""

    @abstractmethod
    async def stats(self) -> IndexStats: ...

    @abstractmethod
    async def rebuild(
        self,
        embedders: Mapping[str, EmbedderSpec],
        songs: AsyncIterator[tuple[Song, Mapping[str, Segments]]],
    ) -> int:
        """Build a fresh index for ``embedders`` from ``songs`` and switch to it atomically.

        Searches keep working on the old index until the switch. Returns the song count.
        """
