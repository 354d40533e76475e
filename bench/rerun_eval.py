"""Re-run an evaluation's queries on the catalog it already imported, with search settings changed.

    .venv/bin/python bench/rerun_eval.py eval-data/report6/melody+harmony --out eval-data/rerun-300 \
        --search '{"candidates": 300, "rerank_candidates": 300}'

`humbot eval` imports every song afresh (about 10 minutes for 300 songs here). A change to the
search — candidates, fusion, calibration — does not change what is stored, so its effect can be
measured on the stored catalog in the time the queries take. The embedders are read from the
run folder's name (``melody+harmony``); the import line of the report then reads 0 CPU s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.config import load_config
from evaluation.evaluate import run_eval, variant_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="an eval run folder, e.g. eval-data/report6/melody+harmony")
    ap.add_argument("--out", type=Path, required=True, help="where the new report, rows and plot go")
    ap.add_argument("--dataset", type=Path, default=Path("eval-data/dataset"))
    ap.add_argument("--config", type=Path, default=Path("config.yaml"))
    ap.add_argument("--search", default="{}", help="JSON object of search settings to override")
    ap.add_argument("--split", default="held-out", choices=("held-out", "fit", "all"),
                    help="the split reported first (choose settings on fit, report on held-out)")
    ap.add_argument("--duplicates", action="store_true",
                    help="then import a re-encoded copy of every song as a version and search again "
                         "(it writes to the run's catalog: copy the run folder first)")
    args = ap.parse_args()

    cfg = variant_config(load_config(args.config), args.run.name, args.run / "data")
    search = cfg.search.model_validate({**cfg.search.model_dump(), **json.loads(args.search)})
    cfg = cfg.model_copy(update={"search": search})
    report = run_eval(cfg, args.dataset / "manifest.json", args.out, headline=args.split,
                      duplicates=args.duplicates)
    print(report.as_text())


if __name__ == "__main__":
    main()
