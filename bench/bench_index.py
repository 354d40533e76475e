"""Index backends compared: the embedded exact index vs Elasticsearch (a real node), 1k → 100k songs.

For each catalog size it builds both indices from synthetic songs and prints:

* **import**: bulk load (``rebuild``, the ``humbot reindex`` path) in songs/s and segments/s, and
  single-song upserts (the ``add_song`` path: searchable on return) in songs/s, on a sample;
* **query latency** p50/p95 over ``--queries`` searches shaped like the service's: ``--qvecs``
  query vectors (the melody embedder sends one per tempo ratio), ``top_k`` 50; for Elasticsearch
  both ways of sending several vectors (``msearch`` and ``knn_clauses``), plus recall@10 against
  the exact local answer (int8 HNSW is approximate);
* **memory and disk per segment**: local — SQLite file size and the growth of this process's RSS
  when the vectors are loaded; Elasticsearch — store size (after the load, and after a force
  merge to one segment) and the node's RSS (heap is fixed; vectors live in the page cache).

Synthetic songs: ``--segments`` windows per song (default 20: a 3.5-minute song at a 10 s hop),
random unit vectors in ``--dim`` dimensions (default 64, the melody embedder's size). Queries are
noisy copies of random segments, so every query has a true nearest song. The real melody
embedder hops every 1 s (≈200 segments per song); 100k such songs (20M vectors) do not fit a
2-core, 24 GiB machine's time budget, so the segment count is reduced and stated.

``--hybrid`` also measures how to combine two embedders (melody 64-d + PANNs-like 2048-d) on a
1k-song catalog with planted answers: several ``knn`` clauses with boosts in one request, versus
one ``_msearch`` and the service's Python fusion (:func:`core.fusion.fuse`).

Usage::

    .venv/bin/python bench/bench_index.py --sizes 1000 10000 100000 --hybrid
    .venv/bin/python bench/bench_index.py --sizes 1000 --dim 2048   # PANNs-sized vectors

It starts its own Elasticsearch node (``.ci/install-elasticsearch.sh`` must have run), or uses
``--es-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from core.fusion import fuse  # noqa: E402
from core.index.elasticsearch import ElasticsearchIndex  # noqa: E402
from core.index.local import LocalIndex  # noqa: E402
from core.settings import ElasticsearchConfig  # noqa: E402
from core.types import EmbedderSpec, IndexHit, Segments, Song  # noqa: E402

TOP_K = 50


def song(i: int) -> Song:
    return Song(f"s{i:07d}", f"Song {i}", f"Artist {i % 500}", 210.0, f"song{i}.flac", f"{i:064x}", ".flac",
                "bench", datetime(2026, 1, 1, tzinfo=UTC), genre=("pop", "rock", "jazz", "folk")[i % 4])


def vectors(seed: int, n: int, dim: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def song_segments(i: int, specs: dict[str, EmbedderSpec], n: int, hop: float = 10.0) -> dict[str, Segments]:
    return {name: Segments(np.arange(n, dtype=np.float32) * hop, vectors(i * 7919 + k, n, spec.dim))
            for k, (name, spec) in enumerate(specs.items())}


async def stream(n_songs: int, specs: dict[str, EmbedderSpec], n_seg: int,
                 start: int = 0) -> AsyncIterator[tuple[Song, dict[str, Segments]]]:
    for i in range(start, start + n_songs):
        yield song(i), song_segments(i, specs, n_seg)


def queries(n: int, qvecs: int, n_songs: int, n_seg: int, dim: int, noise: float, seed: int = 1) -> list[np.ndarray]:
    """Each query: ``qvecs`` noisy copies of one random segment (different noise), unit rows."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i, j = int(rng.integers(n_songs)), int(rng.integers(n_seg))
        base = vectors(i * 7919, n_seg, dim)[j]
        q = base[None, :] + noise * rng.standard_normal((qvecs, dim), dtype=np.float32) / np.sqrt(dim)
        out.append(q / np.linalg.norm(q, axis=1, keepdims=True))
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p))


def rss_mb(pid: int | None = None) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile"):
            fields[k] = int(v.split()[0]) / 1024
    return fields


