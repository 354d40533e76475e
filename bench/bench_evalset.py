"""Speed of the evaluation-set generator, and how many distinct tunes the corpus offers.

    .venv/bin/python bench/bench_evalset.py --songs 40 --queries 10 --outside 6 [--tunes 400]

Builds a fresh data set in a temporary folder (melodies come from the usual cache) and prints
CPU seconds per song and per query (as measured around each render, children included), the
wall time, and the demo preset's build time. ``--tunes N`` also checks that the corpus yields
N distinct, long-enough tunes (parsing them the first time takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evaluation.evalset import build_dataset, demo_dataset, load_melodies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--outside", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tunes", type=int, default=0)
    args = ap.parse_args()
    if args.tunes:
        t = time.time()
        ms = load_melodies(args.tunes)
        per = {c: sum(m.collection == c for m in ms) for c in sorted({m.collection for m in ms})}
        print(f"corpus: {len(ms)} distinct tunes ≥ 25 s ({time.time() - t:.1f} s); {json.dumps(per)}")
    load_melodies(args.songs + args.outside)  # parse outside the timing
    with tempfile.TemporaryDirectory() as d:
        t = time.time()
        m = build_dataset(Path(d) / "eval", args.songs, args.queries, args.outside, args.seed)
        wall = time.time() - t
        songs = m["songs"]
        audio_s = sum(s["duration_s"] for s in songs)
        b = m["build"]
        n_sung = sum(s["sung"] for s in songs)
        print(
            f"build: {len(songs)} songs ({audio_s / 60:.1f} min of audio, {n_sung} sung), "
            f"{len(m['queries'])} queries in {wall:.1f} s wall"
        )
        print(
            f"CPU per song: {b['cpu_s_per_song']:.2f} s (sung {b['cpu_s_per_song_sung']:.2f}, "
            f"instrumental {b['cpu_s_per_song_instrumental']:.2f}); "
            f"{b['cpu_s_per_song'] * len(songs) / audio_s * 60:.2f} s per minute of audio"
        )
        print(f"CPU per query: {json.dumps(b['cpu_s_per_query'])}")
        t = time.time()
        demo_dataset(Path(d) / "demo")
        print(f"demo preset (10 songs, 2 hummed queries): {time.time() - t:.1f} s wall")


if __name__ == "__main__":
    main()
