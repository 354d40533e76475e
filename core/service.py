"""The platform-neutral, async hum-to-song service every adapter and the CLI talk to.

Data flows one way: an adapter hands bytes to :class:`HumService`; the service decodes them,
runs the embedders off the event loop, asks the index, fuses and calibrates the results, cuts a
clip and hands back typed values (:mod:`core.types`). Failures a user can act on are
:class:`core.errors.HumbotError`; everything else is a bug and is logged with its traceback.

Concurrency: CPU/GPU work runs on a thread pool of ``limits.workers`` threads; at most
``limits.max_queued`` jobs may wait for it, beyond which requests fail fast with
:class:`core.errors.Busy` ("try again in a moment") rather than queueing without bound. Query
embeddings go through a :class:`core.batching.MicroBatcher`, so queries that arrive together
share one model call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from core import audio as audio_mod
from core import evidence, same_recording
from core import scheduler
from core import fingerprint as fp
from core.batching import MicroBatcher
from core.catalog import Catalog, new_song, sha256_of
from core.embedders.base import Embedder
from core.errors import BackendUnavailable, Busy, HumbotError, IndexMismatch, SongNotFound, UploadExpired
from core.fusion import convincing, fuse
from core.fingerprint.matching import ACCEPTED_CONFIDENCE, accepted
from core.index.base import VectorIndex
from core.index.fingerprint_base import FingerprintIndex, FingerprintMatch
from core.pending import HeldUpload, PendingUploads
from core.settings import Gate, LimitsConfig, SearchConfig
from core.text import clean_label
from core.write_lock import WriteLock
from core.types import (
    AddResult,
    Clip,
    IndexHit,
    IndexStats,
    ReindexResult,
    SearchFilter,
    SearchResponse,
    SearchResult,
    Segments,
    Song,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Rate all audio is decoded at; each embedder resamples from it to its own rate.
DECODE_RATE = 32000
#: The catalog's feature name of the recording prints (core.same_recording) of its songs.
RECORDING_FEATURES = "recording"
#: What an import does with a file that is the same recording as a catalog song.
ON_DUPLICATE = ("skip", "version")
#: Vectors of a new song sent to the index to find its twin, spread over the song (a trimmed copy's
#: windows are inside the original's), and the best songs they find, verified with the print.
#: A copy's windows are the same audio as its twin's, so the twin leads the index's answer; 5
#: candidates are headroom (a comparison costs ~0.07 s for 4-minute songs, BENCHMARKS.md §4).
DUPLICATE_PROBES = 8
DUPLICATE_CANDIDATES = 5
#: How often a running service looks for songs other processes added or removed (s). A search
#: checks first anyway; this keeps the local index's memory fresh between searches.
SYNC_INTERVAL_S = 2.0
#: The title of a song whose title, tags and file name are all empty once cleaned.
UNTITLED = "Untitled"


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


def _one_per_recording(hits: list[IndexHit], groups: Mapping[str, str]) -> list[IndexHit]:
    """One hit per group of versions, in the order of each group's best: the primary's own hit
    where the index returned it (every embedder then names the same song, so fusion adds their
    evidence up instead of splitting it between a song and its copy), else the best version's."""
    by_group: dict[str, list[IndexHit]] = {}
    for h in hits:
        by_group.setdefault(groups.get(h.song_id, h.song_id), []).append(h)
    return [next((h for h in members if h.song_id == g), members[0]) for g, members in by_group.items()]


async def _none() -> None:
    return None


def _versions_of(song_id: str, groups: Mapping[str, str]) -> tuple[str, ...]:
    """The other songs of ``song_id``'s group (``groups``: version → primary), primary first."""
    primary = groups.get(song_id, song_id)
    members = [primary, *sorted(v for v, p in groups.items() if p == primary)]
    return tuple(m for m in members if m != song_id)