def es_jvm_pid(server) -> int | None:
    """The server JVM (the child of the launcher JVM the fixture started)."""
    out = subprocess.run(["pgrep", "-g", str(server.proc.pid), "-f", "org.elasticsearch.bootstrap"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


async def timed_search(ix, name: str, qs: list[np.ndarray], k: int = TOP_K) -> tuple[list[float], list[list[IndexHit]]]:
    lat, res = [], []
    for q in qs:
        t = time.perf_counter()
        res.append(await ix.search(name, q, k))
        lat.append((time.perf_counter() - t) * 1000)
    return lat, res


def recall_at(approx: list[list[IndexHit]], exact: list[list[IndexHit]], k: int = 10) -> float:
    got = [len({h.song_id for h in a[:k]} & {h.song_id for h in e[:k]}) / max(1, min(k, len(e)))
           for a, e in zip(approx, exact)]
    return float(np.mean(got))


def top1_agreement(approx: list[list[IndexHit]], exact: list[list[IndexHit]]) -> float:
    return float(np.mean([bool(a) and bool(e) and a[0].song_id == e[0].song_id for a, e in zip(approx, exact)]))


async def run_size(n_songs: int, args: argparse.Namespace, es_url: str, server, work: Path) -> dict:
    specs = {"melody": EmbedderSpec("melody", "bench", args.dim)}
    n_seg = args.segments
    segs_total = n_songs * n_seg
    tag = f"[{n_songs // 1000}k songs, {segs_total:,} segs, {args.dim}-d]"
    row: dict = {"songs": n_songs, "segments": segs_total}
    qs = queries(args.queries, args.qvecs, n_songs, n_seg, args.dim, args.noise)

    # -- local ---------------------------------------------------------------------------
    ldir = work / f"local-{n_songs}"
    local = LocalIndex(ldir)
    await local.open(specs)
    t = time.perf_counter()
    await local.rebuild(specs, stream(n_songs, specs, n_seg))
    dt = time.perf_counter() - t
    row["local_bulk"] = n_songs / dt
    print(f"{tag} local  bulk load   {n_songs / dt:8.0f} songs/s  {segs_total / dt:9.0f} segs/s  ({dt:.0f} s)")
    gc.collect()
    before = rss_mb()["VmRSS"]
    local = LocalIndex(ldir)  # reopen: loads the vectors
    await local.open(specs)
    await local.search("melody", qs[0], TOP_K)  # packs the matrix
    mem = rss_mb()["VmRSS"] - before
    disk = sum(p.stat().st_size for p in ldir.iterdir())
    row["local_mem_b"], row["local_disk_b"] = mem * 2**20 / segs_total, disk / segs_total
    print(f"{tag} local  memory {mem * 2**20 / segs_total:6.0f} B/seg   disk {disk / segs_total:6.0f} B/seg")
    t = time.perf_counter()
    for i in range(n_songs, n_songs + args.upserts):
        await local.upsert(song(i), song_segments(i, specs, n_seg))
    await local.search("melody", qs[0], TOP_K)  # the next search re-packs the matrix: part of the cost
    dt = time.perf_counter() - t
    row["local_upsert"] = args.upserts / dt
    print(f"{tag} local  upsert      {args.upserts / dt:8.1f} songs/s (one at a time, searchable on return)")
    await timed_search(local, "melody", qs[:3])
    lat, exact = await timed_search(local, "melody", qs)
    row["local_p50"], row["local_p95"] = pct(lat, 50), pct(lat, 95)
    print(f"{tag} local  query {args.qvecs:2d} vectors     p50 {pct(lat, 50):7.1f} ms  p95 {pct(lat, 95):7.1f} ms  (exact)")
    lat1, _ = await timed_search(local, "melody", [q[:1] for q in qs])
    print(f"{tag} local  query  1 vector      p50 {pct(lat1, 50):7.1f} ms  p95 {pct(lat1, 95):7.1f} ms")
    await local.close()
    del local
    gc.collect()
    shutil.rmtree(ldir)

    # -- Elasticsearch -------------------------------------------------------------------
    cfg = ElasticsearchConfig(hosts=[es_url], index=f"bench-{uuid.uuid4().hex[:8]}", request_timeout_s=600,
                              search_timeout_s=60, bulk_chunk_size=args.chunk, bulk_concurrency=args.concurrency)
    es = ElasticsearchIndex(cfg, work)
    t = time.perf_counter()
    await es.rebuild(specs, stream(n_songs, specs, n_seg))
    dt = time.perf_counter() - t
    row["es_bulk"] = n_songs / dt
    print(f"{tag} ES     bulk load   {n_songs / dt:8.0f} songs/s  {segs_total / dt:9.0f} segs/s  ({dt:.0f} s)")
    await es.open(specs)
    raw = es._client()
    t = time.perf_counter()
    for i in range(n_songs, n_songs + args.upserts):
        await es.upsert(song(i), song_segments(i, specs, n_seg))
    dt = time.perf_counter() - t
    row["es_upsert"] = args.upserts / dt
    print(f"{tag} ES     upsert      {args.upserts / dt:8.1f} songs/s (one at a time, refresh: searchable on return)")

    async def es_latency(label: str) -> None:
        for mode in ("msearch", "knn_clauses"):
            es.cfg.multi_query = mode
            await timed_search(es, "melody", qs[:5])  # warm-up
            lat, got = await timed_search(es, "melody", qs)
            rec, top1 = recall_at(got, exact), top1_agreement(got, exact)
            row[f"es_{label}_{mode}"] = (pct(lat, 50), pct(lat, 95), rec)
            print(f"{tag} ES     query {label:6s} {args.qvecs:2d} vectors {mode:11s} p50 {pct(lat, 50):7.1f} ms  "
                  f"p95 {pct(lat, 95):7.1f} ms  top-1 = exact {top1:.3f}  recall@10 {rec:.3f}")
        es.cfg.multi_query = "msearch"
        lat1, _ = await timed_search(es, "melody", [q[:1] for q in qs])
        print(f"{tag} ES     query {label:6s}  1 vector              p50 {pct(lat1, 50):7.1f} ms  "
              f"p95 {pct(lat1, 95):7.1f} ms")

    async def es_size(label: str) -> None:
        st = await raw.indices.stats(index=cfg.index, metric="store,segments")
        store = st["_all"]["primaries"]["store"]["size_in_bytes"]
        nseg = st["_all"]["primaries"]["segments"]["count"]
        pid = es_jvm_pid(server) if server else None
        mem = rss_mb(pid) if pid else {}
        row[f"es_disk_{label}"] = store / segs_total
        print(f"{tag} ES     store {label:7s} {store / segs_total:6.0f} B/seg  ({store / 2**20:.0f} MiB, "
              f"{nseg} Lucene segments); node RSS {mem.get('VmRSS', float('nan')):.0f} MiB "
              f"(anon {mem.get('RssAnon', float('nan')):.0f}, file {mem.get('RssFile', float('nan')):.0f})")

    await es_size("loaded")
    await es_latency("loaded")
    if n_songs <= args.merge_max:
        t = time.perf_counter()
        await raw.options(request_timeout=3600).indices.forcemerge(index=cfg.index, max_num_segments=1)
        print(f"{tag} ES     force merge to 1 segment: {time.perf_counter() - t:.0f} s")
        await es_size("merged")
        await es_latency("merged")
    await raw.indices.delete(index=f"{cfg.index}-v*")
    await es.close()
    return row


async def hybrid(es_url: str, work: Path, n_songs: int = 1000, n_seg: int = 20, n_q: int = 300) -> None:
    """Two embedders, planted answers: knn clauses with boosts vs _msearch + Python fusion."""
    specs = {"melody": EmbedderSpec("melody", "bench", 64), "panns": EmbedderSpec("panns", "bench", 2048)}
    weights = {"melody": 1.0, "panns": 0.5}  # the service's default search.weights
    cfg = ElasticsearchConfig(hosts=[es_url], index=f"hybrid-{uuid.uuid4().hex[:8]}", request_timeout_s=600,
                              search_timeout_s=60, bulk_chunk_size=20)
    es = ElasticsearchIndex(cfg, work)
    t = time.perf_counter()
    await es.rebuild(specs, stream(n_songs, specs, n_seg))
    print(f"[hybrid] {n_songs} songs × {n_seg} segments × (64-d + 2048-d) loaded in {time.perf_counter() - t:.0f} s")
    await es.open(specs)
    rng = np.random.default_rng(7)
    raw = es._client()
    results: dict[str, list[int]] = {"knn_boost": [], "msearch_fuse": [], "melody_only": [], "panns_only": []}
    lat: dict[str, list[float]] = {k: [] for k in results}
    for _ in range(n_q):
        i, j = int(rng.integers(n_songs)), int(rng.integers(n_seg))
        truth = song(i).song_id
        segs = song_segments(i, specs, n_seg)
        qv = {}
        # Hums: the melody vector is moderately noisy; PANNs hears a voice, not the record — very noisy.
        for name, noise in (("melody", 1.8), ("panns", 6.0)):
            d = specs[name].dim
            v = segs[name].vectors[j] + noise * rng.standard_normal(d, dtype=np.float32) / np.sqrt(d)
            qv[name] = v / np.linalg.norm(v)
        # (a) one request, a knn clause per embedder with its weight as boost: Σ boost·(1+cos)/2
        t = time.perf_counter()
        r = await raw.search(index=cfg.index, size=10, _source=False, knn=[
            {"field": f"segments.{n}", "query_vector": qv[n].tolist(), "k": TOP_K, "num_candidates": 100,
             "boost": weights[n]} for n in specs])
        lat["knn_boost"].append((time.perf_counter() - t) * 1000)
        results["knn_boost"].append(next((k for k, h in enumerate(r["hits"]["hits"]) if h["_id"] == truth), 99))
        # (b) per-embedder searches in one _msearch, fused in Python like the service does
        t = time.perf_counter()
        searches = []
        for n in specs:
            searches += [{"index": cfg.index}, {"knn": es._knn(n, qv[n], TOP_K, [], "best"), "size": TOP_K,
                                                 "_source": False}]
        resp = await raw.msearch(searches=searches)
        hits = {}
        for n, rr in zip(specs, resp["responses"]):
            hits[n] = [IndexHit(h["_id"], 2 * h["_score"] - 1, 0.0) for h in rr["hits"]["hits"]]
        fused = fuse(hits, weights)
        lat["msearch_fuse"].append((time.perf_counter() - t) * 1000)
        results["msearch_fuse"].append(next((k for k, f in enumerate(fused) if f.song_id == truth), 99))
        for n in specs:
            results[f"{n}_only"].append(next((k for k, h in enumerate(hits[n]) if h.song_id == truth), 99))
    for name, ranks in results.items():
        r = np.array(ranks)
        mrr = float(np.mean(np.where(r < 99, 1.0 / (r + 1), 0.0)))
        extra = f"  p50 {pct(lat[name], 50):6.1f} ms" if lat.get(name) else ""
        print(f"[hybrid] {name:13s} top-1 {np.mean(r == 0):.3f}  top-5 {np.mean(r < 5):.3f}  MRR {mrr:.3f}{extra}")
    await raw.indices.delete(index=f"{cfg.index}-v*")
    await es.close()


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    server = None
    url = args.es_url
    if url is None:
        from es_server import EsServer

        server = EsServer(heap=args.heap)
        server.start()
        url = server.url
        print(f"Elasticsearch {server.version}, heap {args.heap}, at {url}")
    work = Path(tempfile.mkdtemp(prefix="humbot-bench-"))
    try:
        print(f"songs: {args.segments} segments each, {args.dim}-d unit vectors; queries: {args.queries} × "
              f"{args.qvecs} vectors, noise {args.noise}, top_k {TOP_K}")
        for n in args.sizes:
            await run_size(n, args, url, server, work)
        if args.hybrid:
            await hybrid(url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    p.add_argument("--segments", type=int, default=20, help="segments per song")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--qvecs", type=int, default=15, help="query vectors per search (melody: one per tempo ratio)")
    p.add_argument("--noise", type=float, default=0.8)
    p.add_argument("--upserts", type=int, default=100, help="single-song upserts timed per size")
    p.add_argument("--chunk", type=int, default=200, help="songs per bulk request")
    p.add_argument("--concurrency", type=int, default=2, help="bulk requests in flight (reindex)")
    p.add_argument("--heap", default="2g")
    p.add_argument("--es-url")
    p.add_argument("--merge-max", type=int, default=10**9, help="force-merge (and re-measure) sizes up to this")
    p.add_argument("--hybrid", action="store_true")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
