"""The catalog: original song files, content-addressed, and their metadata in SQLite.

Layout under the data directory::

    songs/ab/abcdef…(sha256).ext   the original upload, never modified
    features/<embedder>/<id>.npy   whole-song data an embedder re-ranks with (melody contour)
    catalog.db                     songs, queries served and users' feedback

The catalog is the source of truth for *which songs exist*; an index only holds vectors for
them. :meth:`Catalog.add` is the commit point of an import: a song whose vectors were written
but whose catalog row was not (a crash in between) is removed again by the service's
reconciliation at start-up.

Methods are synchronous (SQLite is fast for these sizes); the service calls them via
``asyncio.to_thread``. One connection per call keeps them thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core import sqlite_wal
from core.types import Song

SONG_ID_LEN = 12  # hex chars of the sha256 shown to users as the song id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS songs (
    song_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    ext TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT,
    genre TEXT,
    duration_s REAL NOT NULL,
    source_name TEXT NOT NULL,
    added_by TEXT,
    added_at TEXT NOT NULL,
    version_of TEXT,
    start_s REAL,
    indexed_s REAL
);
CREATE TABLE IF NOT EXISTS queries (
    query_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    source TEXT,
    top_song_id TEXT,
    match INTEGER NOT NULL,
    confidence REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    query_id TEXT NOT NULL,
    song_id TEXT,
    correct INTEGER NOT NULL,
    user TEXT,
    at TEXT NOT NULL
);
"""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: Columns added after the first release, with their SQL type: :meth:`Catalog.__init__` adds the
#: missing ones to an existing catalog.db (``ALTER TABLE … ADD COLUMN`` keeps every row, and an
#: older humbot still reads and writes the table, naming its columns).
_ADDED_COLUMNS = {"version_of": "TEXT", "start_s": "REAL", "indexed_s": "REAL"}


#: Bumped in the transaction of every change to the set of songs (add, remove, reindex), so every
#: process sharing the data directory can see with one read that it has to catch up.
_BUMP = "INSERT INTO meta VALUES ('generation', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1"


def _row_to_song(r: sqlite3.Row) -> Song:
    return Song(
        song_id=r["song_id"], title=r["title"], artist=r["artist"], duration_s=r["duration_s"],
        source_name=r["source_name"], sha256=r["sha256"], ext=r["ext"], added_by=r["added_by"],
        added_at=datetime.fromisoformat(r["added_at"]), genre=r["genre"],
        version_of=r["version_of"] if "version_of" in r.keys() else None,
        start_s=(r["start_s"] or 0.0) if "start_s" in r.keys() else 0.0,
        indexed_s=r["indexed_s"] if "indexed_s" in r.keys() else None,
    )  # fmt: skip


