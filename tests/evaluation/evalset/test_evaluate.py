"""`humbot eval` end to end on a tiny data set: real import, real search, report and plot.

(Lives beside the data-set tests to share their parsed-corpus cache; it tests evaluation/evaluate.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import parse_config
from evaluation.evalset.dataset import build_dataset
from evaluation.evaluate import run_eval


def test_eval_reports_every_query_and_plots(tune_cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "set"
    build_dataset(root, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=3, seed=5, workers=2, cache_dir=tune_cache,
                  n_nosong={"held": 1, "siren": 1})
    cfg = parse_config({"embedders": {"panns": {"enabled": False}}}, data_dir=tmp_path / "data")
    report = run_eval(cfg, root / "manifest.json", tmp_path / "out", progress=False)

    assert report.songs == 3 and set(report.embedders) == {"melody", "harmony"}
    assert [k.kind for k in report.kinds] == ["hummed", "recorded", "sung"] and report.overall.n == 3
    assert report.out_of_catalog == 3 and not report.failures
    assert report.import_cpu_s_per_audio_min > 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "queries.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    assert {r["split"] for r in rows} <= {"fit", "held-out"} and all(r["catalog_size"] == 3 for r in rows)
    nosong = [r for r in rows if r["kind"] == "nosong"]
    assert sorted(r["subkind"] for r in nosong) == ["held", "siren"] and all(r["expected"] is None for r in nosong)
    # the no-song family is reported per subkind, and every split is named in the text
    assert [s.subkind for s in report.splits["all"].nosong] == ["held", "siren"]
    assert report.splits["all"].nosong_n == 2 and report.splits["all"].reliability.n == 8
    text = report.as_text()
    assert text.index("split: held-out") < text.index("split: fit") < text.index("split: all") and "ECE" in text
    # A recording of a catalog song among three is found, and at the passage it was cut from.
    manifest = json.loads((root / "manifest.json").read_text())
    recorded = next(q for q in manifest["queries"] if q["kind"] == "recorded" and q["song"])
    row = next(r for r in rows if r["file"] == recorded["file"])
    assert row["rank"] == 1 and abs(row["offset_s"] - recorded["offset_s"]) <= 3.0
    png = tmp_path / "out" / "eval.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["overall"]["n"] == 3 and set(saved["splits"]) == {"fit", "held-out", "all"}
    assert len(saved["splits"]["held-out"]["reliability"]["bins"]) == 10


def test_duplicates_are_recognised_and_answers_stay(tune_cache: Path, tmp_path: Path) -> None:
    """``humbot eval --duplicates``: every song imported again, re-encoded, as a version of itself."""
    import inspect

    from core.service import HumService

    if "on_duplicate" not in inspect.signature(HumService.add_song).parameters:
        pytest.skip("HumService.add_song(on_duplicate=...) and AddResult.duplicate_of are not there yet")
    root = tmp_path / "set"
    build_dataset(root, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=1, seed=5, workers=2, cache_dir=tune_cache,
                  n_nosong={"noise": 1})
    cfg = parse_config({"embedders": {"panns": {"enabled": False}}}, data_dir=tmp_path / "data")
    report = run_eval(cfg, root / "manifest.json", tmp_path / "out", progress=False, duplicates=True)
    d = report.duplicates
    assert d is not None and d.copies == 3 and not d.failures
    assert d.recognised == 1.0 and d.catalog_size == 3 + round(3 * d.stored)
    assert d.top1_either >= d.top1_before and d.still_confident == 1.0
    assert len((tmp_path / "out" / "duplicates.jsonl").read_text().splitlines()) == 5
    assert "duplicates:" in report.as_text()
