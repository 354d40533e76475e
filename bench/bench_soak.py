"""The soak test of issue #16 from the command line: many users, both platforms, Elasticsearch killed twice.

See ``bench/soak.py`` for what it does and checks. It starts its own Elasticsearch node
(``.ci/install-elasticsearch.sh`` must have run) and the bot in a process of its own, and prints
the figures: updates sent / answered / answered twice / unanswered, latency p50/p95 per kind,
what users were told (errors by type), the outages, the writes (acknowledged, in the catalog,
searchable in Elasticsearch), and the bot's RSS (peak; after warm-up vs at the end).

Usage::

    .venv/bin/python bench/bench_soak.py --users 200 --minutes 5
    .venv/bin/python bench/bench_soak.py --users 20 --minutes 1 --es-kills 1   # a quick look

Exit status 0 when every invariant held (every update answered, none twice, no traceback text,
no acknowledged write lost), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import SoakConfig, format_report, report_json, run_soak  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--songs", type=int, default=15, help="catalog songs before the run")
    p.add_argument("--adds", type=int, default=None, help="plain admin adds during the run (default users/10)")
    p.add_argument("--es-kills", type=int, default=2)
    p.add_argument("--down-s", type=float, default=5.0, help="seconds between a SIGKILL and the restart")
    p.add_argument("--discord-share", type=float, default=0.35)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--es-heap", default="512m")
    p.add_argument("--drain-timeout", type=float, default=240.0,
                   help="after the last update, how long answers may still take (s)")
    p.add_argument("--no-verify", action="store_true", help="skip humming the added songs at the end")
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory (bot log, data)")
    p.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    a = p.parse_args()
    cfg = SoakConfig(users=a.users, minutes=a.minutes, songs=a.songs, adds=a.adds, es_kills=a.es_kills,
                     down_s=a.down_s, discord_share=a.discord_share, seed=a.seed, es_heap=a.es_heap,
                     verify=not a.no_verify, drain_timeout_s=a.drain_timeout, work_dir=a.work_dir, keep=a.keep,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    report = asyncio.run(run_soak(cfg))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"wall time {time.monotonic() - t0:.0f} s")
    print(format_report(report))
    if a.json:
        a.json.write_text(json.dumps(report_json(report), indent=1, default=str))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
