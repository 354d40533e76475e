"""Run ``bench/bench_fingerprint.py`` with landmark or matching constants overridden (a lab run).

    .venv/bin/python bench/fingerprint_variant.py FANOUT=10 -- --work eval-data/fp --queries 200 \\
        --negatives 300 --dump /tmp/fan10.jsonl

``NAME=VALUE`` sets :mod:`core.fingerprint.landmarks`' ``NAME``; ``M.NAME=VALUE`` sets
:mod:`core.fingerprint.matching`'s. Values are Python literals. The bench's caches are keyed by
the landmark constants, so a variant gets its own landmarks and index beside the shipped ones.
Choose on the fit split's lines only (BENCHMARKS.md §6).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fingerprint  # noqa: E402
from core.fingerprint import matching  # noqa: E402


def main() -> None:
    if "--" not in sys.argv:
        sys.exit(__doc__)
    cut = sys.argv.index("--")
    for assignment in sys.argv[1:cut]:
        name, value = assignment.split("=", 1)
        module = matching if name.startswith("M.") else bench_fingerprint.lm_mod
        name = name.removeprefix("M.")
        if not hasattr(module, name):
            sys.exit(f"{module.__name__} has no constant {name}")
        setattr(module, name, ast.literal_eval(value))
    sys.argv = ["bench_fingerprint.py", *sys.argv[cut + 1 :]]
    bench_fingerprint.main()


if __name__ == "__main__":
    main()