class Catalog:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.files = data_dir / "songs"
        self.features = data_dir / "features"
        self.db_path = data_dir / "catalog.db"
        self.files.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)
            # Several processes open one catalog at once (two `songs add`, `serve` beside the CLI):
            # the columns are read and added in one write transaction, or two of them both see a
            # column missing and the second ALTER fails ("duplicate column name").
            db.execute("BEGIN IMMEDIATE")
            have = {r["name"] for r in db.execute("PRAGMA table_info(songs)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE songs ADD COLUMN {column} {kind}")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite_wal.connect(self.db_path)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction: commit on success, roll back on error
                yield db
        finally:
            db.close()

    # -- files ----------------------------------------------------------------------------
    def file_path(self, sha256: str, ext: str) -> Path:
        return self.files / sha256[:2] / f"{sha256}{ext}"

    def store_file(self, data: bytes, sha256: str, ext: str) -> Path:
        """Write the original atomically (temp file + rename); a no-op when already there."""
        path = self.file_path(sha256, ext)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def stray_files(self) -> list[Path]:
        """Stored files (and leftover temp files) with no catalog row: debris of interrupted imports."""
        songs = self.list()
        known = {(s.sha256 + s.ext) for s in songs}
        ids = {f"{s.song_id}.npy" for s in songs}
        stray = [p for p in self.files.glob("*/*") if p.is_file() and p.name not in known]
        return stray + [p for p in self.features.glob("*/*") if p.is_file() and p.name not in ids]

    def feature_path(self, embedder: str, song_id: str) -> Path:
        return self.features / embedder / f"{song_id}.npy"

    def store_features(self, embedder: str, song_id: str, array: np.ndarray) -> None:
        path = self.feature_path(embedder, song_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as f:
            np.save(f, array)
        os.replace(tmp, path)

    def load_features(self, embedder: str, song_ids: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for song_id in song_ids:
            path = self.feature_path(embedder, song_id)
            if path.exists():
                out[song_id] = np.load(path)
        return out

    # -- songs ----------------------------------------------------------------------------
    def get(self, song_id: str) -> Song | None:
        with self._db() as db:
            r = db.execute("SELECT * FROM songs WHERE song_id = ?", (song_id,)).fetchone()
        return _row_to_song(r) if r else None

    def get_by_sha(self, sha256: str) -> Song | None:
        with self._db() as db:
            r = db.execute("SELECT * FROM songs WHERE sha256 = ?", (sha256,)).fetchone()
        return _row_to_song(r) if r else None

    def get_many(self, song_ids: list[str]) -> dict[str, Song]:
        if not song_ids:
            return {}
        marks = ",".join("?" * len(song_ids))
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM songs WHERE song_id IN ({marks})", song_ids).fetchall()
        return {r["song_id"]: _row_to_song(r) for r in rows}

    def add(self, song: Song) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO songs (song_id, sha256, ext, title, artist, genre, duration_s, source_name, "
                "added_by, added_at, version_of, start_s, indexed_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (song.song_id, song.sha256, song.ext, song.title, song.artist, song.genre, song.duration_s,
                 song.source_name, song.added_by, song.added_at.isoformat(), song.version_of, song.start_s,
                 song.indexed_s),
            )  # fmt: skip
            db.execute(_BUMP)

    def remove(self, song_id: str) -> Song | None:
        """Delete the row and the original file. Returns the removed song.

        Removing a primary keeps its versions together: the earliest-added version becomes the
        primary and the others its versions (they are still copies of one recording, and a
        search must still count them as one answer).
        """
        song = self.get(song_id)
        if song is None:
            return None
        with self._db() as db:
            db.execute("DELETE FROM songs WHERE song_id = ?", (song_id,))
            db.execute(_BUMP)
            heir = db.execute(
                "SELECT song_id FROM songs WHERE version_of = ? ORDER BY added_at, song_id LIMIT 1",
                (song_id,),
            ).fetchone()
            if heir is not None:
                db.execute("UPDATE songs SET version_of = NULL WHERE song_id = ?", (heir[0],))
                db.execute("UPDATE songs SET version_of = ? WHERE version_of = ?", (heir[0], song_id))
        self.file_path(song.sha256, song.ext).unlink(missing_ok=True)
        for path in self.features.glob(f"*/{song_id}.npy"):
            path.unlink(missing_ok=True)
        return song

    def list(self, offset: int = 0, limit: int | None = None) -> list[Song]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM songs ORDER BY added_at, song_id LIMIT ? OFFSET ?",
                (-1 if limit is None else limit, offset),
            ).fetchall()
        return [_row_to_song(r) for r in rows]

    def generation(self) -> int:
        """A number that changes whenever any process adds, removes or re-indexes songs."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return row[0] if row else 0

    def touch(self) -> None:
        """Make :meth:`generation` change (after a rebuild of the index, which other processes must reload)."""
        with self._db() as db:
            db.execute(_BUMP)

    def set_timing(self, song_id: str, *, duration_s: float, start_s: float, indexed_s: float) -> None:
        """Record where a song's indexed audio lies in its file (filled in by ``reindex`` for old rows)."""
        with self._db() as db:
            db.execute(
                "UPDATE songs SET duration_s = ?, start_s = ?, indexed_s = ? WHERE song_id = ?",
                (duration_s, start_s, indexed_s, song_id),
            )

    def count(self) -> int:
        with self._db() as db:
            n: int = db.execute("SELECT COUNT(*) FROM songs").fetchone()[0]
            return n

    def versions_map(self) -> dict[str, str]:
        """``{version song_id: its primary's song_id}`` for every song that is a version (one query)."""
        with self._db() as db:
            rows = db.execute("SELECT song_id, version_of FROM songs WHERE version_of IS NOT NULL").fetchall()
        return {r[0]: r[1] for r in rows}

    # -- usage ----------------------------------------------------------------------------
    def log_query(
        self, query_id: str, source: str, top_song_id: str | None, match: bool, confidence: float | None
    ) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO queries VALUES (?, ?, ?, ?, ?, ?)",
                (query_id, _now().isoformat(), source, top_song_id, int(match), confidence),
            )

    def add_feedback(self, query_id: str, song_id: str | None, correct: bool, user: str | None) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                (query_id, song_id, int(correct), user, _now().isoformat()),
            )

    def usage(self) -> dict[str, int]:
        with self._db() as db:
            queries = db.execute("SELECT COUNT(*) FROM queries").fetchone()[0]
            matched = db.execute("SELECT COUNT(*) FROM queries WHERE match = 1").fetchone()[0]
            # A query counts once: its latest feedback wins.
            rows = db.execute(
                "SELECT correct FROM feedback f WHERE rowid = (SELECT MAX(rowid) FROM feedback g "
                "WHERE g.query_id = f.query_id)"
            ).fetchall()
        return {
            "queries": queries,
            "matched": matched,
            "feedback_correct": sum(1 for r in rows if r[0]),
            "feedback_wrong": sum(1 for r in rows if not r[0]),
        }


def _now() -> datetime:
    return datetime.now(UTC)


def new_song(
    *,
    sha256: str,
    ext: str,
    title: str,
    artist: str | None,
    duration_s: float,
    source_name: str,
    added_by: str | None,
    genre: str | None = None,
    version_of: str | None = None,
    start_s: float = 0.0,
    indexed_s: float | None = None,
) -> Song:
    return Song(
        song_id=sha256[:SONG_ID_LEN], title=title, artist=artist, duration_s=duration_s,
        source_name=source_name, sha256=sha256, ext=ext, added_by=added_by, added_at=_now(), genre=genre,
        version_of=version_of, start_s=start_s, indexed_s=indexed_s,
    )  # fmt: skip
