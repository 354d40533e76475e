"""Test support: hummed voice notes, and fault injection in a dependency of the service (the
index) — never a mock of the adapter under test."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np
from audio_fixtures import SR, encode, tune

from core.errors import BackendUnavailable
from core.index.base import VectorIndex
from core.types import EmbedderSpec, IndexHit, IndexStats, SearchFilter, Segments, Song


def voice_note(seed: int, start_s: float, seconds: float) -> bytes:
    """An OGG/Opus voice note humming ``seconds`` of catalog song ``seed`` from ``start_s``.

    (tests/conftest.py has the same helper; importing it by the name ``conftest`` is fragile
    when other test folders put their own conftest first on ``sys.path``.)
    """
    y = tune(seed, voice=True)
    a = int(start_s * SR)
    return encode(y[a : a + int(seconds * SR)], "ogg")


class FaultyIndex(VectorIndex):
    """The real index with two switches for fault injection: ``down`` makes searches raise
    BackendUnavailable (as an unreachable Elasticsearch does); ``gate``, when set to an unset
    Event, holds searches until it is set (a search "in flight" for shutdown tests)."""

    def __init__(self, inner: VectorIndex) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.down = False
        self.gate: asyncio.Event | None = None

    async def search(self, embedder: str, queries: np.ndarray, top_k: int,
                     filters: SearchFilter | None = None) -> list[IndexHit]:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise BackendUnavailable()
        return await self.inner.search(embedder, queries, top_k, filters)

    async def open(self, embedders: Mapping[str, EmbedderSpec]) -> None:
        await self.inner.open(embedders)

    async def close(self) -> None:
        await self.inner.close()

    async def upsert(self, song: Song, segments: Mapping[str, Segments]) -> None:
        await self.inner.upsert(song, segments)

    async def delete(self, song_id: str) -> bool:
        return await self.inner.delete(song_id)

    async def song_ids(self) -> set[str]:
        return await self.inner.song_ids()

    async def stats(self) -> IndexStats:
        return await self.inner.stats()

    async def rebuild(self, embedders, songs) -> int:  # type: ignore[no-untyped-def]
        return await self.inner.rebuild(embedders, songs)
