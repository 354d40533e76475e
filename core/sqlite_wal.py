"""Opening one of humbot's SQLite files in WAL mode, from several processes at once.

Every store here (the catalog, the local vector index, the fingerprint store, the write queue)
is shared by processes: two ``humbot songs add`` at once, ``serve`` beside the CLI. WAL lets them
read while one writes, but *switching* a file to WAL needs an exclusive lock, and SQLite does not
wait for that one: a process asking while another holds a lock on a file that is still in
rollback mode (a brand-new file, or one made by an older tool) gets "database is locked" at once,
whatever the busy timeout (SQLite refuses rather than risk a deadlock). The test suite saw exactly
that on a loaded machine: one of six processes opening a new catalog at one instant failed with
a traceback (tests/core/test_catalog.py). So the switch is retried, with jittered backoff, for as long as the busy timeout would have
waited. Once a file is in WAL mode it stays there, and the retry costs nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

#: Seconds a connection waits for another process's lock (SQLite's busy timeout), and the most the
#: switch to WAL is retried. Writes here are short: a song's rows, a posting batch.
BUSY_TIMEOUT_S = 30.0


class _NotWalYet(sqlite3.OperationalError):
    """``PRAGMA journal_mode=WAL`` answered with the old mode: another process held a lock."""


def _locked(e: BaseException) -> bool:
    return isinstance(e, _NotWalYet) or (
        isinstance(e, sqlite3.OperationalError) and "locked" in str(e).lower()
    )


def connect(path: Path, *, timeout: float = BUSY_TIMEOUT_S, **options: Any) -> sqlite3.Connection:
    """``sqlite3.connect(path, timeout=timeout, **options)``, the file switched to WAL mode.

    Raises the last :class:`sqlite3.OperationalError` when the file stayed locked for ``timeout``
    seconds (another process holding a write open that long is a fault, not contention).
    """
    db: sqlite3.Connection = sqlite3.connect(path, timeout=timeout, **options)
    try:
        for attempt in Retrying(
            retry=retry_if_exception(_locked),
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
            stop=stop_after_delay(timeout),
            reraise=True,
        ):
            with attempt:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise _NotWalYet(f"journal mode is still {mode}")
    except BaseException:
        db.close()
        raise
    return db
