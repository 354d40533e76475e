"""``humbot eval``: accuracy of the whole pipeline on a generated evaluation set.

Imports the dataset's songs into a fresh data directory (the same ``HumService.add_song`` users
go through), runs every query through ``HumService.search`` and reports, per query kind
(hummed, sung, recorded): top-1, top-5, MRR, the share answered as a confident match; for
out-of-catalog queries the false-match rate; and latency. A PNG shows the rank histogram per
kind and one query's contour aligned on its song's melody.

Pure functions here compute metrics from ranks; the command wires them to a service.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Config
from bot.evalset.dataset import cpu_seconds
from bot.wiring import build_service


@dataclass
class KindReport:
    kind: str
    n: int = 0
    top1: float = 0.0
    top5: float = 0.0
    mrr: float = 0.0
    matched: float = 0.0  # share answered as a confident match
    correct_and_matched: float = 0.0  # confident AND right
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0


@dataclass
class EvalReport:
    songs: int
    embedders: list[str]
    kinds: list[KindReport]
    overall: KindReport
    out_of_catalog: int
    false_match_rate: float  # out-of-catalog queries answered as a confident match
    import_cpu_s_per_audio_min: float
    failures: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        lines = [f"songs: {self.songs}, embedders: {'+'.join(self.embedders)}",
                 f"{'kind':10s} {'n':>4s} {'top-1':>7s} {'top-5':>7s} {'MRR':>6s} {'match':>6s} {'p50 ms':>7s} {'p95 ms':>7s}"]
        for k in [*self.kinds, self.overall]:
            lines.append(f"{k.kind:10s} {k.n:4d} {k.top1:7.1%} {k.top5:7.1%} {k.mrr:6.3f} {k.matched:6.1%} "
                         f"{k.latency_p50_ms:7.0f} {k.latency_p95_ms:7.0f}")
        lines.append(f"out-of-catalog: {self.out_of_catalog} queries, false-match rate {self.false_match_rate:.1%} "
                     f"(answered 'no confident match': {1 - self.false_match_rate:.1%})")
        lines.append(f"import: {self.import_cpu_s_per_audio_min:.1f} CPU s per minute of audio")
        if self.failures:
            lines.append(f"errors: {len(self.failures)} (first: {self.failures[0]})")
        return "\n".join(lines)


def summarize(kind: str, ranks: list[int | None], matched: list[bool], latencies_ms: list[float]) -> KindReport:
    """Metrics from 1-based ranks of the right song (None: not in the results)."""
    n = len(ranks)
    if n == 0:
        return KindReport(kind)
    rr = [1.0 / r if r else 0.0 for r in ranks]
    return KindReport(
        kind=kind, n=n,
        top1=sum(r == 1 for r in ranks) / n,
        top5=sum(r is not None and r <= 5 for r in ranks) / n,
        mrr=float(np.mean(rr)),
        matched=sum(matched) / n,
        correct_and_matched=sum(m and r == 1 for r, m in zip(ranks, matched)) / n,
        latency_p50_ms=float(np.percentile(latencies_ms, 50)) if latencies_ms else 0.0,
        latency_p95_ms=float(np.percentile(latencies_ms, 95)) if latencies_ms else 0.0,
    )  # fmt: skip


async def evaluate(cfg: Config, manifest_path: Path, *, out_dir: Path, top_k: int = 10,
                   limit_songs: int | None = None, progress: bool = True) -> EvalReport:
    from tqdm import tqdm

    manifest = json.loads(manifest_path.read_text())
    base = manifest_path.parent
    songs = manifest["songs"][:limit_songs] if limit_songs else manifest["songs"]
    song_ids = {s["id"] for s in songs}
    queries = [q for q in manifest["queries"] if q.get("song") is None or q["song"] in song_ids]

    service = build_service(cfg)
    await service.start()
    try:
        id_map: dict[str, str] = {}  # dataset song id → catalog song id
        audio_s = 0.0
        c0 = cpu_seconds()
        for s in tqdm(songs, desc="importing", disable=not progress):
            res = await service.add_song((base / s["file"]).read_bytes(), filename=Path(s["file"]).name,
                                         title=s["title"], artist=s.get("artist"), added_by="eval")
            id_map[s["id"]] = res.song.song_id
            audio_s += res.song.duration_s
        import_cpu = (cpu_seconds() - c0) / max(audio_s / 60, 1e-9)

        per_kind: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        ooc_matched: list[bool] = []
        failures: list[str] = []
        rows = []
        for q in tqdm(queries, desc="searching", disable=not progress):
            t0 = time.perf_counter()
            try:
                resp = await service.search((base / q["file"]).read_bytes(), filename=Path(q["file"]).name,
                                            top_k=top_k, with_clip=True, source="eval")
            except Exception as e:  # an eval run reports failures instead of stopping
                failures.append(f"{q['file']}: {e}")
                continue
            ms = (time.perf_counter() - t0) * 1000
            got = [r.song.song_id for r in resp.results]
            expected = id_map.get(q["song"]) if q.get("song") else None
            rank = got.index(expected) + 1 if expected in got else None
            rows.append({"file": q["file"], "kind": q["kind"], "expected": expected, "rank": rank,
                         "match": resp.match, "confidence": resp.results[0].confidence if resp.results else 0.0,
                         # raw fused scores of the top two, for calibrating the confidence
                         "score": resp.results[0].score if resp.results else 0.0,
                         "second": resp.results[1].score if len(resp.results) > 1 else 0.0,
                         "offset_s": resp.results[0].offset_s if resp.results else None,
                         "latency_ms": ms})
            if expected is None:
                ooc_matched.append(resp.match)
                continue
            d = per_kind[q["kind"]]
            d["ranks"].append(rank)
            d["matched"].append(resp.match)
            d["lat"].append(ms)
        stats = await service.index.stats()
        example = await _aligned_example(service, base, rows)
    finally:
        await service.close()

    kinds = [summarize(k, v["ranks"], v["matched"], v["lat"]) for k, v in sorted(per_kind.items())]
    all_ranks = [r for v in per_kind.values() for r in v["ranks"]]
    all_matched = [m for v in per_kind.values() for m in v["matched"]]
    all_lat = [x for v in per_kind.values() for x in v["lat"]]
    report = EvalReport(
        songs=stats.songs, embedders=list(stats.segments), kinds=kinds,
        overall=summarize("overall", all_ranks, all_matched, all_lat),
        out_of_catalog=len(ooc_matched), false_match_rate=(sum(ooc_matched) / len(ooc_matched)) if ooc_matched else 0.0,
        import_cpu_s_per_audio_min=import_cpu, failures=failures,
    )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out_dir / "report.json").write_text(json.dumps(asdict(report), indent=2))
    plot(report, rows, out_dir / "eval.png", example)
    return report


@dataclass
class AlignedExample:
    """One hum found at rank 1, for the plot: its contour over its song's, at the matched offset."""

    file: str
    song_frames: np.ndarray  # song melody (MIDI/NaN) from ``start_s`` on
    query_frames: np.ndarray  # query contour, moved to the song's key
    start_s: float
    offset_s: float
    frame_rate: float


