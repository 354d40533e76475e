"""The platform-neutral, async hum-to-song service every adapter and the CLI talk to.

Data flows one way: an adapter hands bytes to :class:`HumService`; the service decodes them,
runs the embedders off the event loop, asks the index, fuses and calibrates the results, cuts a
clip and hands back typed values (:mod:`core.types`). Failures a user can act on are
:class:`core.errors.HumbotError`; everything else is a bug and is logged with its traceback.

:class:`HumService` is a facade over four parts, one job each:

- :mod:`~core.service.admission`: the worker pool and the bound on the work waiting for it
  (:class:`core.errors.Busy` beyond ``limits.max_queued``);
- :mod:`~core.service.backends`: the catalog, the indexes, the embedders, the write lock, the
  versions map, and catching up with what other processes wrote;
- :mod:`~core.service.library`: the songs (import, removal, listing, rebuild, held uploads, clips);
- :mod:`~core.service.search`: the search pipeline;

and :mod:`~core.service.stats` counts. Adapters call the facade's methods only; the parts are
attributes (``admission``, ``backends``, ``library``, ``pipeline``) for tools that measure one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Unpack

import numpy as np

from core import audio as audio_mod
from core import fingerprint as fp
from core.catalog import Catalog
from core.embedders.base import Embedder
from core.index.base import VectorIndex
from core.index.fingerprint_base import FingerprintIndex
from core.service import stats as stats_mod
from core.service.admission import Admission
from core.service.backends import DECODE_RATE, RECORDING_FEATURES, SYNC_INTERVAL_S, Backends
from core.service.library import DUPLICATE_CANDIDATES, DUPLICATE_PROBES, ON_DUPLICATE, UNTITLED, Library
from core.service.search import SearchPipeline
from core.service.stats import ServiceStats
from core.settings import LimitsConfig, SearchConfig
from core.types import (
    AddResult,
    Clip,
    IndexStats,
    ReindexResult,
    SearchOptions,
    SearchResponse,
    Segments,
    Song,
    Upload,
)

__all__ = [
    "DECODE_RATE",
    "DUPLICATE_CANDIDATES",
    "DUPLICATE_PROBES",
    "ON_DUPLICATE",
    "RECORDING_FEATURES",
    "SYNC_INTERVAL_S",
    "UNTITLED",
    "HumService",
    "ServiceStats",
]


class HumService:
    """The service: its parts composed, and the methods adapters, the CLI and the evaluation call."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        index: VectorIndex,
        embedders: Sequence[Embedder],
        search: SearchConfig,
        limits: LimitsConfig,
        notes: Sequence[str] = (),
        fingerprints: FingerprintIndex | None = None,
        fingerprint_speeds: tuple[float, ...] = fp.landmarks.SPEEDS,
    ) -> None:
        self.notes = list(notes)
        self.admission = Admission(limits)
        self.backends = Backends(
            catalog=catalog,
            index=index,
            embedders=embedders,
            fingerprints=fingerprints,
            fingerprint_speeds=fingerprint_speeds,
        )
        self.library = Library(self.backends, self.admission, search)
        self.pipeline = SearchPipeline(self.backends, self.admission, self.library, search)

        # Never replaced, so plain attributes; what may be (the index, the limits) is read from
        # its one owner at each use, so that replacing it reaches every part.
        self.catalog: Catalog = self.backends.catalog
        self.fingerprints: FingerprintIndex | None = self.backends.fingerprints
        self.embedders: Mapping[str, Embedder] = self.backends.embedders

    @property
    def index(self) -> VectorIndex:
        return self.backends.index

    @property
    def limits(self) -> LimitsConfig:
        return self.admission.limits

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the index (checking it matches the embedders) and reconcile it with the catalog."""
        await self.backends.start()

    async def close(self) -> None:
        await self.backends.close()
        self.admission.shutdown()

    async def reconcile(self) -> None:
        """Undo what an interrupted import left behind (:meth:`Backends.reconcile`)."""
        await self.backends.reconcile()

    def check_upload_size(self, size_bytes: int | None) -> None:
        """Adapters call this with the platform's announced size *before* downloading."""
        self.admission.check_upload_size(size_bytes)

    # -- songs ----------------------------------------------------------------------------
    async def add_song(
        self, data: bytes, *, on_duplicate: str = "skip", **upload: Unpack[Upload]
    ) -> AddResult:
        """Store, embed and index a song (``upload``: ``filename=`` and what the uploader said,
        :class:`core.types.Upload`); a copy of a catalog song is skipped or kept as its version,
        by ``on_duplicate`` (:meth:`Library.add_song`)."""
        return await self.library.add_song(data, on_duplicate=on_duplicate, **upload)

    async def hold_upload(self, data: bytes, **upload: Unpack[Upload]) -> str:
        """Keep an upload (a duplicate an admin may still want) on disk; returns the key for :meth:`add_held`."""
        return await self.library.hold_upload(data, **upload)

    async def add_held(self, key: str, *, on_duplicate: str = "version") -> AddResult:
        """Add an upload kept by :meth:`hold_upload` (raises :class:`UploadExpired` when it is gone)."""
        return await self.library.add_held(key, on_duplicate=on_duplicate)

    async def remove_song(self, song_id: str) -> Song:
        return await self.library.remove_song(song_id)

    async def get_song(self, song_id: str) -> Song:
        return await self.library.get_song(song_id)

    async def list_songs(self, offset: int = 0, limit: int | None = None) -> list[Song]:
        return await self.library.list_songs(offset, limit)

    async def count_songs(self) -> int:
        return await self.library.count_songs()

    def songs_with_segments(
        self, skipped: list[tuple[Song, str]] | None = None
    ) -> AsyncIterator[tuple[Song, Mapping[str, Segments]]]:
        """Every catalog song re-embedded from its original (:meth:`Library.songs_with_segments`)."""
        return self.library.songs_with_segments(skipped)

    async def reindex(self) -> ReindexResult:
        """Rebuild the vector index and the fingerprints from the catalog's original files."""
        return await self.library.reindex()

    async def clip(
        self, song_id: str, offset_s: float, *, fmt: str | None = None, admitted: bool = False
    ) -> Clip:
        """About ``search.clip_seconds`` of a song, starting a little before ``offset_s``; ``fmt``
        (``ogg`` | ``mp3``) overrides ``search.clip_format`` (:meth:`Library.clip`)."""
        return await self.library.clip(song_id, offset_s, fmt=fmt, admitted=admitted)

    async def song_features(self, name: str, song_id: str) -> np.ndarray | None:
        """A song's stored features for embedder ``name`` (melody: its contour, MIDI/NaN per
        frame; harmony: its chroma), or None when it has none."""
        features = await asyncio.to_thread(self.backends.catalog.load_features, name, [song_id])
        return features.get(song_id)

    # -- search ---------------------------------------------------------------------------
    async def search(self, data: bytes, **options: Unpack[SearchOptions]) -> SearchResponse:
        """Find the songs a recording (hummed, sung or played) comes from (``options``:
        :class:`core.types.SearchOptions`)."""
        return await self.pipeline.search(data, **options)

    def decode_query(self, data: bytes, suffix: str) -> audio_mod.Audio:
        """A query's audio as the search hears it (:meth:`SearchPipeline.decode_query`). CPU work:
        call it off the event loop."""
        return self.pipeline.decode_query(data, suffix)

    def embedder(self, name: str) -> Embedder | None:
        """The embedder called ``name`` (``melody``, ``harmony``, ``panns``), or None when it is off."""
        return self.backends.embedders.get(name)

    async def feedback(
        self, query_id: str, song_id: str | None, correct: bool, user: str | None = None
    ) -> None:
        """A user's verdict on an answer ("not it"), stored for evaluation and /stats."""
        await self.pipeline.feedback(query_id, song_id, correct, user)

    # -- figures --------------------------------------------------------------------------
    async def stats(self) -> ServiceStats:
        return await stats_mod.collect(self.backends, self.notes)

    async def index_stats(self) -> IndexStats:
        """The vector index's own figures (songs, vectors per embedder); raises when it is down."""
        return await self.backends.index.stats()
