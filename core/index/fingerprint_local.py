"""Landmark hashes in SQLite: ``<data_dir>/index/fingerprints.db``.

``postings`` holds one row per hash: its (song key, frame) pairs packed as little-endian int32
pairs in a blob, appended to by each add (``CAST(rows || new AS BLOB)``, in SQLite's C code: ``||`` alone gives text). A lookup reads one
row per query hash and turns the blobs into arrays with one ``np.frombuffer``: a row per
*occurrence* (the first layout) made SQLite build a Python tuple for each of ~100k postings at
1,000 songs, which held the GIL long enough to slow the melody path beside it (query total p50
955 → 1,611 ms; BENCHMARKS.md §6). Nothing is held in memory, so the store is sized by the disk. ``songs`` keeps each song's integer key, its
length in frames, and its distinct hashes (delta-coded and compressed), which is what a delete
looks up instead of scanning the table. ``constellations`` holds each song's peaks (frames
delta-coded, then bins, deflated: ≈ 0.3 MB an hour), read whole for the few songs a search verifies. Every add and delete is one transaction (WAL), so several
processes share one store and a crash leaves a song either fully there or absent.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from core import sqlite_wal
from core.errors import IndexMismatch
from core.fingerprint.landmarks import FRAME_RATE, Landmarks
from core.fingerprint.matching import Postings
from core.index.fingerprint_base import (
    FORMAT,
    FingerprintIndex,
    FingerprintStats,
    Lookup,
    pack_peaks,
    unpack_peaks,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS songs (
    key INTEGER PRIMARY KEY, song_id TEXT NOT NULL UNIQUE, frames INTEGER NOT NULL, n INTEGER NOT NULL,
    distinct_hashes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (hash INTEGER PRIMARY KEY, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS constellations (key INTEGER PRIMARY KEY, peaks BLOB NOT NULL);
"""


def _pack(hashes: np.ndarray) -> bytes:
    """Sorted distinct hashes, delta-coded and deflated (≈ 1.5 bytes a hash)."""
    return zlib.compress(np.diff(hashes.astype(np.int64), prepend=0).astype(np.uint32).tobytes(), 6)


def _unpack(blob: bytes) -> np.ndarray:
    return np.cumsum(np.frombuffer(zlib.decompress(blob), np.uint32).astype(np.int64))