async def _aligned_example(service: Any, base: Path, rows: list[dict[str, Any]]) -> AlignedExample | None:
    from core.embedders import align
    from core.embedders.melody import FRAME_RATE, query_contour

    melody = service.embedders.get("melody")
    row = next((r for r in rows if r["kind"] == "hummed" and r["rank"] == 1), None)
    if melody is None or row is None:
        return None
    song = service.catalog.load_features("melody", [row["expected"]]).get(row["expected"])
    if song is None:
        return None
    audio = service._decode_query((base / row["file"]).read_bytes(), Path(row["file"]).suffix)
    # Trimmed and gap-filled, as the re-ranking aligns it.
    query = align.prepare_query(query_contour(audio.resampled(melody.sample_rate).samples, melody._detector))
    if query is None:
        return None
    at = int(round(row["offset_s"] * FRAME_RATE))
    start = max(0, at - int(2 * FRAME_RATE))
    region = song[at : at + int(len(query) * 1.4)]
    if np.all(np.isnan(region)):
        return None
    # The key the re-ranking would pick first for this passage: query + centre + t lies on the song.
    centre = float(np.nanmedian(region))
    moved = query + centre + align.key_candidates(query, region - centre, 1)[0]
    return AlignedExample(row["file"], song[start : at + len(moved) + int(2 * FRAME_RATE)], moved,
                          start / FRAME_RATE, row["offset_s"], FRAME_RATE)


