"""A whole (tiny) data set: manifest, ground truth, out-of-catalog tunes, no-song queries, the
fit/held-out split, reuse on re-runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from evaluation.evalset.dataset import build_dataset, load_manifest, split_of
from evaluation.evalset.scores import Melody, Note, is_variant


def _melody_of(root: Path, entry: dict) -> Melody:
    """A song's melody as it sounds, from its truth file, as a Melody for comparisons."""
    plan = json.loads((root / entry["truth"]).read_text())["plan"]
    notes = tuple(Note(n["pitch"], n["start"], n["dur"]) for n in plan["melody"])
    return Melody(entry["tune_id"], entry["title"], None, "", notes, (0.0,), 1.0, 1.0, "", 0, "major")


NOSONG = {"held": 1, "noise": 1}


def test_build_then_reuse(tune_cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "eval"
    m = build_dataset(
        root, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=3, seed=3, workers=2, cache_dir=tune_cache,
        n_nosong=NOSONG,
    )
    assert m == load_manifest(root) | {"build": m["build"]}
    assert len(m["songs"]) == 3 and len(m["outside"]) == 3
    assert sum(s["sung"] for s in m["songs"]) >= 1  # ≥ 1/3 sung
    for s in m["songs"]:
        f = root / s["file"]
        assert f.parent.name == "songs" and f.suffix[1:] == s["format"] and 30 <= s["duration_s"] <= 90
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(f)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert abs(float(probe.stdout) - s["duration_s"]) < 0.2

    assert len(m["outside"]) / (len(m["songs"]) + len(m["outside"])) >= 0.3
    kinds = sorted(q["kind"] for q in m["queries"] if q["song"])
    assert kinds == ["hummed", "recorded", "sung"]
    song_ids = {s["id"] for s in m["songs"]}
    for q in m["queries"]:
        assert (root / q["file"]).exists() and (root / q["truth"]).exists()
        assert q["song"] in song_ids or (q["song"] is None and q["id"].startswith(("outside-", "nosong-")))
        if q["kind"] == "nosong":
            continue
        assert 0 <= q["offset_s"] <= 90 and 0.75 <= q["tempo"] <= 1.25 and abs(q["key_shift"]) <= 6

    # every song and query is on one side of the split; a query on its source song's side
    for s in m["songs"] + m["outside"]:
        assert s["split"] == split_of(s["id"])
    for q in m["queries"]:
        assert q["split"] == split_of(q["source"] if q["kind"] != "nosong" else q["id"])

    # no-song queries: their subkinds, no song, and the planned length
    nosong = [q for q in m["queries"] if q["kind"] == "nosong"]
    assert sorted(q["subkind"] for q in nosong) == ["held", "noise"]
    for q in nosong:
        assert q["song"] is None and q["source"] is None and 5 <= q["duration_s"] <= 12
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(root / q["file"])],
            capture_output=True,
            text=True,
            check=True,
        )
        assert abs(float(probe.stdout) - q["duration_s"]) < 0.1

    # out-of-catalog queries come from tunes that are not in the catalog, not even as variants
    outside = [q for q in m["queries"] if q["song"] is None and q["kind"] != "nosong"]
    assert sorted(q["kind"] for q in outside) == ["hummed", "recorded", "sung"]
    catalog = [_melody_of(root, s) for s in m["songs"]]
    for q in outside:
        src = next(o for o in m["outside"] if o["id"] == q["source"])
        assert src["id"] not in song_ids and not any(is_variant(_melody_of(root, src), c) for c in catalog)
        assert (src["file"] is not None) == (q["kind"] == "recorded")  # only recordings need its audio

    # a re-run renders nothing and leaves every file as it was
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    again = build_dataset(
        root, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=3, seed=3, workers=2, cache_dir=tune_cache,
        n_nosong=NOSONG,
    )
    assert again["build"]["songs_rendered"] == 0 and again["build"]["queries_rendered"] == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    assert {k: v for k, v in again.items() if k != "build"} == {k: v for k, v in m.items() if k != "build"}

    # another seed gives another data set in the same folder, without the old files
    other = build_dataset(
        root,
        n_songs=1,
        n_queries_per_kind={"hummed": 1},
        n_out_of_catalog=0,
        n_nosong=0,
        seed=4,
        workers=2,
        cache_dir=tune_cache,
    )
    on_disk = {str(p.relative_to(root)) for p in (root / "songs").iterdir()}
    assert on_disk == {s["file"] for s in other["songs"]}
    assert sorted(p.name for p in (root / "queries").iterdir()) == ["hummed-000.ogg"]