class HumService:
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
        self.catalog = catalog
        self.index = index
        self.fingerprints = fingerprints
        self.fingerprint_speeds = fingerprint_speeds
        self._fingerprints_open = False
        self.embedders = {e.name: e for e in embedders}
        self.search_cfg = search
        self.limits = limits
        self.notes = list(notes)
        # Jobs of the oldest request first, so answers come back in arrival order (core.scheduler).
        self._pool = scheduler.PriorityPool(limits.workers, name="humbot-work")
        self._waiting = 0
        self.pending = PendingUploads(catalog.root / "pending")
        self._groups: dict[str, str] | None = None  # version → primary, cached (see _group_map)
        # Other processes (the CLI beside `serve`) write to the same data directory: writes take
        # its lock, and this process catches up when the catalog's generation moves (_sync).
        self.write_lock = WriteLock(catalog.root)
        self._generation: int | None = None
        self._syncing = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._batchers = {
            e.name: MicroBatcher(
                e.embed_queries_full, partial(self._run, admitted=True), max_batch=8, max_wait_s=0.02
            )
            for e in embedders
        }

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the index (checking it matches the embedders) and reconcile it with the catalog."""
        await self.index.open({n: e.spec for n, e in self.embedders.items()})
        await self._open_fingerprints()
        await self.reconcile()
        self._generation = await asyncio.to_thread(self.catalog.generation)
        self._poller = asyncio.create_task(self._poll_changes(), name="humbot-sync")

    async def _poll_changes(self) -> None:
        """Catch up every ``SYNC_INTERVAL_S`` with what other processes wrote (searches also check
        first, so an answer never misses a song added before it was asked)."""
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            try:
                await self._sync()
            except Exception:  # a backend that is down now is tried again at the next tick
                log.warning("could not catch up with the catalog's changes", exc_info=True)

    async def _sync(self) -> None:
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

    async def _open_fingerprints(self) -> bool:
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
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.index.close()
        if self.fingerprints is not None:
            await self.fingerprints.close()
        self._pool.shutdown(wait=True)

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

    # -- work scheduling ------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any, admitted: bool = False) -> T:
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
            return await asyncio.wrap_future(self._pool.submit(scheduler.current(), fn, *args))
        finally:
            self._waiting -= 1

    def check_upload_size(self, size_bytes: int | None) -> None:
        """Adapters call this with the platform's announced size *before* downloading."""
        if size_bytes is not None:
            audio_mod.check_size(size_bytes, self.limits.max_upload_mb)

    # -- catalog --------------------------------------------------------------------------
    def _by_rate(self, audio: audio_mod.Audio) -> dict[int, np.ndarray]:
        """The samples at each embedder's rate, each rate resampled once (melody and harmony share 16 kHz)."""
        return {
            rate: audio.resampled(rate).samples for rate in {e.sample_rate for e in self.embedders.values()}
        }

    def _embed_song(self, samples32k: np.ndarray) -> dict[str, Segments]:
        by_rate = self._by_rate(audio_mod.Audio(samples32k, DECODE_RATE))
        return {n: e.embed_song(by_rate[e.sample_rate]) for n, e in self.embedders.items()}

    @staticmethod
    def _landmarks(samples32k: np.ndarray) -> fp.Landmarks:
        return fp.landmarks_of(audio_mod.Audio(samples32k, DECODE_RATE).resampled(fp.SAMPLE_RATE).samples)

    def _decode_song(self, data: bytes, suffix: str) -> audio_mod.Audio:
        raw = audio_mod.decode_bytes(
            data, sample_rate=DECODE_RATE, max_seconds=self.limits.max_song_seconds, suffix=suffix
        )
        return audio_mod.clean(raw, min_seconds=self.limits.min_query_seconds)

    @scheduler.request("import")
    async def add_song(
        self,
        data: bytes,
        *,
        filename: str,
        title: str | None = None,
        artist: str | None = None,
        added_by: str | None = None,
        genre: str | None = None,
        on_duplicate: str = "skip",
    ) -> AddResult:
        """Store, embed and index a song. Idempotent: the same bytes give the same song back.

        A file that is the same *recording* as a catalog song (a re-encode, another gain or
        sample rate, trimmed, padded, remastered: :mod:`core.same_recording`) is, with
        ``on_duplicate``:

        - ``"skip"`` (default): not stored; ``AddResult(that song, created=False, duplicate_of=that song)``;
        - ``"version"``: stored and indexed as a version of it (``version_of``: its primary), which
          searches answer together with it; ``AddResult(new song, created=True, duplicate_of=that song)``.
        """
        if on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}, not {on_duplicate!r}")
        self.check_upload_size(len(data))
        sha = sha256_of(data)
        existing = await asyncio.to_thread(self.catalog.get_by_sha, sha)
        if existing is not None:
            return AddResult(existing, created=False)
        suffix = Path(filename).suffix.lower()[:10]
        decoded = await self._run(self._decode_song, data, suffix)
        segments, rec, landmarks = await asyncio.gather(
            self._run(self._embed_song, decoded.samples, admitted=True),
            self._run(same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True),
            self._run(self._landmarks, decoded.samples, admitted=True) if self.fingerprints else _none(),
        )
        # Everything from here to the catalog row runs under the data directory's write lock, so
        # two processes importing one file (or copies of one recording) at once cannot both add
        # it, and no process's start-up clean-up takes this import for debris (core.write_lock).
        async with self.write_lock.held():
            await self._sync()  # see what other processes added meanwhile
            existing = await asyncio.to_thread(self.catalog.get_by_sha, sha)
            if existing is not None:
                return AddResult(existing, created=False)
            twin = await self._same_recording_as(rec, segments)
            if twin is not None and on_duplicate == "skip":
                log.info("not adding %r: the same recording as %s %r", filename, twin.song_id, twin.title)
                return AddResult(twin, created=False, duplicate_of=twin)
            song = new_song(
                sha256=sha,
                ext=suffix,
                title=clean_label(title) or clean_label(Path(filename).stem) or UNTITLED,
                artist=clean_label(artist),
                genre=clean_label(genre),
                duration_s=decoded.file_duration_s,
                start_s=decoded.start_s,
                indexed_s=decoded.duration_s,
                source_name=clean_label(Path(filename).name) or UNTITLED,
                added_by=added_by,
                version_of=(twin.version_of or twin.song_id) if twin is not None else None,
            )
            await self._commit_song(song, data, segments, rec, landmarks)
        log.info(
            "added song %s %r (%.0f s of %.0f s from %.1f s)%s",
            song.song_id,
            song.title,
            song.indexed_s,
            song.duration_s,
            song.start_s,
            f" as a version of {song.version_of}" if song.version_of else "",
        )
        if decoded.truncated:
            log.warning(
                "song %s: only the first %.0f s of %.0f s were indexed (limits.max_song_seconds)",
                song.song_id,
                self.limits.max_song_seconds,
                song.duration_s,
            )
        return AddResult(song, created=True, duplicate_of=twin, truncated=decoded.truncated)

    async def _commit_song(
        self,
        song: Song,
        data: bytes,
        segments: Mapping[str, Segments],
        rec: same_recording.RecordingPrint,
        landmarks: fp.Landmarks | None,
    ) -> None:
        """Store a new song's file, features, vectors and fingerprints, then its catalog row.

        Order matters for crash safety: file, then vectors, then the catalog row (the commit).
        """
        await asyncio.to_thread(self.catalog.store_file, data, song.sha256, song.ext)
        await self._store_features(song.song_id, segments)
        await asyncio.to_thread(self.catalog.store_features, RECORDING_FEATURES, song.song_id, rec.to_array())
        await self.index.upsert(song, segments)
        if self.fingerprints is not None and landmarks is not None:
            try:
                if not await self._open_fingerprints():
                    raise BackendUnavailable()
                await self.fingerprints.add(song.song_id, landmarks)
            except BackendUnavailable:  # melody and harmony still find it; `humbot reindex` adds these
                log.warning(
                    "fingerprints of %s not stored: index unavailable (run `humbot reindex` later)",
                    song.song_id,
                )
        await asyncio.to_thread(self.catalog.add, song)
        self._groups = None

    async def _same_recording_as(
        self, rec: same_recording.RecordingPrint, segments: Mapping[str, Segments]
    ) -> Song | None:
        """The catalog song ``rec`` is the same recording as (the most similar one), or None.

        Candidates come from the index, asked with a few of the new song's own vectors (harmony's
        when there are any: a copy's chroma windows match the original's almost exactly), and
        each is verified with the recording prints.
        """
        name = next((n for n in ("harmony", "melody", *segments) if n in segments and len(segments[n])), None)
        if name is None:
            return None
        seg = segments[name]
        rows = np.unique(np.linspace(0, len(seg) - 1, min(len(seg), DUPLICATE_PROBES)).round().astype(int))
        try:
            hits = await self.index.search(name, seg.vectors[rows], DUPLICATE_CANDIDATES, None)
        except BackendUnavailable:  # the upsert queues; the check cannot wait for the cluster
            log.warning("index unavailable: import not checked for copies of catalog songs")
            return None
        songs = await asyncio.to_thread(self.catalog.get_many, [h.song_id for h in hits])
        best: tuple[float, Song] | None = None
        for hit in hits:
            song = songs.get(hit.song_id)
            other = await self._recording_print(song) if song is not None else None
            if other is None:
                continue
            match = await self._run(same_recording.compare, rec, other, admitted=True)
            log.debug(
                "same recording as %s? similarity %.3f at %+.1f s",
                hit.song_id,
                match.similarity,
                match.offset_s,
            )
            if same_recording.is_same(match, rec.duration_s, other.duration_s) and (
                best is None or match.similarity > best[0]
            ):
                best = (match.similarity, song)
        return best[1] if best else None

    async def _recording_print(self, song: Song) -> same_recording.RecordingPrint | None:
        """A catalog song's stored print; made once (and stored) for songs imported before prints."""
        stored = await asyncio.to_thread(self.catalog.load_features, RECORDING_FEATURES, [song.song_id])
        rec = (
            same_recording.RecordingPrint.from_array(stored[song.song_id]) if song.song_id in stored else None
        )
        if rec is not None:
            return rec
        path = self.catalog.file_path(song.sha256, song.ext)
        try:
            data = await asyncio.to_thread(path.read_bytes)
            decoded = await self._run(self._decode_song, data, song.ext, admitted=True)
        except (OSError, HumbotError) as e:
            log.warning("no recording print for %s: %s", song.song_id, e)
            return None
        rec = await self._run(same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True)
        await asyncio.to_thread(self.catalog.store_features, RECORDING_FEATURES, song.song_id, rec.to_array())
        return rec

    # -- uploads held for an admin's decision ("Keep as a version") ---------------------------
    async def hold_upload(
        self,
        data: bytes,
        *,
        filename: str,
        title: str | None = None,
        artist: str | None = None,
        added_by: str | None = None,
        genre: str | None = None,
    ) -> str:
        """Keep an upload (a duplicate an admin may still want) on disk; returns the key for :meth:`add_held`."""
        meta = HeldUpload(filename, title, artist, genre, added_by, time.time())
        return await asyncio.to_thread(self.pending.hold, data, sha256_of(data), meta)

    async def add_held(self, key: str, *, on_duplicate: str = "version") -> AddResult:
        """Add an upload kept by :meth:`hold_upload` (raises :class:`UploadExpired` when it is gone)."""
        held = await asyncio.to_thread(self.pending.get, key)
        if held is None:
            raise UploadExpired()
        data, meta = held
        result = await self.add_song(
            data,
            filename=meta.filename,
            title=meta.title,
            artist=meta.artist,
            added_by=meta.added_by,
            genre=meta.genre,
            on_duplicate=on_duplicate,
        )
        await asyncio.to_thread(self.pending.drop, key)
        return result

    async def _group_map(self) -> dict[str, str]:
        """``{version: primary}`` for the search's fusion, read once and again after each add/remove."""
        if self._groups is None:
            self._groups = await asyncio.to_thread(self.catalog.versions_map)
        return self._groups

    async def _store_features(self, song_id: str, segments: Mapping[str, Segments]) -> None:
        for name, seg in segments.items():
            if seg.features is not None:
                await asyncio.to_thread(self.catalog.store_features, name, song_id, seg.features)

    async def remove_song(self, song_id: str) -> Song:
        async with self.write_lock.held():
            song = await asyncio.to_thread(self.catalog.get, song_id)
            if song is None:
                raise SongNotFound(song_id=song_id)
            await self.index.delete(song_id)
            if self.fingerprints is not None and await self._open_fingerprints():
                try:
                    await self.fingerprints.delete(song_id)
                except BackendUnavailable:  # removed at the next start (reconcile), like orphan vectors
                    log.warning("fingerprints of %s not removed yet: index unavailable", song_id)
            await asyncio.to_thread(self.catalog.remove, song_id)
            self._groups = None
        log.info("removed song %s", song_id)
        return song

    async def get_song(self, song_id: str) -> Song:
        song = await asyncio.to_thread(self.catalog.get, song_id)
        if song is None:
            raise SongNotFound(song_id=song_id)
        return song

    async def list_songs(self, offset: int = 0, limit: int | None = None) -> list[Song]:
        return await asyncio.to_thread(self.catalog.list, offset, limit)

    async def count_songs(self) -> int:
        return await asyncio.to_thread(self.catalog.count)

    async def _reembedded(self, song: Song, skipped: list[tuple[Song, str]]) -> Mapping[str, Segments] | None:
        """A catalog song embedded again from its original, its features, print, landmarks and
        timing stored as it goes; None (and the reason in ``skipped``) when the original is missing
        or cannot be decoded: one lost file must not stop the rebuild of every other song."""
        path = self.catalog.file_path(song.sha256, song.ext)
        try:
            data = await asyncio.to_thread(path.read_bytes)
            decoded = await self._run(self._decode_song, data, song.ext, admitted=True)
        except FileNotFoundError:
            if await asyncio.to_thread(self.catalog.get, song.song_id) is None:
                return None  # removed by another process while this one rebuilt: nothing to report
            skipped.append((song, "original file missing"))
            log.warning("reindex: skipping %s %r: its original %s is missing", song.song_id, song.title, path)
            return None
        except (OSError, HumbotError) as e:
            skipped.append((song, str(e)))
            log.warning("reindex: skipping %s %r: %s", song.song_id, song.title, e)
            return None
        segments = await self._run(self._embed_song, decoded.samples, admitted=True)
        await self._store_features(song.song_id, segments)
        rec = await self._run(same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True)
        await asyncio.to_thread(self.catalog.store_features, RECORDING_FEATURES, song.song_id, rec.to_array())
        await asyncio.to_thread(
            self.catalog.set_timing,
            song.song_id,
            duration_s=decoded.file_duration_s,
            start_s=decoded.start_s,
            indexed_s=decoded.duration_s,
        )
        if self.fingerprints is not None:  # each song's landmarks replaced as it goes (one decoding)
            await self.fingerprints.add(
                song.song_id, await self._run(self._landmarks, decoded.samples, admitted=True)
            )
        return segments

    async def songs_with_segments(
        self,
        skipped: list[tuple[Song, str]] | None = None,
    ) -> AsyncIterator[tuple[Song, Mapping[str, Segments]]]:
        """Every catalog song re-embedded from its original (for ``reindex``); songs that cannot
        be are left out and listed in ``skipped``."""
        skipped = [] if skipped is None else skipped
        for song in await self.list_songs():
            segments = await self._reembedded(song, skipped)
            if segments is not None:
                yield song, segments

    async def reindex(self) -> ReindexResult:
        """Rebuild the vector index and the fingerprints from the catalog's original files.

        Other processes may add and remove songs meanwhile (``serve`` keeps running): their
        writes go to the index being replaced, so once the new one is live a catch-up under the
        write lock adds the songs it lacks and drops those the catalog no longer has.
        """
        if self.fingerprints is not None:
            try:
                await self.fingerprints.open()
            except IndexMismatch:  # hashes of another landmark layout: nothing in them is reusable
                await self.fingerprints.reset()
        skipped: list[tuple[Song, str]] = []
        n = await self.index.rebuild(
            {n: e.spec for n, e in self.embedders.items()}, self.songs_with_segments(skipped)
        )
        async with self.write_lock.held():
            n += await self._catch_up(skipped)
            await asyncio.to_thread(self.catalog.touch)  # every running process reloads the new index
        return ReindexResult(n, tuple(skipped))

    async def _catch_up(self, skipped: list[tuple[Song, str]]) -> int:
        """Make the index hold exactly the catalog's songs again; the number of songs added."""
        known = {s.song_id: s for s in await self.list_songs()}
        have = await self.index.song_ids()
        for song_id in have - known.keys():
            log.info("reindex: dropping %s, removed while the index was rebuilt", song_id)
            await self.index.delete(song_id)
        given_up = {s.song_id for s, _ in skipped}
        added = 0
        for song_id in sorted(known.keys() - have - given_up):
            log.info("reindex: adding %s, added while the index was rebuilt", song_id)
            segments = await self._reembedded(known[song_id], skipped)
            if segments is not None:
                await self.index.upsert(known[song_id], segments)
                added += 1
        if self.fingerprints is not None:
            for song_id in await self.fingerprints.song_ids() - known.keys():
                await self.fingerprints.delete(song_id)
        return added

    # -- search ---------------------------------------------------------------------------
    def _decode_query(self, data: bytes, suffix: str) -> audio_mod.Audio:
        raw = audio_mod.decode_bytes(
            data, sample_rate=DECODE_RATE, max_seconds=self.limits.max_query_seconds, suffix=suffix
        )
        return audio_mod.clean(raw, min_seconds=self.limits.min_query_seconds)

    @scheduler.request("search")
    async def search(
        self,
        data: bytes,
        *,
        filename: str = "query",
        top_k: int | None = None,
        with_clip: bool = True,
        source: str = "api",
        filters: SearchFilter | None = None,
    ) -> SearchResponse:
        """Find the songs a recording (hummed, sung or played) comes from."""
        top_k = top_k or self.search_cfg.top_k
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.check_upload_size(len(data))
        query = await self._run(self._decode_query, data, Path(filename).suffix.lower()[:10])
        t1 = time.perf_counter()
        timings["decode"] = (t1 - t0) * 1000

        by_rate = await self._run(self._by_rate, query, admitted=True)
        # Each embedder's path (embed → search → re-rank) runs on its own: melody can search and
        # re-rank while PANNs is still embedding, instead of every path waiting for the slowest
        # at each step. Stage timings are therefore the slowest path's, and overlap. The query's
        # melodic evidence is measured beside them.
        await self._sync()  # songs another process added or removed since the last look
        groups = await self._group_map()  # versions of one recording are one answer
        heard, recognised, *paths = await asyncio.gather(
            self._run(self._evidence, query, by_rate, admitted=True),
            self._fingerprint_path(query, filters),
            *(
                self._search_path(name, by_rate[e.sample_rate], filters, groups)
                for name, e in self.embedders.items()
            ),
        )
        hits = {name: found for name, found, _ in paths if found}
        for stage in ("embed", "search", "rerank"):
            timings[stage] = max(stage_ms.get(stage, 0.0) for _, _, stage_ms in paths)
        t3 = time.perf_counter()

        # The confidence weighs the catalog's size: a chance match is likelier among more songs.
        n_songs = (
            len(filters.song_ids) if filters and filters.song_ids is not None else await self.count_songs()
        )
        fused = fuse(hits, self.search_cfg.weights, self.search_cfg.gates, n_songs=n_songs, group_of=groups)
        # A query with no tune in it (a held note, speech, drums…) is never a confident answer,
        # unless a gated path (harmony) found a recording of the song itself by a wide margin:
        # its fingerprint is evidence of its own, and a phone recording of a band can be a poor
        # single voice. (A held note's chroma can pass the ordinary gate: hence the wider one.)
        recording = {
            n: Gate(score=g.score, margin=max(g.margin, evidence.RECORDING_MARGIN))
            for n, g in self.search_cfg.gates.items()
        }
        reason = None if convincing(hits, recording, groups) else evidence.judge(heard)
        factor = evidence.NO_TUNE_FACTOR if reason else 1.0
        versions = {f.song_id: _versions_of(f.song_id, groups) for f in fused[:top_k]}
        songs = await asyncio.to_thread(
            self.catalog.get_many, [i for f in fused[:top_k] for i in (f.song_id, *versions[f.song_id])]
        )
        # Offsets were measured on each song's indexed audio: + its lead-in = the file's time.
        results = [
            SearchResult(
                songs[f.song_id],
                f.score,
                f.confidence * factor,
                songs[f.song_id].start_s + f.offset_s,
                f.scores,
                tuple(songs[v] for v in versions[f.song_id] if v in songs),
            )
            for f in fused[:top_k]
            if f.song_id in songs
        ]
        if recognised is not None:
            missing = [
                i for i in (recognised.song_id, *_versions_of(recognised.song_id, groups)) if i not in songs
            ]
            if missing:
                songs = {**songs, **await asyncio.to_thread(self.catalog.get_many, missing)}
            results = self._recognised_first(recognised, results, songs, groups, filters, top_k)
            if results and results[0].song.song_id == recognised.song_id:
                reason = None  # a recording of the song itself: its tune needs no judging
        match = bool(results) and results[0].confidence >= self.search_cfg.match_threshold
        if results and not match and reason is None:
            reason = evidence.NOT_IN_CATALOG
        clip = None
        if with_clip and results:
            clip = await self.clip(results[0].song.song_id, results[0].offset_s, admitted=True)
        timings["clip"] = (time.perf_counter() - t3) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        query_id = uuid.uuid4().hex[:12]
        top = results[0] if results else None
        await asyncio.to_thread(
            self.catalog.log_query,
            query_id,
            source,
            top.song.song_id if top else None,
            match,
            top.confidence if top else None,
        )
        return SearchResponse(
            query_id,
            results,
            match,
            query.duration_s,
            query.truncated,
            clip,
            timings,
            reason=reason,
            evidence=heard,
            standing=fused[0].standing if fused else None,
        )

    async def _fingerprint_path(
        self, query: audio_mod.Audio, filters: SearchFilter | None
    ) -> FingerprintMatch | None:
        """The song a query is a recording of, by its landmarks — or None (also without a fingerprint index)."""
        if not await self._open_fingerprints():
            return None
        variants = await self._run(self._query_landmarks, query, admitted=True)
        ids = filters.song_ids if filters else None
        try:
            # The song's own speed first: most recordings are answered by it alone. The other
            # speeds (4× the lookups) only for what it did not answer (BENCHMARKS.md §6).
            for batch in (variants[:1], variants[1:]):
                if not batch:
                    break
                found = await self.fingerprints.search(batch, top_k=10, song_ids=ids)
                hit = accepted([f.hit for f in found])
                if hit is not None:
                    return next(f for f in found if f.hit is hit)
        except BackendUnavailable:  # the other paths still answer
            log.warning("fingerprint index unavailable: searching without it")
        return None

    def _query_landmarks(self, query: audio_mod.Audio) -> list[tuple[float, fp.Landmarks]]:
        return fp.query_variants(query.resampled(fp.SAMPLE_RATE).samples, self.fingerprint_speeds)

    @staticmethod
    def _recognised_first(
        recognised: FingerprintMatch,
        results: list[SearchResult],
        songs: Mapping[str, Song],
        groups: Mapping[str, str],
        filters: SearchFilter | None,
        top_k: int,
    ) -> list[SearchResult]:
        """``results`` with the fingerprint's song first, where its alignment puts the query.

        The landmarks decide a recording of the song itself (``ACCEPTED_CONFIDENCE``: every accepted
        alignment named the right song on the fit split); the song's versions stay one answer, and
        every other song is left at most what the answer leaves (``1 − confidence``).
        """
        song = songs.get(recognised.song_id)
        if song is None or (
            filters is not None and not filters.admits(song.song_id, song.artist, song.genre)
        ):
            return results
        group = groups.get(song.song_id, song.song_id)
        same = next((r for r in results if groups.get(r.song.song_id, r.song.song_id) == group), None)
        confidence = max(ACCEPTED_CONFIDENCE, same.confidence if same else 0.0)
        top = SearchResult(
            song,
            same.score if same else 0.0,
            confidence,
            song.start_s + recognised.hit.offset_s,
            {**(same.scores if same else {}), "fingerprint": float(recognised.hit.aligned)},
            tuple(songs[v] for v in _versions_of(song.song_id, groups) if v in songs),
        )
        others = [
            dataclasses.replace(r, confidence=min(r.confidence, 1.0 - confidence))
            for r in results
            if r is not same
        ]
        return [top, *others][:top_k]

    @staticmethod
    def _evidence(query: audio_mod.Audio, by_rate: Mapping[int, np.ndarray]) -> evidence.QueryEvidence:
        rate = evidence.SAMPLE_RATE
        return evidence.measure(by_rate[rate] if rate in by_rate else query.resampled(rate).samples)

    async def _search_path(
        self, name: str, samples: np.ndarray, filters: SearchFilter | None, groups: Mapping[str, str]
    ) -> tuple[str, list[IndexHit], dict[str, float]]:
        """One embedder's candidates for a query: embed, first stage, then its re-ranking if any.

        The first stage's ``search.candidates`` are distinct *recordings*: a song's versions score
        like it and would each take a candidate's place (with every song of the 300-song
        evaluation set imported twice, 150 candidates were 75 songs, and top-1 fell 95.0 → 93.3 %),
        so the index is asked for as many more as there are versions and each group keeps its best.
        """
        stage_ms: dict[str, float] = {}
        t = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            stage_ms[stage], t = (now - t) * 1000, now

        vecs, qfeat = await self._batchers[name].submit(samples)
        lap("embed")
        if not len(vecs):
            return name, [], stage_ms
        k = self.search_cfg.candidates
        hits = await self.index.search(name, vecs, k + len(groups), filters)
        hits = _one_per_recording(hits, groups)[:k] if groups else hits
        lap("search")
        if self.embedders[name].reranks and qfeat is not None and hits:
            hits = await self._rerank(name, qfeat, hits)
            lap("rerank")
        return name, hits, stage_ms

    async def _rerank(self, name: str, qfeat: np.ndarray, hits: list[IndexHit]) -> list[IndexHit]:
        """Second stage: precise scores and offsets for the first stage's best candidates."""
        top = hits[: self.search_cfg.rerank_candidates]
        feats = await asyncio.to_thread(self.catalog.load_features, name, [h.song_id for h in top])
        top = [h for h in top if h.song_id in feats]
        scored = await self._run(
            self.embedders[name].rerank, qfeat, [(feats[h.song_id], h.offset_s) for h in top], admitted=True
        )
        out = [IndexHit(h.song_id, float(score), float(offset)) for h, (score, offset) in zip(top, scored)]
        return sorted(out, key=lambda h: (-h.score, h.song_id))

    async def clip(
        self, song_id: str, offset_s: float, *, fmt: str | None = None, admitted: bool = False
    ) -> Clip:
        """About ``search.clip_seconds`` of a song, starting a little before ``offset_s``.

        ``fmt`` (``ogg`` | ``mp3``) overrides ``search.clip_format`` for a platform that needs one
        format: Telegram's music player (sendAudio) only takes MP3/M4A. [added for the Telegram adapter]
        """
        song = await self.get_song(song_id)
        length = self.search_cfg.clip_seconds
        start = max(0.0, min(offset_s - 2.0, song.duration_s - length))
        fmt = fmt or self.search_cfg.clip_format
        path = self.catalog.file_path(song.sha256, song.ext)
        data = await self._run(
            lambda: audio_mod.encode_clip(path, start_s=start, duration_s=length, fmt=fmt), admitted=admitted
        )
        mime = audio_mod.CLIP_CODECS[fmt][1]
        return Clip(
            data,
            mime,
            f"{song.title[:60]}.{fmt}",
            start,
            min(length, song.duration_s - start),
            song.title,
            song.artist,
        )

    async def feedback(
        self, query_id: str, song_id: str | None, correct: bool, user: str | None = None
    ) -> None:
        """A user's verdict on an answer ("not it"), stored for evaluation and /stats."""
        await asyncio.to_thread(self.catalog.add_feedback, query_id, song_id, correct, user)

    async def stats(self) -> ServiceStats:
        usage = await asyncio.to_thread(self.catalog.usage)
        try:
            index = await self.index.stats()
        except HumbotError as e:
            index = IndexStats(self.index.backend, 0, {}, False, str(e))
        return ServiceStats(
            songs=await self.count_songs(),
            index=index,
            embedders=list(self.embedders),
            notes=self.notes,
            **usage,
        )
