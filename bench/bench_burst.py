"""Fairness under load: a lone search's latency, then a burst of simultaneous searches.

It imports ``--real`` real songs (synthetic tunes rendered by the test helpers, ~30 s each)
through ``HumService.add_song``, fills the index up to ``--songs`` songs with filler vectors and
contours (as ``bench/bench_query.py`` does), then:

1. runs two warm-up searches (numba, ONNX Runtime), then ``--lone`` searches one after the other:
   a lone search's latency (median);
2. starts ``--burst`` 10-second voice notes at once (one task each, created in order) and prints
   when the first answer came, the p50, p95 and the last, and in what order the answers came
   back (a fair service answers them about in arrival order, the first one in about a lone
   search's time; one that interleaves every request's jobs answers them all near the end).

``--fifo`` swaps in the work pool's job-order mode (jobs in submission order, whatever request
they belong to: the service's behaviour before issue #16 item 9) for an A/B in one process.

Usage: .venv/bin/python bench/bench_burst.py [--songs 200] [--real 8] [--burst 20] [--lone 3]
       [--embedders melody+harmony+panns] [--no-fingerprint] [--fifo]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from audio_fixtures import SR, encode, tune  # noqa: E402
from bench_query import SONG_SECONDS, _filler_chroma, _filler_contour, _filler_segments, cpu_probe, pct  # noqa: E402

from bot.config import parse_config  # noqa: E402
from bot.wiring import build_service  # noqa: E402
from core.catalog import new_song  # noqa: E402


def _note(k: int, real: int) -> tuple[int, bytes]:
    """The k-th query: 10 s of a real song, hummed (another key and start for each k)."""
    seed = 1 + k % real
    y = tune(seed, notes=64, voice=True, shift=(k % 5) - 2)
    start = int((k % 3) * 5 * SR)
    return seed, encode(y[start : start + 10 * SR], "ogg")


async def run(args: argparse.Namespace, checkpoint: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    emb = args.embedders
    cfg = parse_config({
        "embedders": {"device": "cpu", "panns": {"enabled": "panns" in emb, "checkpoint": str(checkpoint)},
                      "melody": {"enabled": "melody" in emb}, "harmony": {"enabled": "harmony" in emb},
                      "fingerprint": {"enabled": not args.no_fingerprint}},
        "limits": {"workers": args.workers, "max_queued": max(32, args.burst + 8)},
    }, data_dir=tmp)
    svc = build_service(cfg)
    if args.fifo:
        from core.scheduler import PriorityPool

        svc.admission.pool.shutdown(wait=True)
        svc.admission.pool = PriorityPool(args.workers, by_request=False)
    await svc.start()
    try:
        t0 = time.perf_counter()
        for seed in range(1, args.real + 1):
            await svc.add_song(encode(tune(seed, notes=64), "flac"), filename=f"real{seed}.flac", title=f"real {seed}")
        rng = np.random.default_rng(0)
        specs = {n: e.spec for n, e in svc.embedders.items()}
        for i in range(args.songs - args.real):
            song = new_song(sha256=hashlib.sha256(str(i).encode()).hexdigest(), ext=".flac", title=f"filler {i}",
                            artist=None, duration_s=SONG_SECONDS, source_name="filler", added_by="bench")
            await svc.index.upsert(song, _filler_segments(rng, specs))
            if "melody" in specs:
                svc.catalog.store_features("melody", song.song_id, _filler_contour(rng))
            if "harmony" in specs:
                svc.catalog.store_features("harmony", song.song_id, _filler_chroma(rng))
            svc.catalog.add(song)
        print(f"[{emb}] catalog: {args.songs} songs ({args.real} real) in {time.perf_counter() - t0:.0f} s; "
              f"workers {args.workers}; pool {type(svc.admission.pool).__name__}"
              f"{' (job order)' if args.fifo else ''}")

        notes = [_note(k, args.real) for k in range(max(args.burst, args.lone + 2))]
        for _, note in notes[:2]:  # warm-up: numba's compilation, ONNX Runtime's first runs
            await svc.search(note, filename="q.ogg")
        lone = []
        for _, note in notes[2 : 2 + args.lone]:
            t = time.perf_counter()
            await svc.search(note, filename="q.ogg")
            lone.append(time.perf_counter() - t)
        print(f"[{emb}] lone search: median {statistics.median(lone):.2f} s "
              f"({', '.join(f'{x:.2f}' for x in lone)})")

        done_at: dict[int, float] = {}
        order: list[int] = []
        hits = 0

        async def one(k: int) -> None:
            nonlocal hits
            seed, note = notes[k]
            resp = await svc.search(note, filename="q.ogg")
            done_at[k] = time.perf_counter() - start
            order.append(k)
            hits += bool(resp.results) and resp.results[0].song.title == f"real {seed}"

        start = time.perf_counter()
        await asyncio.gather(*(asyncio.create_task(one(k)) for k in range(args.burst)))
        xs = sorted(done_at.values())
        in_order = sum(1 for a, b in zip(order, order[1:]) if a < b)
        print(f"[{emb}] burst of {args.burst}: first {xs[0]:.1f} s, p50 {pct(xs, 50):.1f} s, "
              f"p95 {pct(xs, 95):.1f} s, last {xs[-1]:.1f} s; top-1 {hits}/{args.burst}")
        print(f"[{emb}]   answers in order of arrival: {in_order}/{args.burst - 1} consecutive pairs; "
              f"completion order {order}")
        print(f"[{emb}]   latency by arrival: {', '.join(f'{done_at[k]:.1f}' for k in range(args.burst))}")
    finally:
        await svc.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--songs", type=int, default=200)
    p.add_argument("--real", type=int, default=8)
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--lone", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--embedders", default="melody+harmony+panns")
    p.add_argument("--no-fingerprint", action="store_true", help="without the landmark fingerprint path")
    p.add_argument("--fifo", action="store_true", help="the pool in job order (the behaviour before item 9)")
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {cpu_probe()}")
    ckpt = Path(tempfile.gettempdir()) / "humbot-bench-cnn14.pth"
    if "panns" in args.embedders and not ckpt.exists():
        from core.embedders.panns import write_random_checkpoint

        write_random_checkpoint(ckpt)
    asyncio.run(run(args, ckpt))


if __name__ == "__main__":
    main()
