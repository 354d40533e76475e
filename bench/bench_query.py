"""Query latency and import throughput of the service on the embedded (local) index.

For each embedder set (melody+harmony, panns, all three by default) it:

1. imports ``--real`` real songs (synthetic tunes rendered by the test helpers, ~30 s each) through
   ``HumService.add_song`` and reports import throughput (seconds of audio per wall second);
2. fills the index up to ``--songs`` songs with filler vectors (unit random vectors, 3.5-minute
   songs' worth of segments for each embedder), since embedding 1,000 real songs on 2 CPU cores
   would take hours — the search cost depends on the number of segments, not on their content;
3. runs ``--queries`` 10-second Opus voice notes of the real songs and prints p50/p95 latency per
   stage (decode, embed, search, rerank, clip) and end to end. Filler songs get a random-walk
   melody contour (and chroma frames for harmony) too, so the re-ranking of
   ``search.rerank_candidates`` songs costs what it would on real 3.5-minute songs.

PANNs runs on a randomly initialised checkpoint (same architecture and cost as the real one;
its vectors mean nothing, so accuracy is not measured here: see ``humbot eval``).

Usage: .venv/bin/python bench/bench_query.py [--songs 1000] [--real 8] [--queries 30]
       [--fingerprints-db eval-data/fp-scale/fingerprints.db | --no-fingerprint] [--override JSON]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from audio_fixtures import SR, encode, tune  # noqa: E402

from bot.config import parse_config  # noqa: E402
from bot.wiring import build_service  # noqa: E402
from core.catalog import new_song  # noqa: E402
from core.embedders import harmony  # noqa: E402
from core.embedders.melody import FRAME_RATE  # noqa: E402
from core.types import Segments  # noqa: E402

SONG_SECONDS = 210.0  # filler songs: 3.5 minutes
SEGMENT_HOPS = {"melody": 1.0, "panns": 5.0, "harmony": 1.0}


def _filler_segments(rng: np.random.Generator, specs: dict) -> dict[str, Segments]:
    out = {}
    for name, spec in specs.items():
        n = int(SONG_SECONDS / SEGMENT_HOPS[name])
        v = rng.standard_normal((n, spec.dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[name] = Segments(np.arange(n, dtype=np.float32) * SEGMENT_HOPS[name], v)
    return out


def _filler_contour(rng: np.random.Generator) -> np.ndarray:
    """A 3.5-minute melody-like contour (MIDI per 0.1 s contour frame): a random walk of held notes, with rests."""
    n = int(SONG_SECONDS * FRAME_RATE)
    notes = 60 + np.cumsum(rng.integers(-3, 4, size=n // 4 + 1))[np.arange(n) // 4]
    return np.where(rng.random(n) < 0.1, np.nan, notes).astype(np.float32)


def _filler_chroma(rng: np.random.Generator) -> np.ndarray:
    """3.5 minutes of (12, frames) unit chroma columns at the harmony frame rate."""
    c = rng.random((12, int(SONG_SECONDS * harmony.FRAME_RATE))).astype(np.float32)
    return c / np.linalg.norm(c, axis=0, keepdims=True)


def cpu_probe() -> str:
    """A fixed amount of pure-Python and BLAS work, timed: this VM's speed drifts by ±40 % over
    hours, so figures from different runs compare only together with their probe."""
    t = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    py_ms = (time.perf_counter() - t) * 1000
    a = np.random.default_rng(0).random((1000, 1000))
    t = time.perf_counter()
    for _ in range(20):
        a @ a
    return f"CPU probe: Python loop {py_ms:.0f} ms, 20 matmuls {(time.perf_counter() - t) * 1000:.0f} ms (lower is faster)"


def _merged(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys set, nested sections merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


async def run(embedders: str, args: argparse.Namespace, checkpoint: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{embedders}-"))
    cfg = parse_config(_merged({
        "embedders": {"device": "cpu", "panns": {"enabled": "panns" in embedders, "checkpoint": str(checkpoint)},
                      "melody": {"enabled": "melody" in embedders},
                      "harmony": {"enabled": "harmony" in embedders},
                      "fingerprint": {"enabled": not args.no_fingerprint,
                                      **({"speeds": args.fingerprint_speeds} if args.fingerprint_speeds else {})}},
    }, json.loads(args.override)), data_dir=tmp)
    svc = build_service(cfg)
    await svc.start()
    if args.fingerprints_db and svc.fingerprints is not None:
        # A store of real music's landmarks (bench/bench_fingerprint_index.py), copied in after the
        # start-up reconciliation (which would remove its songs: they are not in this catalog).
        import shutil

        for suffix in ("-wal", "-shm"):
            Path(f"{svc.fingerprints.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(args.fingerprints_db, svc.fingerprints.path)
        print(f"[{embedders}] fingerprints: {(await svc.fingerprints.stats()).songs} songs from {args.fingerprints_db}")
    try:
        songs = {seed: encode(tune(seed, notes=64), "flac") for seed in range(1, args.real + 1)}
        audio_s = sum(len(tune(seed, notes=64)) / SR for seed in songs)
        t0 = time.perf_counter()
        c0 = time.process_time()
        for seed, data in songs.items():
            await svc.add_song(data, filename=f"real{seed}.flac", title=f"real {seed}")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"[{embedders}] import: {args.real} songs, {audio_s:.0f} s of audio in {wall:.1f} s wall "
              f"→ {audio_s / wall:.1f} s audio / wall s; {cpu / (audio_s / 60):.1f} CPU s per minute of audio")

        rng = np.random.default_rng(0)
        specs = {n: e.spec for n, e in svc.embedders.items()}
        # Every filler shares one file (hard links), so a filler that wins a query gets its clip
        # cut like any song's: the clip stage is timed, not skipped.
        filler_audio = tmp / "filler.flac"
        filler_audio.write_bytes(encode((0.01 * rng.standard_normal(int(SONG_SECONDS * SR))).astype(np.float32), "flac"))
        t0 = time.perf_counter()
        for i in range(args.songs - args.real):
            song = new_song(sha256=hashlib.sha256(str(i).encode()).hexdigest(), ext=".flac", title=f"filler {i}", artist=None,
                            duration_s=SONG_SECONDS, source_name="filler", added_by="bench")
            await svc.index.upsert(song, _filler_segments(rng, specs))
            path = svc.catalog.file_path(song.sha256, song.ext)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(filler_audio, path)
            if "melody" in specs:  # a melody contour to re-rank against, as real songs have
                svc.catalog.store_features("melody", song.song_id, _filler_contour(rng))
            if "harmony" in specs:
                svc.catalog.store_features("harmony", song.song_id, _filler_chroma(rng))
            svc.catalog.add(song)
        stats = await svc.index.stats()
        print(f"[{embedders}] index: {stats.songs} songs, segments {stats.segments} "
              f"(filled in {time.perf_counter() - t0:.0f} s)")

        timings: dict[str, list[float]] = {}
        hits = 0
        for k in range(args.queries):
            seed = 1 + k % args.real
            y = tune(seed, notes=64, voice=True, shift=(k % 5) - 2)
            start = int((k % 3) * 5 * SR)
            note = encode(y[start : start + 10 * SR], "ogg")
            resp = await svc.search(note, filename="q.ogg")
            hits += resp.results[0].song.title == f"real {seed}"
            for stage, ms in resp.timings_ms.items():
                timings.setdefault(stage, []).append(ms)
        print(f"[{embedders}] {args.queries} queries of 10 s, top-1 on the real songs {hits}/{args.queries}")
        for stage in ("decode", "embed", "search", "rerank", "clip", "total"):
            xs = timings[stage][1:]  # the first query warms caches (numba, ONNX): reported apart
            print(f"[{embedders}]   {stage:7s} p50 {pct(xs, 50):7.1f} ms   p95 {pct(xs, 95):7.1f} ms")
        print(f"[{embedders}]   first query total {timings['total'][0]:.0f} ms (cold)")
    finally:
        await svc.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--songs", type=int, default=1000)
    p.add_argument("--real", type=int, default=8)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--embedders", default="melody+harmony,panns,melody+harmony+panns")
    p.add_argument("--no-fingerprint", action="store_true", help="without the landmark fingerprint path")
    p.add_argument("--fingerprint-speeds", type=lambda v: [float(x) for x in v.split(",")],
                   help="playback speeds the fingerprint path tries (default: the configuration's)")
    p.add_argument("--fingerprints-db", type=Path,
                   help="a fingerprint store to search (e.g. eval-data/fp-scale/fingerprints.db, 1,000 songs)")
    p.add_argument("--override", default="{}",
                   help='JSON merged into the configuration, e.g. \'{"search": {"probe_candidates": 0}}\'')
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {cpu_probe()}")
    from core.embedders.panns import write_random_checkpoint

    ckpt = Path(tempfile.gettempdir()) / "humbot-bench-cnn14.pth"
    if not ckpt.exists():
        write_random_checkpoint(ckpt)
    for emb in args.embedders.split(","):
        asyncio.run(run(emb, args, ckpt))


if __name__ == "__main__":
    main()
