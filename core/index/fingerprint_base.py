"""The fingerprint index interface: landmark hashes per song, looked up by hash.

A backend stores, for every song, the (hash, frame) pairs of its landmarks
(:mod:`core.fingerprint.landmarks`) and its constellation of peaks, and answers "which songs hold
these hashes, and when" — the postings a search votes on (:func:`core.fingerprint.matching.match`)
— and "which peaks has this song between these frames" — what the best-voted candidates are
verified on (:func:`core.fingerprint.matching.verify`). Voting and verification are the same for
every backend and live here, so the local store and Elasticsearch answer alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.fingerprint.landmarks import Landmarks
from core.fingerprint.matching import (
    VERIFY_CANDIDATES,
    FingerprintHit,
    Postings,
    accepted,
    match,
    null_window,
    verify,
)

#: Version of what a backend stores: bumped with the landmark layout (core.fingerprint.landmarks),
#: so an index of old hashes asks for ``humbot reindex`` instead of silently matching nothing.
#: 2: each song's constellation stored beside its hashes; 3: 128 ms windows every 32 ms.
FORMAT = "landmarks-3"


def pack_peaks(frames: np.ndarray, bins: np.ndarray) -> bytes:
    """Peaks sorted by frame: frame deltas (uint32) then bins (uint16), deflated."""
    deltas = np.diff(np.asarray(frames, np.int64), prepend=0).astype("<u4")
    return zlib.compress(deltas.tobytes() + np.asarray(bins, "<u2").tobytes(), 6)


def unpack_peaks(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    raw = zlib.decompress(blob)
    n = len(raw) // 6
    frames = np.cumsum(np.frombuffer(raw, "<u4", n).astype(np.int64)).astype(np.int32)
    return frames, np.frombuffer(raw, "<u2", n, offset=4 * n).astype(np.int32)


@dataclass(frozen=True)
class Lookup:
    """The postings of some hashes, with what voting needs to know of their songs.

    ``ids``: index key → song id; ``frames``: index key → the song's length in frames;
    ``catalog_frames``: frames of every song in the index (chance alignments it offers).
    """

    postings: Postings
    ids: dict[int, str]
    frames: dict[int, int]
    catalog_frames: int


@dataclass(frozen=True)
class FingerprintStats:
    backend: str
    songs: int
    hashes: int
    audio_s: float
    size_bytes: int | None  # on disk (or in the cluster), when the backend can tell


@dataclass(frozen=True)
class FingerprintMatch:
    """A song a recording was aligned with: the song's id and the alignment."""

    song_id: str
    hit: FingerprintHit


class FingerprintIndex(ABC):
    backend: str = "?"

    @abstractmethod
    async def open(self) -> None:
        """Create the store on first use, or check the existing one (:class:`core.errors.IndexMismatch`
        when it holds another :data:`FORMAT`: ``humbot reindex`` rebuilds it)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def reset(self) -> None:
        """Drop every stored song and adopt this version's :data:`FORMAT` (``humbot reindex`` refills it)."""

    @abstractmethod
    async def add(self, song_id: str, landmarks: Landmarks) -> None:
        """Store a song's landmarks, replacing any it had. Searchable when this returns."""

    async def add_many(self, songs: Sequence[tuple[str, Landmarks]]) -> None:
        """Store several songs' landmarks (song id, landmarks), as :meth:`add` each would.

        For bulk loads: a backend may write them together (the local store writes each posting
        row once per batch instead of once per song).
        """
        for song_id, landmarks in songs:
            await self.add(song_id, landmarks)

    @abstractmethod
    async def delete(self, song_id: str) -> bool:
        """Remove a song's landmarks. True when it had any."""

    @abstractmethod
    async def lookup(self, hashes: np.ndarray, song_ids: frozenset[str] | None = None) -> Lookup:
        """The stored occurrences of ``hashes`` ((h,) uint32, unique), of ``song_ids`` only if given.

        The local store returns every one; a backend may return only those of its best candidates
        (Elasticsearch: the song blocks holding most of the hashes), which is all that voting needs.
        """

    @abstractmethod
    async def constellations(
        self, windows: list[tuple[str, int, int]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The stored peaks of songs between two frames: for each (song id, first, last), the
        (frames (p,) int32, bins (p,) int32) of its peaks with ``first <= frame <= last``, in frame
        order (empty for a song not stored)."""

    @abstractmethod
    async def song_ids(self) -> set[str]: ...

    @abstractmethod
    async def stats(self) -> FingerprintStats: ...

    async def search(
        self, variants: list[tuple[float, Landmarks]], top_k: int = 10, song_ids: frozenset[str] | None = None
    ) -> list[FingerprintMatch]:
        """The songs best aligned with a query, most aligned first (see :func:`core.fingerprint.matching.match`);
        the best-aligned one verified peak by peak (``hit.verified_z``,
        :func:`core.fingerprint.matching.verify`; ~4 ms a candidate), and the next
        :data:`~core.fingerprint.matching.VERIFY_CANDIDATES` − 1 too when that does not give an
        answer (:func:`core.fingerprint.matching.accepted`).

        ``variants``: (speed factor, landmarks of the query resampled by it).
        """
        hashes = (
            np.unique(np.concatenate([lm.hashes for _, lm in variants]))
            if variants
            else np.zeros(0, np.uint32)
        )
        if not len(hashes):
            return []
        found = await self.lookup(hashes, song_ids)
        hits = await asyncio.to_thread(
            match, variants, found.postings, found.frames, found.catalog_frames, top_k
        )
        hits = [h for h in hits if h.song in found.ids]
        # The best-aligned song's peaks are checked at its offset (its anchors decide only with
        # them); the next candidates only when there is no answer yet.
        hits = await self._verified(variants, hits, found, 0, 1)
        if accepted(hits) is None:
            hits = await self._verified(variants, hits, found, 1, VERIFY_CANDIDATES)
        return [FingerprintMatch(found.ids[h.song], h) for h in hits]

    async def _verified(
        self,
        variants: list[tuple[float, Landmarks]],
        hits: list[FingerprintHit],
        found: Lookup,
        start: int,
        stop: int,
    ) -> list[FingerprintHit]:
        """``hits`` with ``hits[start:stop]`` verified peak by peak (their ``verified_z``)."""
        candidates = hits[start:stop]
        by_speed = {speed: lm for speed, lm in variants}
        if not candidates or not any(len(lm.peak_frames) for lm in by_speed.values()):
            return hits
        windows = [
            (found.ids[h.song], *null_window(h.offset_frames, by_speed[h.speed].frames)) for h in candidates
        ]
        peaks = await self.constellations(windows)

        def work() -> list[FingerprintHit]:
            return [
                dataclasses.replace(
                    h,
                    verified_z=verify(
                        (by_speed[h.speed].peak_frames, by_speed[h.speed].peak_bins),
                        p,
                        h.offset_frames,
                        found.frames[h.song],
                    ),
                )
                for h, p in zip(candidates, peaks)
            ]

        return hits[:start] + await asyncio.to_thread(work) + hits[start + len(candidates) :]
