"""``python -m evaluation.evalset OUT_DIR [--songs N] [--queries N] [--outside N] [--outside-songs N]
[--nosong N] [--seed S] [--demo]``:
build (or refresh) a data set and print its build figures."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from evaluation.evalset.dataset import build_dataset, demo_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.evalset", description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--songs", type=int, default=300)
    ap.add_argument("--queries", type=int, default=40, help="queries per kind (hummed, sung, recorded)")
    ap.add_argument("--outside", type=int, default=60, help="out-of-catalog queries")
    ap.add_argument(
        "--outside-songs",
        type=int,
        default=None,
        help="tunes held out of the catalog (default: 30 %% of all tunes)",
    )
    ap.add_argument("--nosong", type=int, default=12, help="no-song queries per subkind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument(
        "--family",
        choices=("a", "b", "t"),
        default="a",
        help="generator family: a (choices are made on its fit split), b (other means, only reported) "
        "or t (B's kind of material from training parts only; choices are made on all of it)",
    )
    ap.add_argument("--demo", action="store_true", help="the demo preset: 10 songs, 2 hummed queries")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def progress(what: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"  {what}: {done}/{total}", file=sys.stderr)

    if args.demo:
        m = demo_dataset(args.out_dir, seed=args.seed, workers=args.workers, progress=progress)
    else:
        m = build_dataset(
            args.out_dir,
            args.songs,
            args.queries,
            args.outside,
            args.seed,
            n_outside=args.outside_songs,
            n_nosong=args.nosong,
            family=args.family,
            workers=args.workers,
            progress=progress,
        )
    print(json.dumps(m["build"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