class LocalFingerprintIndex(FingerprintIndex):
    backend = "local"

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "fingerprints.db"

    def _connect(self) -> sqlite3.Connection:
        self.dir.mkdir(parents=True, exist_ok=True)
        db = sqlite_wal.connect(self.path, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return db

    def _run(self, fn: Callable[..., T], *args: object) -> T:
        db = self._connect()
        try:
            return fn(db, *args)
        finally:
            db.close()

    # -- FingerprintIndex -----------------------------------------------------------------
    async def open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

        def check(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is not None and json.loads(row[0]) != FORMAT:
                if db.execute("SELECT COUNT(*) FROM songs").fetchone()[0]:
                    raise IndexMismatch(
                        detail=f"fingerprints stored as {json.loads(row[0])}, this version uses {FORMAT}"
                    )
            with db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (json.dumps(FORMAT),))

        await asyncio.to_thread(self._run, check)

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("DELETE FROM postings")
                db.execute("DELETE FROM constellations")
                db.execute("DELETE FROM songs")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (json.dumps(FORMAT),))

        await asyncio.to_thread(self._run, work)

    @staticmethod
    def _delete(db: sqlite3.Connection, song_id: str) -> bool:
        row = db.execute("SELECT key, distinct_hashes FROM songs WHERE song_id = ?", (song_id,)).fetchone()
        if row is None:
            return False
        key, blob = row
        distinct = _unpack(blob)
        kept, emptied = [], []
        for lo in range(0, len(distinct), 20000):
            for h, rows in db.execute(
                "SELECT hash, rows FROM postings WHERE hash IN (SELECT value FROM json_each(?))",
                (json.dumps(distinct[lo : lo + 20000].tolist()),),
            ):
                pairs = np.frombuffer(rows, "<i4").reshape(-1, 2)
                rest = pairs[pairs[:, 0] != key]
                (kept.append((rest.tobytes(), h)) if len(rest) else emptied.append((h,)))
        db.executemany("UPDATE postings SET rows = ? WHERE hash = ?", kept)
        db.executemany("DELETE FROM postings WHERE hash = ?", emptied)
        db.execute("DELETE FROM constellations WHERE key = ?", (key,))
        db.execute("DELETE FROM songs WHERE key = ?", (key,))
        return True

    async def add(self, song_id: str, landmarks: Landmarks) -> None:
        await self.add_many([(song_id, landmarks)])

    async def add_many(self, songs: Sequence[tuple[str, Landmarks]]) -> None:
        """Store several songs in one transaction, each touched posting row written once.

        Appending to a posting row rewrites the B-tree page that holds it, so one song's add
        dirties a page for each of its ~30k distinct hashes (≈ 120 MB of WAL at 10,000 songs,
        where the 22-bit hash space is nearly full), whatever the song's length. A batch merges
        its songs' postings first: at 1,000 songs a batch, each page is rewritten once per batch
        instead of once per song (BENCHMARKS.md §6). The write lock is held for the whole batch,
        so other writers wait (up to the 30 s busy timeout): batch only where nobody else writes.
        """
        if not songs:
            return
        batch = dict(songs)  # one song id given twice: the last landmarks win, as with add()

        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                keys = []
                for song_id, lm in batch.items():
                    self._delete(db, song_id)
                    key = db.execute(
                        "INSERT INTO songs (song_id, frames, n, distinct_hashes) VALUES (?, ?, ?, ?)",
                        (song_id, lm.frames, len(lm), _pack(np.unique(lm.hashes))),
                    ).lastrowid
                    db.execute(
                        "INSERT OR REPLACE INTO constellations VALUES (?, ?)",
                        (key, pack_peaks(lm.peak_frames, lm.peak_bins)),
                    )
                    keys.append(key)
                lms = list(batch.values())
                hashes = np.concatenate([lm.hashes for lm in lms]).astype(np.int64)
                pairs = np.empty((len(hashes), 2), "<i4")
                pairs[:, 0] = np.repeat(np.array(keys, np.int64), [len(lm) for lm in lms])
                pairs[:, 1] = np.concatenate([lm.times for lm in lms])
                # Sorted by hash: one appended run of (key, frame) pairs per distinct hash, written
                # in hash order (the B-tree walked once instead of jumped around).
                order = np.argsort(hashes, kind="stable")
                hashes, pairs = hashes[order], pairs[order]
                cuts = np.flatnonzero(np.diff(hashes)) + 1
                starts = np.concatenate([[0], cuts]).tolist() if len(hashes) else []  # silence: none
                ends = np.concatenate([cuts, [len(hashes)]]).tolist()
                db.executemany(
                    "INSERT INTO postings VALUES (?, ?) "
                    "ON CONFLICT (hash) DO UPDATE SET rows = CAST(rows || excluded.rows AS BLOB)",
                    ((int(hashes[a]), pairs[a:b].tobytes()) for a, b in zip(starts, ends)),
                )

        await asyncio.to_thread(self._run, work)

    async def delete(self, song_id: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            with db:
                db.execute("BEGIN IMMEDIATE")  # read, then write: take the write lock first
                return self._delete(db, song_id)

        return await asyncio.to_thread(self._run, work)

    async def lookup(self, hashes: np.ndarray, song_ids: frozenset[str] | None = None) -> Lookup:
        def work(db: sqlite3.Connection) -> Lookup:
            # One read transaction: the postings and the songs they name are of one moment.
            with db:
                db.execute("BEGIN")
                found = db.execute(
                    "SELECT hash, rows FROM postings WHERE hash IN (SELECT value FROM json_each(?))",
                    (json.dumps(np.asarray(hashes).tolist()),),
                ).fetchall()
                found.sort()  # by hash: voting joins the query against runs of one hash
                pairs = np.frombuffer(b"".join(r for _, r in found), "<i4").reshape(-1, 2)
                counts = np.array([len(r) // 8 for _, r in found], np.int64)
                arr = np.empty((len(pairs), 3), np.int64)
                arr[:, 0] = np.repeat(np.array([h for h, _ in found], np.int64), counts)
                arr[:, 1:] = pairs
                keys = np.unique(arr[:, 1]).tolist()
                songs = {}
                for lo in range(0, len(keys), 10000):
                    chunk = keys[lo : lo + 10000]
                    songs.update(
                        {
                            k: (i, f)
                            for k, i, f in db.execute(
                                "SELECT key, song_id, frames FROM songs WHERE key IN (SELECT value FROM json_each(?))",
                                (json.dumps(chunk),),
                            )
                        }
                    )
                total = db.execute("SELECT COALESCE(SUM(frames), 0) FROM songs").fetchone()[0]
            if song_ids is not None:
                songs = {k: v for k, v in songs.items() if v[0] in song_ids}
                arr = arr[np.isin(arr[:, 1], list(songs))]
            return Lookup(
                Postings(arr[:, 0].astype(np.uint32), arr[:, 1], arr[:, 2].astype(np.int32)),
                {k: v[0] for k, v in songs.items()},
                {k: v[1] for k, v in songs.items()},
                int(total),
            )

        return await asyncio.to_thread(self._run, work)

    async def constellations(
        self, windows: list[tuple[str, int, int]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        def work(db: sqlite3.Connection) -> list[tuple[np.ndarray, np.ndarray]]:
            ids = sorted({w[0] for w in windows})
            blobs = dict(
                db.execute(
                    "SELECT s.song_id, c.peaks FROM songs s JOIN constellations c ON c.key = s.key "
                    "WHERE s.song_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ).fetchall()
            )
            peaks = {i: unpack_peaks(b) for i, b in blobs.items()}
            out = []
            for song_id, first, last in windows:
                frames, bins = peaks.get(song_id, (np.zeros(0, np.int32), np.zeros(0, np.int32)))
                lo, hi = np.searchsorted(frames, first, "left"), np.searchsorted(frames, last, "right")
                out.append((frames[lo:hi], bins[lo:hi]))
            return out

        return await asyncio.to_thread(self._run, work)

    async def song_ids(self) -> set[str]:
        return await asyncio.to_thread(
            self._run, lambda db: {r[0] for r in db.execute("SELECT song_id FROM songs")}
        )

    async def stats(self) -> FingerprintStats:
        def work(db: sqlite3.Connection) -> FingerprintStats:
            songs, hashes, frames = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(SUM(frames), 0) FROM songs"
            ).fetchone()
            size = sum(p.stat().st_size for p in self.dir.glob("fingerprints.db*"))
            return FingerprintStats(self.backend, songs, hashes, frames / FRAME_RATE, size)

        return await asyncio.to_thread(self._run, work)
