"""The melody index's window length, measured end to end without re-importing the catalog.

    .venv/bin/python bench/sweep_windows.py eval-data/report10/melody+harmony --windows 4,5,6,7,8

The first stage's song vectors are windows of each song's tracked melody contour, and that
contour is stored with the catalog (it is what the re-ranking reads). So a window length can be
tried by cutting the stored contours anew into a temporary local index: for each length, every
evaluation query goes through the real query embedding, a first stage over all songs (that
index's search), the real melody re-ranking of the best ``search.rerank_candidates`` and
the real fusion with the harmony path. The printed figures are those `humbot eval` would give
with that ``melody.window_s``, latency aside; the run's own window length reproduces its report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np

from bot.config import load_config
from evaluation.evaluate import variant_config
from bot.wiring import build_service
from core.embedders.melody import MelodyEmbedder
from core.fusion import fuse
from core.index.local import LocalIndex
from core.types import IndexHit


async def window_index(embedder: MelodyEmbedder, songs: list, contours: dict[str, np.ndarray],
                       directory: Path) -> LocalIndex:
    """A local index of every song's windows of ``embedder``'s length, cut from its stored contour."""
    index = LocalIndex(directory)
    await index.open({embedder.name: embedder.spec})
    for song in songs:
        await index.upsert(song, {embedder.name: embedder.song_segments_from_contour(contours[song.song_id])})
    return index


async def sweep(run: Path, dataset: Path, config: Path, windows: list[float]) -> None:
    cfg = variant_config(load_config(config), run.name, run / "data")
    svc = build_service(cfg)
    await svc.start()
    try:
        melody = svc.embedders["melody"]
        songs = await svc.list_songs()
        contours = svc.catalog.load_features("melody", [song.song_id for song in songs])
        groups = await svc.backends.group_map()  # versions of one recording are one answer, as in a search
        rows = [json.loads(line) for line in (run / "queries.jsonl").read_text().splitlines()]
        queries = []  # (row, melody query contours, harmony hits) — embedded once for all lengths
        for r in rows:
            audio = svc.decode_query((dataset / r["file"]).read_bytes(), Path(r["file"]).suffix)
            by_rate = svc.backends.by_rate(audio)
            contour_pair = melody.query_contours(by_rate[melody.sample_rate])
            _, harmony_hits, _ = await svc.pipeline.search_path(
                "harmony", by_rate[svc.embedders["harmony"].sample_rate], None, groups)
            queries.append((r, contour_pair, harmony_hits))
        s = cfg.search
        for window_s in windows:
            embedder = MelodyEmbedder(window_s=window_s, hop_s=melody.hop_s, query_shifts=melody.query_shifts)
            index = await window_index(embedder, songs, contours, Path(tempfile.mkdtemp(prefix="sweep-")))
            ranks: dict[str, list[int]] = {}
            first_ranks, ooc_matched, confident = [], [], [0, 0]
            for r, (voice, mix), harmony_hits in queries:
                qvecs = np.concatenate([embedder.query_vectors_from_contour(voice), embedder.query_vectors_from_contour(mix)])
                first = await index.search("melody", qvecs, len(songs))  # every song, best first
                if r["expected"]:
                    first_ranks.append(next((k for k, h in enumerate(first, 1) if h.song_id == r["expected"]),
                                            len(songs) + 1))  # a song with no melody window: never found
                hits = {"harmony": harmony_hits}
                features = melody.query_features(voice, mix)
                if features is not None:
                    top = first[: s.rerank_candidates]
                    scored = melody.rerank(features, [(contours[h.song_id], h.offset_s) for h in top])
                    hits["melody"] = [IndexHit(h.song_id, float(sc), float(o)) for h, (sc, o) in zip(top, scored)]
                fused = fuse(hits, s.weights, s.gates, n_songs=len(songs), group_of=groups)[:10]
                got = [f.song_id for f in fused]
                match = bool(fused) and fused[0].confidence >= s.match_threshold
                if r["expected"] is None:
                    ooc_matched.append(match)
                    continue
                rank = got.index(r["expected"]) + 1 if r["expected"] in got else 10**6
                ranks.setdefault(r["kind"], []).append(rank)
                if match:
                    confident[rank != 1] += 1
            all_ranks, first = np.array([x for v in ranks.values() for x in v]), np.array(first_ranks)
            kinds = "  ".join(f"{k} {np.mean(np.array(v) == 1):.1%}" for k, v in sorted(ranks.items()))
            print(f"window {window_s:g} s: first stage R@{s.rerank_candidates} {np.mean(first <= s.rerank_candidates):.1%}, "
                  f"R@50 {np.mean(first <= 50):.1%} | top-1 {np.mean(all_ranks == 1):.1%}  top-5 {np.mean(all_ranks <= 5):.1%}  "
                  f"MRR {np.mean(1 / all_ranks):.3f} | {kinds} | out of catalog matched {np.mean(ooc_matched):.1%} | "
                  f"confident {confident[0]} right, {confident[1]} wrong", flush=True)
    finally:
        await svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="an eval run folder, e.g. eval-data/report10/melody+harmony")
    ap.add_argument("--windows", default="4,5,6,7,8", help="window lengths in seconds, comma-separated")
    ap.add_argument("--dataset", type=Path, default=Path("eval-data/dataset"))
    ap.add_argument("--config", type=Path, default=Path("config.yaml"))
    args = ap.parse_args()
    asyncio.run(sweep(args.run, args.dataset, args.config, [float(w) for w in args.windows.split(",")]))


if __name__ == "__main__":
    main()
