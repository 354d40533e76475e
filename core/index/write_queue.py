"""A durable, ordered queue of index writes made while the search cluster could not take them.

SQLite (WAL, synchronous=FULL: an accepted upload survives a power cut) holds one row per
pending write: an upsert carries the song and its segment vectors (``.npz``), a delete only the
song id. Every write fully determines the song's state in the index (overwrite or removal), so
appending a write for a song drops the song's older pending write in the same transaction: the
queue stays one row per song, and replaying it in ``seq`` order gives the same end state as
replaying every write ever made. Replays are idempotent (the document id is the song id), so a
crash between "applied" and "removed from the queue" only means one harmless re-apply.

Writes the cluster rejects for good (a 4xx other than "not found") move to ``dead`` with the
error, so one bad write cannot block the rest and nothing is silently dropped.

Methods are synchronous; the backend calls them through ``asyncio.to_thread``. How a backend
retries its replay while the cluster is away is :func:`replay_retrying` (tenacity).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_never,
    wait_exponential,
)

from core.types import Segments, Song
from core import sqlite_wal

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    song_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('upsert', 'delete')),
    song TEXT,
    segments BLOB
);
CREATE INDEX IF NOT EXISTS pending_song ON pending (song_id);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY, song_id TEXT NOT NULL, kind TEXT NOT NULL, song TEXT, segments BLOB,
    error TEXT NOT NULL, failed_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Write:
    seq: int
    kind: str  # "upsert" | "delete"
    song_id: str
    song: Song | None = None
    segments: Mapping[str, Segments] | None = None


def _song_json(song: Song) -> str:
    d = asdict(song)
    d["added_at"] = song.added_at.isoformat()
    return json.dumps(d)


def _song_from_json(text: str) -> Song:
    d = json.loads(text)
    d["added_at"] = datetime.fromisoformat(d["added_at"])
    return Song(**d)


def _pack_segments(segments: Mapping[str, Segments]) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for name, seg in segments.items():
        arrays[f"{name}/starts"] = np.asarray(seg.starts_s, np.float32)
        arrays[f"{name}/vectors"] = np.asarray(seg.vectors, np.float32)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def _unpack_segments(blob: bytes) -> dict[str, Segments]:
    with np.load(io.BytesIO(blob)) as z:
        names = {k.rsplit("/", 1)[0] for k in z.files}
        return {n: Segments(z[f"{n}/starts"], z[f"{n}/vectors"]) for n in names}


class WriteQueue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite_wal.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # one connection, used from worker threads

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _append(self, song_id: str, kind: str, song: str | None, blob: bytes | None) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM pending WHERE song_id = ?", (song_id,))
                cur = self._db.execute(
                    "INSERT INTO pending (song_id, kind, song, segments) VALUES (?, ?, ?, ?)",
                    (song_id, kind, song, blob),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            assert cur.lastrowid is not None  # an INSERT always sets it
            return cur.lastrowid

    def append_upsert(self, song: Song, segments: Mapping[str, Segments]) -> int:
        return self._append(song.song_id, "upsert", _song_json(song), _pack_segments(segments))

    def append_delete(self, song_id: str) -> int:
        return self._append(song_id, "delete", None, None)

    def peek(self, limit: int) -> list[Write]:
        """The oldest ``limit`` pending writes, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, song_id, song, segments FROM pending ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            Write(seq, kind, sid, _song_from_json(s) if s else None, _unpack_segments(b) if b else None)
            for seq, kind, sid, s, b in rows
        ]

    def remove(self, seqs: list[int]) -> None:
        """Forget writes that were applied (a seq already superseded is simply gone)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def bury(self, seq: int, error: str) -> None:
        """Move a write the cluster rejected for good to ``dead``, with the reason."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO dead SELECT seq, song_id, kind, song, segments, ?, datetime('now') "
                "FROM pending WHERE seq = ?",
                (error[:2000], seq),
            )
            self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def pending_ids(self) -> dict[str, str]:
        """song id → kind of its pending write."""
        with self._lock:
            return dict(self._db.execute("SELECT song_id, kind FROM pending").fetchall())

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def dead_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead").fetchone()[0])


def replay_retrying(
    first_s: float,
    max_s: float,
    *,
    give_up: tuple[type[BaseException], ...] = (),
    quiet: tuple[type[BaseException], ...] = (),
    logger: logging.Logger = log,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """The backoff of a queue replay that failed: ``async for attempt in replay_retrying(…): with attempt: …``.

    Waits ``first_s``, then twice as long each time up to ``max_s`` seconds (``retry_backoff_s``
    and ``retry_backoff_max_s``; no jitter: one replayer per process), and never stops by itself.
    Any :class:`Exception` is retried except those in ``give_up``, which end the replay at once
    (re-raised, e.g. an index that needs ``humbot reindex``); a ``BaseException`` such as
    :class:`asyncio.CancelledError` is never retried. Errors in ``quiet`` (the cluster is away:
    whoever noticed it has logged that) are retried silently; any other is logged to ``logger``
    with its traceback and the wait. ``sleep`` is injectable so tests need not wait.
    """

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None and not isinstance(error, quiet):
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            logger.error("replaying queued writes failed; retrying in %.0f s", wait_s, exc_info=error)

    return AsyncRetrying(
        retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(give_up),
        wait=wait_exponential(multiplier=first_s, max=max_s),
        stop=stop_never,
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep,
    )
