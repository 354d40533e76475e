"""What the query-evidence rules (core.evidence.judge) say of every query of an evaluation set.

    .venv/bin/python bench/evidence_rules.py eval-data/dataset --split fit
    .venv/bin/python bench/evidence_rules.py eval-data/dataset --split held-out

Each query is decoded and cleaned as the service does it, measured (:func:`core.evidence.measure`)
and judged. Printed per kind (and per no-song subkind): how many queries get each reason. A
query of a song must get none (it would lose its answer); a no-song query must get one. The
thresholds in core/evidence.py are chosen on the fit split only; ``--dump`` writes every
query's measures (JSON lines) to look at their distributions.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

from core import audio, evidence
from core.settings import LimitsConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="fit", help="fit | held-out | all")
    ap.add_argument("--dump", type=Path, help="write each query's measures here (JSON lines)")
    args = ap.parse_args()

    limits = LimitsConfig()
    manifest = json.loads((args.dataset / "manifest.json").read_text())
    queries = [q for q in manifest["queries"] if args.split == "all" or q.get("split") == args.split]
    verdicts: dict[str, Counter] = defaultdict(Counter)
    dump = []
    for q in queries:
        raw = audio.decode_bytes((args.dataset / q["file"]).read_bytes(), sample_rate=evidence.SAMPLE_RATE,
                                 max_seconds=limits.max_query_seconds, suffix=Path(q["file"]).suffix)
        ev = evidence.measure(audio.clean(raw, min_seconds=limits.min_query_seconds).samples)
        reason = evidence.judge(ev)
        group = q["kind"] if q["kind"] != "nosong" else f"nosong:{q.get('subkind')}"
        group += "" if q.get("song") or q["kind"] == "nosong" else " (out of catalog)"
        verdicts[group][reason or "passes"] += 1
        dump.append({"file": q["file"], "group": group, "reason": reason, **asdict(ev)})
    names = ["passes", *[r for r in evidence.REASONS if r != evidence.NOT_IN_CATALOG]]
    print(f"split: {args.split}, {len(queries)} queries")
    print(f"{'group':34s} {'n':>4s} " + " ".join(f"{n:>18s}" for n in names))
    for group in sorted(verdicts):
        c = verdicts[group]
        print(f"{group:34s} {sum(c.values()):4d} " + " ".join(f"{c[n]:18d}" for n in names))
    if args.dump:
        args.dump.write_text("".join(json.dumps(d) + "\n" for d in dump))


if __name__ == "__main__":
    main()