def plot(report: EvalReport, rows: list[dict[str, Any]], path: Path, example: AlignedExample | None = None) -> None:
    """Rank histogram per query kind; the confidence of right vs wrong vs out-of-catalog answers;
    and one hum's contour laid on its song's melody at the offset the search found."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4))
    bins = [1, 2, 3, 4, 5, 6, 11, 1000]
    labels = ["1", "2", "3", "4", "5", "6-10", ">10"]
    kinds = sorted({r["kind"] for r in rows if r["expected"]})
    width = 0.8 / max(len(kinds), 1)
    for i, kind in enumerate(kinds):
        ranks = [r["rank"] or 999 for r in rows if r["kind"] == kind and r["expected"]]
        counts, _ = np.histogram(ranks, bins=bins)
        ax1.bar(np.arange(len(labels)) + i * width, counts / max(len(ranks), 1), width, label=kind)
    ax1.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
    ax1.set_xlabel("rank of the right song")
    ax1.set_ylabel("share of queries")
    ax1.legend()
    ax1.set_title(f"{report.songs} songs, {'+'.join(report.embedders)}")
    groups = {
        "right (top-1)": [r["confidence"] for r in rows if r["expected"] and r["rank"] == 1],
        "wrong": [r["confidence"] for r in rows if r["expected"] and r["rank"] != 1],
        "out of catalog": [r["confidence"] for r in rows if not r["expected"]],
    }
    ax2.hist(list(groups.values()), bins=np.linspace(0, 1, 21), label=list(groups), stacked=False)
    ax2.set_xlabel("confidence of the top answer")
    ax2.legend()
    ax2.set_title("calibration")
    if example is not None:
        t_song = example.start_s + np.arange(len(example.song_frames)) / example.frame_rate
        t_query = example.offset_s + np.arange(len(example.query_frames)) / example.frame_rate
        ax3.plot(t_song, example.song_frames, ".", ms=3, label="song melody (catalog)")
        ax3.plot(t_query, example.query_frames, "-", lw=1.5, label="hum (moved to the song's key)")
        ax3.set_xlabel("time in the song (s)")
        ax3.set_ylabel("MIDI pitch")
        ax3.legend(fontsize=8)
        ax3.set_title(f"{Path(example.file).name} at the matched offset ({example.offset_s:.1f} s)")
    else:
        ax3.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def variant_config(cfg: Config, variant: str, data_dir: Path) -> Config:
    """``cfg`` with only the embedders named in ``variant`` (e.g. ``melody+harmony``) enabled,
    storing its catalog under ``data_dir``."""
    parts = set(variant.split("+"))
    emb = cfg.embedders.model_copy(update={
        name: getattr(cfg.embedders, name).model_copy(update={"enabled": name in parts})
        for name in ("panns", "melody", "harmony")})
    return cfg.model_copy(update={"embedders": emb, "data_dir": data_dir})


def run_eval(cfg: Config, manifest: Path, out_dir: Path, **kw: Any) -> EvalReport:
    return asyncio.run(evaluate(cfg, manifest, out_dir=out_dir, **kw))
