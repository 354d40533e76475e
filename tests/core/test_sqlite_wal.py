"""Switching a shared SQLite file to WAL while another connection holds a lock on it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from core import sqlite_wal


def _rollback_mode_file_locked_for_writing(path: Path) -> sqlite3.Connection:
    """A file in rollback-journal mode (new, or made by an older tool), with a write open on it."""
    holder = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_sqlite_itself_refuses_the_switch_at_once_whatever_the_timeout(tmp_path: Path) -> None:
    """Why :mod:`core.sqlite_wal` retries: the busy timeout does not cover this lock."""
    holder = _rollback_mode_file_locked_for_writing(tmp_path / "x.db")
    other = sqlite3.connect(tmp_path / "x.db", timeout=30)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("PRAGMA journal_mode=WAL")
    finally:
        other.close()
        holder.close()


def test_connect_waits_for_the_lock_and_switches_the_file_to_wal(tmp_path: Path) -> None:
    holder = _rollback_mode_file_locked_for_writing(tmp_path / "x.db")
    release = threading.Timer(1.0, holder.execute, ("COMMIT",))
    release.start()
    try:
        db = sqlite_wal.connect(tmp_path / "x.db")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT x FROM t").fetchall() == [(1,)]  # opened after the other's commit
        db.close()
    finally:
        release.join()
        holder.close()


def test_a_lock_held_past_the_timeout_is_an_error(tmp_path: Path) -> None:
    holder = _rollback_mode_file_locked_for_writing(tmp_path / "x.db")
    try:
        with pytest.raises(sqlite3.OperationalError):
            sqlite_wal.connect(tmp_path / "x.db", timeout=0.5)
    finally:
        holder.close()
