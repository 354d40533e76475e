"""Are two eval runs' per-query rows the same, latency aside? Exit 1 and list the differences if not.

    .venv/bin/python bench/same_rows.py BEFORE/queries.jsonl AFTER/queries.jsonl

The check behind "no behaviour change" for a refactor (issue 17): the same queries on the same
catalog must get the same ranks, scores, confidences, offsets, reasons and evidence.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Fields that measure the machine, not the search.
IGNORED = frozenset({"latency_ms"})


def rows(path: Path) -> dict[str, dict[str, object]]:
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[row["id"]] = {k: v for k, v in row.items() if k not in IGNORED}
    return out


def main() -> int:
    before, after = (rows(Path(p)) for p in sys.argv[1:3])
    diffs = [qid for qid in sorted(before.keys() | after.keys()) if before.get(qid) != after.get(qid)]
    for qid in diffs[:20]:
        b, a = before.get(qid) or {}, after.get(qid) or {}
        keys = sorted(k for k in b.keys() | a.keys() if b.get(k) != a.get(k))
        print(f"{qid}: " + "; ".join(f"{k}: {b.get(k)!r} -> {a.get(k)!r}" for k in keys))
    print(f"{len(before)} rows before, {len(after)} after, {len(diffs)} differ (latency ignored)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
