"""`humbot eval` end to end on a tiny data set: real import, real search, report and plot.

(Lives beside the data-set tests to share their parsed-corpus cache; it tests bot/evaluate.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import parse_config
from bot.evalset.dataset import build_dataset
from bot.evaluate import run_eval


def test_eval_reports_every_query_and_plots(tune_cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "set"
    build_dataset(root, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=3, seed=5, workers=2, cache_dir=tune_cache)
    cfg = parse_config({"embedders": {"panns": {"enabled": False}}}, data_dir=tmp_path / "data")
    report = run_eval(cfg, root / "manifest.json", tmp_path / "out", progress=False)

    assert report.songs == 3 and set(report.embedders) == {"melody", "harmony"}
    assert [k.kind for k in report.kinds] == ["hummed", "recorded", "sung"] and report.overall.n == 3
    assert report.out_of_catalog == 3 and not report.failures
    assert report.import_cpu_s_per_audio_min > 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "queries.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    # A recording of a catalog song among three is found, and at the passage it was cut from.
    manifest = json.loads((root / "manifest.json").read_text())
    recorded = next(q for q in manifest["queries"] if q["kind"] == "recorded" and q["song"])
    row = next(r for r in rows if r["file"] == recorded["file"])
    assert row["rank"] == 1 and abs(row["offset_s"] - recorded["offset_s"]) <= 3.0
    png = tmp_path / "out" / "eval.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["overall"]["n"] == 3
