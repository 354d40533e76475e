"""The catalog: its schema and migration (also from several processes at once), the versions of one
recording, removal."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.catalog import Catalog, new_song

REPO = Path(__file__).resolve().parents[2]

#: catalog.db's songs table as humbot wrote it before versions (no version_of column).
OLD_SCHEMA = """
CREATE TABLE songs (
    song_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, ext TEXT NOT NULL, title TEXT NOT NULL,
    artist TEXT, genre TEXT, duration_s REAL NOT NULL, source_name TEXT NOT NULL, added_by TEXT,
    added_at TEXT NOT NULL
);
"""


def _song(n: int, version_of: str | None = None, minutes: int = 0):
    song = new_song(sha256=f"{n:02d}" * 32, ext=".flac", title=f"Song {n}", artist=None, duration_s=30.0,
                    source_name=f"{n}.flac", added_by="test", version_of=version_of)
    from dataclasses import replace

    return replace(song, added_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes))


def test_a_catalog_from_before_versions_gains_the_column_and_keeps_its_songs(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "catalog.db")
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO songs VALUES ('aaaaaaaaaaaa', 'aa', '.mp3', 'Old', NULL, NULL, 10.0, 'old.mp3', "
               "'cli', '2025-01-01T00:00:00+00:00')")
    db.commit()
    db.close()
    catalog = Catalog(tmp_path)
    old = catalog.get("aaaaaaaaaaaa")
    assert old is not None and old.title == "Old" and old.version_of is None
    catalog.add(_song(1, version_of="aaaaaaaaaaaa"))
    assert catalog.versions_map() == {_song(1).song_id: "aaaaaaaaaaaa"}
    Catalog(tmp_path)  # opening it again migrates nothing twice
    # An older humbot still writes to the migrated table (it names its columns).
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        db.execute("INSERT INTO songs (song_id, sha256, ext, title, artist, genre, duration_s, source_name, "
                   "added_by, added_at) VALUES ('bbbbbbbbbbbb', 'bb', '.mp3', 'Older', NULL, NULL, 5.0, 'b.mp3', "
                   "NULL, '2025-01-02T00:00:00+00:00')")
    assert catalog.get("bbbbbbbbbbbb").version_of is None


def test_removing_a_primary_makes_its_earliest_version_the_primary(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    primary, other = _song(1), _song(4)
    later, earlier = _song(2, primary.song_id, minutes=20), _song(3, primary.song_id, minutes=10)
    for song in (primary, later, earlier, other):
        catalog.add(song)
    assert catalog.versions_map() == {later.song_id: primary.song_id, earlier.song_id: primary.song_id}
    catalog.remove(primary.song_id)
    assert catalog.get(earlier.song_id).version_of is None
    assert catalog.versions_map() == {later.song_id: earlier.song_id}
    catalog.remove(later.song_id)  # removing a version changes nobody else
    assert catalog.versions_map() == {}
    assert {s.song_id for s in catalog.list()} == {earlier.song_id, other.song_id}


#: Opens the catalog at argv[1] at the wall-clock time argv[2], so that several processes' schema
#: checks overlap as they do when `songs add` runs twice at once or `serve` starts beside the CLI.
_OPEN_AT = """
import sys, time
from pathlib import Path
from core.catalog import Catalog
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Catalog(Path(sys.argv[1]))
"""


def _open_at_once(data_dir: Path, processes: int = 6) -> list[str]:
    """Open one catalog from ``processes`` processes at the same instant; their stderr where one failed."""
    at = time.time() + 3.0  # after every interpreter has started and imported numpy
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, str(data_dir), str(at)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]  # fmt: skip
    errors = [p.communicate(timeout=120)[1] for p in procs]
    return [err for p, err in zip(procs, errors) if p.returncode != 0]


def test_several_processes_opening_a_new_catalog_at_once_all_open_it(tmp_path: Path) -> None:
    for round_ in range(2):
        failed = _open_at_once(tmp_path / f"data{round_}")
        assert failed == [], failed[0]
        assert {"version_of", "start_s", "indexed_s"} <= _columns(tmp_path / f"data{round_}" / "catalog.db")


def test_several_processes_migrating_an_old_catalog_at_once_all_open_it(tmp_path: Path) -> None:
    for round_ in range(2):
        data = tmp_path / f"data{round_}"
        data.mkdir()
        with sqlite3.connect(data / "catalog.db") as db:
            db.executescript(OLD_SCHEMA)
        failed = _open_at_once(data)
        assert failed == [], failed[0]
        assert {"version_of", "start_s", "indexed_s"} <= _columns(data / "catalog.db")


def _columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[1] for r in db.execute("PRAGMA table_info(songs)")}
