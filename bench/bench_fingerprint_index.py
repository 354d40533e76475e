"""Fingerprint store at catalog scale: query time, size per hour of audio, import cost (issue 15).

Songs are the real tracks' landmarks from ``bench/bench_fingerprint.py``'s cache, each used again
with its times shifted by a random offset (so the hash mix, and the length of every posting list,
is that of real music; a catalog of N songs holds each real track about N/166 times). Queries
are that bench's rendered phone recordings (10 s), with every speed variant. This measures speed
and size only: the copies make accuracy meaningless here.

    .venv/bin/python bench/bench_fingerprint_index.py --work eval-data/fp --songs 10000 [--backend local] [--batch 1000]
    .venv/bin/python bench/bench_fingerprint_index.py --work eval-data/fp --songs 10000 --backend elasticsearch \
        --out eval-data/fp-scale10k-es --batch 100 [--heap 4g]

With ``--backend elasticsearch`` and no ``--es-url``, a node of the test distribution
(``tests/es_server.py``) is started with its data under ``--out``, so a second run goes on
where the first stopped (and can time queries alone, on an idle machine, with ``--songs`` reached).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import audio  # noqa: E402
from core.fingerprint import landmarks as lm_mod  # noqa: E402


def make_index(backend: str, directory: Path, es_url: str | None, es_timeout_s: float = 3.0):
    if backend == "local":
        from core.index.fingerprint_local import LocalFingerprintIndex

        return LocalFingerprintIndex(directory)
    from core.index.fingerprint_es import ElasticsearchFingerprintIndex
    from core.settings import ElasticsearchConfig

    return ElasticsearchFingerprintIndex(ElasticsearchConfig(hosts=[es_url], index="bench-fp", search_timeout_s=es_timeout_s))


async def main_async(args) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fingerprint import landmark_key

    lm_dir = args.work / f"landmarks-{landmark_key()}"
    files = sorted(glob.glob(f"{lm_dir}/*.npz"))
    real = [np.load(f) for f in files]
    print(f"{len(real)} real tracks' landmarks from {lm_dir}")
    server = None
    if args.backend == "elasticsearch" and args.es_url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from es_server import EsServer

        args.out.mkdir(parents=True, exist_ok=True)
        server = EsServer(heap=args.heap, run_dir=args.out.resolve())
        server.start()
        args.es_url = server.url
        print(f"Elasticsearch {server.version}, heap {args.heap}, data under {args.out}")
    try:
        await run(args, real)
    finally:
        if server is not None:
            server.close()


async def run(args, real: list) -> None:
    index = make_index(args.backend, args.out, args.es_url, args.es_timeout)
    await index.open()
    have = await index.stats()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    added_s = 0.0
    batch: list[tuple[str, lm_mod.Landmarks]] = []
    for i in range(have.songs, args.songs):
        z = real[i % len(real)]
        shift = int(rng.integers(0, 600))
        lm = lm_mod.Landmarks(z["hashes"], z["times"] + shift, float(z["duration_s"]) + shift / lm_mod.FRAME_RATE,
                              z["peak_frames"] + shift, z["peak_bins"])
        batch.append((f"song-{i:06d}", lm))
        added_s += lm.duration_s
        if len(batch) == args.batch or i + 1 == args.songs:
            await index.add_many(batch)  # a batch of one is one add
            batch = []
        if (i + 1) % 1000 == 0:
            el = time.perf_counter() - t0
            print(f"  {i + 1} songs, {el:.0f} s: {el / (added_s / 60):.3f} s per audio minute to store", flush=True)
    if args.backend == "elasticsearch":  # the store's size on disk counts flushed segments only
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{args.es_url}/_flush", method="POST")).read()
    st = await index.stats()
    print(f"{args.backend}: {st.songs} songs, {st.hashes:,} hashes, {st.audio_s / 3600:.0f} h of audio, "
          f"{(st.size_bytes or 0) / 2**30:.2f} GiB = {(st.size_bytes or 0) / 2**20 / (st.audio_s / 3600):.1f} MiB per hour")
    queries = sorted(glob.glob(str(args.work / "queries-*/*.ogg")))[:: 4][: args.queries]
    lat, lookup_only = [], []
    for q in queries:
        a = audio.decode_file(Path(q), sample_rate=lm_mod.SAMPLE_RATE, max_seconds=10)
        variants = lm_mod.query_variants(a.samples, args.speeds)
        t = time.perf_counter()
        await index.search(variants, top_k=10)
        lat.append((time.perf_counter() - t) * 1000)
        hashes = np.unique(np.concatenate([v.hashes for _, v in variants]))
        t = time.perf_counter()
        await index.lookup(hashes)
        lookup_only.append((time.perf_counter() - t) * 1000)
    print(f"search ({len(lat)} phone recordings ≤ 10 s, speeds {args.speeds}): "
          f"p50 {np.median(lat):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms (lookup alone p50 {np.median(lookup_only):.0f} ms)")
    await index.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("eval-data/fp"))
    ap.add_argument("--out", type=Path, default=Path("eval-data/fp-scale"))
    ap.add_argument("--songs", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1,
                    help="songs per add_many (1: one add per song, as an import does)")
    ap.add_argument("--backend", choices=("local", "elasticsearch"), default="local")
    ap.add_argument("--es-url", default=None, help="a running cluster (default: start a node under --out)")
    ap.add_argument("--heap", default="4g", help="the started node's heap")
    ap.add_argument("--es-timeout", type=float, default=30.0,
                    help="search timeout, s (the service's default, 3 s, fails a cold 10k-song search)")
    ap.add_argument("--speeds", type=lambda v: tuple(float(x) for x in v.split(",")), default=lm_mod.SPEEDS)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
