"""The stores behind the service and what keeps this process's view of them current.

The catalog (song files, features, the query log), the vector index, the fingerprint store and
the embedders; the data directory's write lock; the versions map (``{version: primary}``) the
search reads; and the poller that catches up with what other processes (the CLI beside
``serve``) wrote to the same data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import numpy as np

from core import audio as audio_mod
from core.catalog import Catalog
from core.embedders.base import Embedder
from core.errors import BackendUnavailable
from core.index.base import VectorIndex
from core.index.fingerprint_base import FingerprintIndex
from core.write_lock import WriteLock

log = logging.getLogger(__name__)

#: Rate all audio is decoded at; each embedder resamples from it to its own rate.
DECODE_RATE = 32000
#: The catalog's feature name of the recording prints (core.same_recording) of its songs.
RECORDING_FEATURES = "recording"
#: How often a running service looks for songs other processes added or removed (s). A search
#: checks first anyway; this keeps the local index's memory fresh between searches.
SYNC_INTERVAL_S = 2.0


def decode(data: bytes, suffix: str, *, max_seconds: float, min_seconds: float) -> audio_mod.Audio:
    """A file's first ``max_seconds`` of audio at :data:`DECODE_RATE`, cleaned
    (:func:`core.audio.clean`: raises when less than ``min_seconds`` of sound is left). CPU work."""
    raw = audio_mod.decode_bytes(data, sample_rate=DECODE_RATE, max_seconds=max_seconds, suffix=suffix)
    return audio_mod.clean(raw, min_seconds=min_seconds)


class Backends:
    """The catalog, the indexes and the embedders, shared by the service's parts.

    ``index`` may be replaced (tests wrap it); every part reads it from here at each use.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        index: VectorIndex,
        embedders: Sequence[Embedder],
        fingerprints: FingerprintIndex | None,
        fingerprint_speeds: tuple[float, ...],
    ) -> None:
        self.catalog = catalog
        self.index = index
        self.fingerprints = fingerprints
        self.fingerprint_speeds = fingerprint_speeds
        self._fingerprints_open = False
        self.embedders = {e.name: e for e in embedders}
        self._groups: dict[str, str] | None = None  # version → primary, cached (see group_map)
        # Other processes (the CLI beside `serve`) write to the same data directory: writes take
        # its lock, and this process catches up when the catalog's generation moves (sync).
        self.write_lock = WriteLock(catalog.root)
        self._generation: int | None = None
        self._syncing = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the index (checking it matches the embedders) and reconcile it with the catalog."""
        await self.index.open({n: e.spec for n, e in self.embedders.items()})
        await self.open_fingerprints()
        await self.reconcile()
        self._generation = await asyncio.to_thread(self.catalog.generation)
        self._poller = asyncio.create_task(self._poll_changes(), name="humbot-sync")

    async def _poll_changes(self) -> None:
        """Catch up every ``SYNC_INTERVAL_S`` with what other processes wrote (searches also check
        first, so an answer never misses a song added before it was asked)."""
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            try:
                await self.sync()
            except Exception:  # a backend that is down now is tried again at the next tick
                log.warning("could not catch up with the catalog's changes", exc_info=True)

    async def sync(self) -> None:
        """Reload what other processes changed in the catalog since this one last looked: the
        index's in-memory vectors (the local backend; Elasticsearch shares its state) and the
        versions map. One SQLite read when nothing changed."""
        async with self._syncing:
            generation = await asyncio.to_thread(self.catalog.generation)
            if generation == self._generation:
                return
            await self.index.refresh()
            self._groups = None
            self._generation = generation

    async def open_fingerprints(self) -> bool:
        """Open the fingerprint store once; like the vector index, a cluster that is down does not
        stop the bot (melody and harmony answer meanwhile) and the next search tries again."""
        if self.fingerprints is None:
            return False
        if not self._fingerprints_open:
            try:
                await self.fingerprints.open()
                self._fingerprints_open = True
            except BackendUnavailable:
                log.warning("fingerprint index unavailable: recordings are searched without it for now")
        return self._fingerprints_open

    async def close(self) -> None:
        """Stop the poller and close the indexes."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.index.close()
        if self.fingerprints is not None:
            await self.fingerprints.close()

    async def reconcile(self) -> None:
        """Undo what an interrupted import left behind: vectors without a catalog row, stray files.

        Under the write lock: another process's import in progress has vectors and no row *yet*.
        """
        async with self.write_lock.held():
            await self._reconcile()

    async def _reconcile(self) -> None:
        known = {s.song_id for s in await asyncio.to_thread(self.catalog.list)}
        try:
            orphans = await self.index.song_ids() - known
        except BackendUnavailable:
            log.warning("index unavailable: reconciliation postponed")
            return
        for song_id in orphans:
            log.warning("removing vectors of %s: no catalog entry (interrupted import)", song_id)
            await self.index.delete(song_id)
        if self.fingerprints is not None and self._fingerprints_open:
            try:
                for song_id in await self.fingerprints.song_ids() - known:
                    log.warning("removing fingerprints of %s: no catalog entry (interrupted import)", song_id)
                    await self.fingerprints.delete(song_id)
            except BackendUnavailable:
                log.warning("fingerprint index unavailable: reconciliation postponed")
        for path in await asyncio.to_thread(self.catalog.stray_files):
            log.warning("removing stray file %s (interrupted import)", path.name)
            path.unlink(missing_ok=True)

    # -- the versions map -----------------------------------------------------------------
    async def group_map(self) -> dict[str, str]:
        """``{version: primary}`` for the search's fusion, read once and again after each add/remove."""
        if self._groups is None:
            self._groups = await asyncio.to_thread(self.catalog.versions_map)
        return self._groups

    def forget_groups(self) -> None:
        """Read the versions map again at its next use (a song was added or removed)."""
        self._groups = None

    # -- audio for the embedders ----------------------------------------------------------
    def by_rate(self, audio: audio_mod.Audio) -> dict[int, np.ndarray]:
        """The samples at each embedder's rate, each rate resampled once (melody and harmony share 16 kHz)."""
        return {
            rate: audio.resampled(rate).samples for rate in {e.sample_rate for e in self.embedders.values()}
        }
