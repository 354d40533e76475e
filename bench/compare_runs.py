"""Two eval runs of the same queries side by side: top-1 and how many confident answers stay confident.

    .venv/bin/python bench/compare_runs.py eval-data/rerun13 eval-data/dup13

Used for the duplicates experiment (BENCHMARKS.md §5): ``eval-data/rerun13`` searched the
300-song catalog, ``eval-data/dup13`` the same catalog with a re-encoded copy of every song kept
as a version (made by ``bench/rerun_eval.py … --duplicates``). Rows are matched by query id; a
result counts as the expected song when it is that song or a version of it (``humbot eval``'s
rows already say so in ``rank``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _rows(run: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (run / "queries.jsonl").read_text().splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    before, after = _rows(args.before), _rows(args.after)
    for split in ("held-out", "fit", "all"):
        ids = [i for i, r in before.items() if i in after and (split == "all" or r["split"] == split)]
        inside = [i for i in ids if before[i]["expected"]]
        top1 = [sum(run[i]["rank"] == 1 for i in inside) / max(len(inside), 1) for run in (before, after)]
        sure = [i for i in inside if before[i]["match"] and before[i]["rank"] == 1]
        kept = sum(after[i]["match"] and after[i]["rank"] == 1 for i in sure)
        false = [sum(run[i]["match"] for i in ids if not run[i]["expected"]) for run in (before, after)]
        print(f"{split:9s} in-catalog top-1 {top1[0]:.1%} → {top1[1]:.1%}; right confident answers still "
              f"confident and right: {kept} of {len(sure)} ({kept / max(len(sure), 1):.1%}); out-of-catalog "
              f"and no-song matches {false[0]} → {false[1]} of {len(ids) - len(inside)}")


if __name__ == "__main__":
    main()
