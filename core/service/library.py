"""The library of songs: import (with its check for copies of catalog songs), removal, listing,
the rebuild of the indexes from the originals, uploads held for an admin's decision, and clips.

An import stores the file, then its features and vectors, then the catalog row (the commit), under
the data directory's write lock (:mod:`core.write_lock`); CPU work runs on the worker pool
(:class:`~core.service.admission.Admission`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Unpack

import numpy as np

from core import audio as audio_mod
from core import fingerprint as fp
from core import same_recording, scheduler
from core.catalog import new_song, sha256_of
from core.errors import BackendUnavailable, HumbotError, IndexMismatch, SongNotFound, UploadExpired
from core.pending import HeldUpload, PendingUploads
from core.service.admission import Admission
from core.service.backends import DECODE_RATE, RECORDING_FEATURES, Backends, decode
from core.settings import SearchConfig
from core.text import clean_label
from core.types import AddResult, Clip, ReindexResult, Segments, Song, Upload

log = logging.getLogger(__name__)

#: What an import does with a file that is the same recording as a catalog song.
ON_DUPLICATE = ("skip", "version")
#: Vectors of a new song sent to the index to find its twin, spread over the song (a trimmed copy's
#: windows are inside the original's), and the best songs they find, verified with the print.
#: A copy's windows are the same audio as its twin's, so the twin leads the index's answer; 5
#: candidates are headroom (a comparison costs ~0.07 s for 4-minute songs, BENCHMARKS.md §4).
DUPLICATE_PROBES = 8
DUPLICATE_CANDIDATES = 5
#: The title of a song whose title, tags and file name are all empty once cleaned.
UNTITLED = "Untitled"


async def _none() -> None:
    return None


class Library:
    """The catalog's songs: add, remove, list, reindex, held uploads and clips."""

    def __init__(self, backends: Backends, admission: Admission, search: SearchConfig) -> None:
        self.backends = backends
        self.catalog = backends.catalog  # never replaced (the index may be: read it from backends)
        self.admission = admission
        self.search_cfg = search
        self.pending = PendingUploads(backends.catalog.root / "pending")

    # -- decoding and embedding a song (jobs for the worker pool) -------------------------------
    def embed_song(self, samples32k: np.ndarray) -> dict[str, Segments]:
        """Every embedder's segments of a song; ``samples32k``: (n,) float32 at ``DECODE_RATE`` Hz."""
        by_rate = self.backends.by_rate(audio_mod.Audio(samples32k, DECODE_RATE))
        return {n: e.embed_song(by_rate[e.sample_rate]) for n, e in self.backends.embedders.items()}

    @staticmethod
    def landmarks(samples32k: np.ndarray) -> fp.Landmarks:
        """A song's landmarks (:mod:`core.fingerprint`); ``samples32k``: (n,) float32 at ``DECODE_RATE`` Hz."""
        return fp.landmarks_of(audio_mod.Audio(samples32k, DECODE_RATE).resampled(fp.SAMPLE_RATE).samples)

    def decode_song(self, data: bytes, suffix: str) -> audio_mod.Audio:
        """A song file's audio at ``DECODE_RATE``, its first ``limits.max_song_seconds`` cleaned."""
        limits = self.admission.limits
        return decode(data, suffix, max_seconds=limits.max_song_seconds, min_seconds=limits.min_query_seconds)

    # -- import --------------------------------------------------------------------------
    @scheduler.request("import")
    async def add_song(
        self, data: bytes, *, on_duplicate: str = "skip", **upload: Unpack[Upload]
    ) -> AddResult:
        """Store, embed and index a song (``upload``: its file name and what the uploader said
        about it, :class:`core.types.Upload`). Idempotent: the same bytes give the same song back.

        A file that is the same *recording* as a catalog song (a re-encode, another gain or
        sample rate, trimmed, padded, remastered: :mod:`core.same_recording`) is, with
        ``on_duplicate``:

        - ``"skip"`` (default): not stored; ``AddResult(that song, created=False, duplicate_of=that song)``;
        - ``"version"``: stored and indexed as a version of it (``version_of``: its primary), which
          searches answer together with it; ``AddResult(new song, created=True, duplicate_of=that song)``.
        """
        if on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}, not {on_duplicate!r}")
        self.admission.check_upload_size(len(data))
        filename = upload["filename"]
        sha = sha256_of(data)
        existing = await asyncio.to_thread(self.catalog.get_by_sha, sha)
        if existing is not None:
            return AddResult(existing, created=False)
        suffix = Path(filename).suffix.lower()[:10]
        decoded = await self.admission.run(self.decode_song, data, suffix)
        segments, rec, landmarks = await asyncio.gather(
            self.admission.run(self.embed_song, decoded.samples, admitted=True),
            self.admission.run(same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True),
            self.admission.run(self.landmarks, decoded.samples, admitted=True)
            if self.backends.fingerprints
            else _none(),
        )
        # Everything from here to the catalog row runs under the data directory's write lock, so
        # two processes importing one file (or copies of one recording) at once cannot both add
        # it, and no process's start-up clean-up takes this import for debris (core.write_lock).
        async with self.backends.write_lock.held():
            await self.backends.sync()  # see what other processes added meanwhile
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
                title=clean_label(upload.get("title")) or clean_label(Path(filename).stem) or UNTITLED,
                artist=clean_label(upload.get("artist")),
                genre=clean_label(upload.get("genre")),
                duration_s=decoded.file_duration_s,
                start_s=decoded.start_s,
                indexed_s=decoded.duration_s,
                source_name=clean_label(Path(filename).name) or UNTITLED,
                added_by=upload.get("added_by"),
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
                self.admission.limits.max_song_seconds,
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
        await self.backends.index.upsert(song, segments)
        if self.backends.fingerprints is not None and landmarks is not None:
            try:
                if not await self.backends.open_fingerprints():
                    raise BackendUnavailable()
                await self.backends.fingerprints.add(song.song_id, landmarks)
            except BackendUnavailable:  # melody and harmony still find it; `humbot reindex` adds these
                log.warning(
                    "fingerprints of %s not stored: index unavailable (run `humbot reindex` later)",
                    song.song_id,
                )
        await asyncio.to_thread(self.catalog.add, song)
        self.backends.forget_groups()

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
            hits = await self.backends.index.search(name, seg.vectors[rows], DUPLICATE_CANDIDATES, None)
        except BackendUnavailable:  # the upsert queues; the check cannot wait for the cluster
            log.warning("index unavailable: import not checked for copies of catalog songs")
            return None
        songs = await asyncio.to_thread(self.catalog.get_many, [h.song_id for h in hits])
        best: tuple[float, Song] | None = None
        for hit in hits:
            song = songs.get(hit.song_id)
            if song is None:
                continue
            other = await self._recording_print(song)
            if other is None:
                continue
            match = await self.admission.run(same_recording.compare, rec, other, admitted=True)
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
            decoded = await self.admission.run(self.decode_song, data, song.ext, admitted=True)
        except (OSError, HumbotError) as e:
            log.warning("no recording print for %s: %s", song.song_id, e)
            return None
        rec = await self.admission.run(
            same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True
        )
        await asyncio.to_thread(self.catalog.store_features, RECORDING_FEATURES, song.song_id, rec.to_array())
        return rec

    # -- uploads held for an admin's decision ("Keep as a version") ---------------------------
    async def hold_upload(self, data: bytes, **upload: Unpack[Upload]) -> str:
        """Keep an upload (a duplicate an admin may still want) on disk; returns the key for :meth:`add_held`."""
        meta = HeldUpload.of(upload, held_at=time.time())
        return await asyncio.to_thread(self.pending.hold, data, sha256_of(data), meta)

    async def add_held(self, key: str, *, on_duplicate: str = "version") -> AddResult:
        """Add an upload kept by :meth:`hold_upload` (raises :class:`UploadExpired` when it is gone)."""
        held = await asyncio.to_thread(self.pending.get, key)
        if held is None:
            raise UploadExpired()
        data, meta = held
        result = await self.add_song(data, on_duplicate=on_duplicate, **meta.upload())
        await asyncio.to_thread(self.pending.drop, key)
        return result

    # -- the catalog's songs -------------------------------------------------------------
    async def _store_features(self, song_id: str, segments: Mapping[str, Segments]) -> None:
        for name, seg in segments.items():
            if seg.features is not None:
                await asyncio.to_thread(self.catalog.store_features, name, song_id, seg.features)

    async def remove_song(self, song_id: str) -> Song:
        async with self.backends.write_lock.held():
            song = await asyncio.to_thread(self.catalog.get, song_id)
            if song is None:
                raise SongNotFound(song_id=song_id)
            await self.backends.index.delete(song_id)
            if self.backends.fingerprints is not None and await self.backends.open_fingerprints():
                try:
                    await self.backends.fingerprints.delete(song_id)
                except BackendUnavailable:  # removed at the next start (reconcile), like orphan vectors
                    log.warning("fingerprints of %s not removed yet: index unavailable", song_id)
            await asyncio.to_thread(self.catalog.remove, song_id)
            self.backends.forget_groups()
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

    # -- rebuilding the indexes from the originals ---------------------------------------
    async def _reembedded(self, song: Song, skipped: list[tuple[Song, str]]) -> Mapping[str, Segments] | None:
        """A catalog song embedded again from its original, its features, print, landmarks and
        timing stored as it goes; None (and the reason in ``skipped``) when the original is missing
        or cannot be decoded: one lost file must not stop the rebuild of every other song."""
        path = self.catalog.file_path(song.sha256, song.ext)
        try:
            data = await asyncio.to_thread(path.read_bytes)
            decoded = await self.admission.run(self.decode_song, data, song.ext, admitted=True)
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
        segments = await self.admission.run(self.embed_song, decoded.samples, admitted=True)
        await self._store_features(song.song_id, segments)
        rec = await self.admission.run(
            same_recording.recording_print, decoded.samples, DECODE_RATE, admitted=True
        )
        await asyncio.to_thread(self.catalog.store_features, RECORDING_FEATURES, song.song_id, rec.to_array())
        await asyncio.to_thread(
            self.catalog.set_timing,
            song.song_id,
            duration_s=decoded.file_duration_s,
            start_s=decoded.start_s,
            indexed_s=decoded.duration_s,
        )
        if self.backends.fingerprints is not None:  # each song's landmarks replaced as it goes (one decoding)
            await self.backends.fingerprints.add(
                song.song_id, await self.admission.run(self.landmarks, decoded.samples, admitted=True)
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
        if self.backends.fingerprints is not None:
            try:
                await self.backends.fingerprints.open()
            except IndexMismatch:  # hashes of another landmark layout: nothing in them is reusable
                await self.backends.fingerprints.reset()
        skipped: list[tuple[Song, str]] = []
        n = await self.backends.index.rebuild(
            {n: e.spec for n, e in self.backends.embedders.items()}, self.songs_with_segments(skipped)
        )
        async with self.backends.write_lock.held():
            n += await self._catch_up(skipped)
            await asyncio.to_thread(self.catalog.touch)  # every running process reloads the new index
        return ReindexResult(n, tuple(skipped))

    async def _catch_up(self, skipped: list[tuple[Song, str]]) -> int:
        """Make the index hold exactly the catalog's songs again; the number of songs added."""
        known = {s.song_id: s for s in await self.list_songs()}
        have = await self.backends.index.song_ids()
        for song_id in have - known.keys():
            log.info("reindex: dropping %s, removed while the index was rebuilt", song_id)
            await self.backends.index.delete(song_id)
        given_up = {s.song_id for s, _ in skipped}
        added = 0
        for song_id in sorted(known.keys() - have - given_up):
            log.info("reindex: adding %s, added while the index was rebuilt", song_id)
            segments = await self._reembedded(known[song_id], skipped)
            if segments is not None:
                await self.backends.index.upsert(known[song_id], segments)
                added += 1
        if self.backends.fingerprints is not None:
            for song_id in await self.backends.fingerprints.song_ids() - known.keys():
                await self.backends.fingerprints.delete(song_id)
        return added

    # -- clips ---------------------------------------------------------------------------
    async def clip(
        self, song_id: str, offset_s: float, *, fmt: str | None = None, admitted: bool = False
    ) -> Clip:
        """About ``search.clip_seconds`` of a song, starting a little before ``offset_s``.

        ``fmt`` (``ogg`` | ``mp3``) overrides ``search.clip_format``: the output container, for a
        caller whose player takes only one of them.
        """
        song = await self.get_song(song_id)
        length = self.search_cfg.clip_seconds
        start = max(0.0, min(offset_s - 2.0, song.duration_s - length))
        fmt = fmt or self.search_cfg.clip_format
        path = self.catalog.file_path(song.sha256, song.ext)
        data = await self.admission.run(
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
