"""``humbot eval``: accuracy of the whole pipeline on a generated evaluation set.

Imports the dataset's songs into a fresh data directory (the same ``HumService.add_song`` users
go through), runs every query through ``HumService.search`` and reports, per query kind
(hummed, sung, recorded): top-1, top-5, MRR, the share answered as a confident match; for
out-of-catalog queries the false-match rate per kind; for the no-song queries (held notes,
sirens, glides, noise, speech, drums, crowds) the share answered as a match per subkind; the
precision of confident answers; a reliability table of the confidence with its expected
calibration error; and latency. A PNG shows the rank histogram per kind and one query's contour
aligned on its song's melody.

Every figure is given per split of the data set (:func:`evaluation.evalset.dataset.split_of`): "fit"
(what thresholds and weights may be chosen on), "held-out" (reporting only) and "all".

``--duplicates`` then re-encodes every catalog song once (another codec and bit rate, a gain
change, a second of silence in front), imports the copies as versions and runs the queries again
(:func:`duplicates_pass`).

Pure functions here compute metrics from per-query rows; the command wires them to a service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Config
from evaluation.evalset.dataset import cpu_seconds, song_upload
from evaluation.evalset.effects import run_ffmpeg
from bot.wiring import build_service

SPLITS = ("held-out", "fit", "all")
#: The three families of queries, as the report groups them.
IN_CATALOG, OUT_OF_CATALOG, NO_SONG = "in-catalog", "out-of-catalog", "nosong"


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


@dataclass(frozen=True)
class ReliabilityBin:
    """Queries whose top answer's confidence lies in [lo, hi) (the last bin includes 1.0)."""

    lo: float
    hi: float
    n: int
    mean_confidence: float | None  # None for an empty bin
    share_right: float | None


@dataclass(frozen=True)
class Reliability:
    bins: list[ReliabilityBin]
    ece: float  # expected calibration error: Σ n_b / N · |share right_b − mean confidence_b|
    n: int


def reliability_table(
    confidence: Sequence[float], right: Sequence[bool], n_bins: int = 10
) -> tuple[list[ReliabilityBin], float]:
    """Calibration of a confidence: equal-width bins over [0, 1], and the expected calibration
    error (ECE) weighted by bin count.

    ``confidence``: shape (n,), each in [0, 1]; ``right``: shape (n,), whether that answer was
    right. A confidence of exactly 1.0 falls in the last bin. Returns (``n_bins`` bins, ECE);
    an empty bin has None for its mean and share, and with no queries the ECE is 0.
    """
    c = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    r = np.asarray(right, dtype=bool)
    if c.shape != r.shape:
        raise ValueError(f"confidence {c.shape} and right {r.shape} differ in shape")
    idx = np.minimum((c * n_bins).astype(int), n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        k = int(sel.sum())
        mean_c = float(c[sel].mean()) if k else None
        share = float(r[sel].mean()) if k else None
        if k:
            ece += k / len(c) * abs(share - mean_c)
        bins.append(ReliabilityBin(round(b / n_bins, 6), round((b + 1) / n_bins, 6), k, mean_c, share))
    return bins, float(ece)


@dataclass
class SubkindReport:
    subkind: str
    n: int
    matched: float  # share answered as a match: every one of them is a false match


@dataclass
class SplitReport:
    """Every figure of the report over one split's queries ("fit", "held-out" or "all")."""

    split: str
    kinds: list[KindReport]
    overall: KindReport
    out_of_catalog: int
    false_match_rate: float  # out-of-catalog queries answered as a confident match
    out_of_catalog_by_kind: dict[str, dict[str, float]]  # kind → {"n", "false_match_rate"}
    nosong: list[SubkindReport]
    nosong_n: int
    nosong_match_rate: float  # no-song queries answered as a match (all of them false)
    confident: int  # answers given as a match, all families
    precision_confident: float | None  # of those, the share that were right
    in_catalog_matched: float  # in-catalog queries answered as a match
    reliability: Reliability
    reasons: dict[str, dict[str, int]]  # family → reason (or "match") → count
    #: in-catalog queries by how their song carries its tune: "voice" (sung melody) or
    #: "instrument" → the per-kind rows and "overall" (the generalisation gap of issue 18)
    by_lead: dict[str, list[KindReport]] = field(default_factory=dict)


@dataclass
class DuplicatesReport:
    """``--duplicates``: every catalog song imported a second time as a re-encoded copy."""

    copies: int
    recognised: float  # copies reported as a duplicate of their original
    stored: float  # copies stored as a song of their own (a version)
    top1_before: float  # in-catalog queries, before the copies
    top1_either: float  # after: top-1 is the expected song or a version of it
    confident_before: int
    still_confident: float  # of the answers confident before, the share still confident
    false_match_after: float  # out-of-catalog and no-song queries answered as a match, after
    catalog_size: int
    failures: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        return (f"duplicates: {self.copies} copies, {self.recognised:.1%} recognised as duplicates "
                f"({self.stored:.1%} stored as versions; catalog now {self.catalog_size}); in-catalog top-1 "
                f"{self.top1_before:.1%} before, {self.top1_either:.1%} after (either version counts); "
                f"{self.still_confident:.1%} of {self.confident_before} confident answers still confident; "
                f"false matches after {self.false_match_after:.1%}")  # fmt: skip


@dataclass
class EvalReport:
    songs: int
    embedders: list[str]
    kinds: list[KindReport]  # the "all" split, as before splits existed
    overall: KindReport
    out_of_catalog: int
    false_match_rate: float  # out-of-catalog queries answered as a confident match
    import_cpu_s_per_audio_min: float
    failures: list[str] = field(default_factory=list)
    splits: dict[str, SplitReport] = field(default_factory=dict)
    headline: str = "held-out"  # the split as_text() shows first
    duplicates: DuplicatesReport | None = None
    family: str = "a"  # the data set's generator family (evaluation.evalset.dataset.FAMILIES)

    def as_text(self, split: str | None = None) -> str:
        first = split or self.headline
        lines = [
            f"songs: {self.songs}, embedders: {'+'.join(self.embedders)}, data set family {self.family}"
            + (" (reported only: no choice is made on any of its splits)" if self.family == "b" else "")
            + (" (a training family: every split of it is for choosing)" if self.family == "t" else "")
        ]
        order = [first, *[s for s in SPLITS if s != first]]
        for name in order:
            if name in self.splits:
                lines += _split_text(self.splits[name], reliability=name == first)
        if not self.splits:  # a report built before splits existed
            lines += _kind_table([*self.kinds, self.overall])
        lines.append(f"import: {self.import_cpu_s_per_audio_min:.1f} CPU s per minute of audio")
        if self.duplicates is not None:
            lines.append(self.duplicates.as_text())
        if self.failures:
            lines.append(f"errors: {len(self.failures)} (first: {self.failures[0]})")
        return "\n".join(lines)


def _kind_table(kinds: list[KindReport]) -> list[str]:
    lines = [
        f"{'kind':10s} {'n':>4s} {'top-1':>7s} {'top-5':>7s} {'MRR':>6s} {'match':>6s} {'p50 ms':>7s} {'p95 ms':>7s}"
    ]
    for k in kinds:
        lines.append(
            f"{k.kind:10s} {k.n:4d} {k.top1:7.1%} {k.top5:7.1%} {k.mrr:6.3f} {k.matched:6.1%} "
            f"{k.latency_p50_ms:7.0f} {k.latency_p95_ms:7.0f}"
        )
    return lines


def _split_text(r: SplitReport, *, reliability: bool) -> list[str]:
    lines = [
        f"== split: {r.split} ({r.overall.n} in-catalog, {r.out_of_catalog} out-of-catalog, "
        f"{r.nosong_n} no-song queries) =="
    ]
    lines += _kind_table([*r.kinds, r.overall])
    per_kind = ", ".join(
        f"{k} {v['false_match_rate']:.1%} of {int(v['n'])}" for k, v in r.out_of_catalog_by_kind.items()
    )
    lines.append(
        f"out-of-catalog: {r.out_of_catalog} queries, false-match rate {r.false_match_rate:.1%} "
        f"(answered 'no confident match': {1 - r.false_match_rate:.1%})"
        + (f"; {per_kind}" if per_kind else "")
    )
    if r.nosong_n:
        sub = ", ".join(f"{s.subkind} {s.matched:.0%} of {s.n}" for s in r.nosong)
        lines.append(f"no-song: {r.nosong_n} queries, answered as a match {r.nosong_match_rate:.1%} ({sub})")
    for lead, ks in r.by_lead.items():
        lines.append(
            f"songs whose melody is {'sung' if lead == 'voice' else 'played'} ({lead}): "
            + ", ".join(f"{k.kind} {k.top1:.1%} of {k.n}" for k in ks)
        )
    prec = f"{r.precision_confident:.1%} right" if r.precision_confident is not None else "none"
    lines.append(
        f"confident answers: {r.confident}, {prec}; in-catalog answered as a match {r.in_catalog_matched:.1%}"
    )
    if reliability:
        lines.append(
            f"reliability ({r.split}, {r.reliability.n} queries; right = top-1 is the expected song):"
        )
        lines.append(f"  {'confidence':>11s} {'n':>4s} {'mean conf':>9s} {'right':>6s}")
        for b in r.reliability.bins:
            if b.n:
                lines.append(
                    f"  {b.lo:4.1f}–{b.hi:<4.1f}   {b.n:4d} {b.mean_confidence:9.3f} {b.share_right:6.1%}"
                )
        lines.append(f"  ECE {r.reliability.ece:.3f}")
    return lines  # fmt: skip


def summarize(
    kind: str, ranks: list[int | None], matched: list[bool], latencies_ms: list[float]
) -> KindReport:
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


def family(row: dict[str, Any]) -> str:
    """in-catalog, out-of-catalog or nosong, from a per-query row."""
    if row["kind"] == "nosong":
        return NO_SONG
    return IN_CATALOG if row.get("expected") else OUT_OF_CATALOG


def is_right(row: dict[str, Any]) -> bool:
    """The top answer is the expected song. Out-of-catalog and no-song queries have no right
    answer: whatever comes first is wrong."""
    return family(row) == IN_CATALOG and row.get("rank") == 1


def split_report(rows: Sequence[dict[str, Any]], split: str) -> SplitReport:
    """The report's figures over the rows of ``split`` ("all": every row). Rows as
    ``queries.jsonl`` holds them: ``kind``, ``subkind``, ``split``, ``expected``, ``rank``,
    ``match``, ``confidence``, ``reason``, ``latency_ms``."""
    rows = [r for r in rows if split == "all" or r.get("split") == split]
    fam: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        fam[family(r)].append(r)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in fam[IN_CATALOG]:
        by_kind[r["kind"]].append(r)

    def summ(kind: str, rs: list[dict[str, Any]]) -> KindReport:
        return summarize(
            kind, [r["rank"] for r in rs], [r["match"] for r in rs], [r["latency_ms"] for r in rs]
        )

    ooc = fam[OUT_OF_CATALOG]
    ooc_kind: dict[str, list[bool]] = defaultdict(list)
    for r in ooc:
        ooc_kind[r["kind"]].append(bool(r["match"]))
    nos = fam[NO_SONG]
    nos_sub: dict[str, list[bool]] = defaultdict(list)
    for r in nos:
        nos_sub[r.get("subkind") or "?"].append(bool(r["match"]))
    confident = [r for r in rows if r["match"]]
    inc = fam[IN_CATALOG]
    reasons = {f: dict(Counter("match" if r["match"] else (r.get("reason") or "none") for r in rs))
               for f, rs in sorted(fam.items())}  # fmt: skip
    return SplitReport(
        split=split,
        kinds=[summ(k, v) for k, v in sorted(by_kind.items())],
        overall=summ("overall", inc),
        out_of_catalog=len(ooc),
        false_match_rate=sum(r["match"] for r in ooc) / len(ooc) if ooc else 0.0,
        out_of_catalog_by_kind={k: {"n": len(v), "false_match_rate": sum(v) / len(v)} for k, v in sorted(ooc_kind.items())},
        nosong=[SubkindReport(k, len(v), sum(v) / len(v)) for k, v in sorted(nos_sub.items())],
        nosong_n=len(nos),
        nosong_match_rate=sum(r["match"] for r in nos) / len(nos) if nos else 0.0,
        confident=len(confident),
        precision_confident=sum(is_right(r) for r in confident) / len(confident) if confident else None,
        in_catalog_matched=sum(r["match"] for r in inc) / len(inc) if inc else 0.0,
        reliability=Reliability(*reliability_table([r["confidence"] for r in rows], [is_right(r) for r in rows]),
                                n=len(rows)),
        reasons=reasons,
        by_lead={lead: [*(summ(k, [r for r in rs if r["kind"] == k]) for k in sorted({r["kind"] for r in rs})),
                        summ("overall", rs)]
                 for lead in ("voice", "instrument")
                 if (rs := [r for r in inc if r.get("song_lead") == lead])},
    )  # fmt: skip


def build_report(
    rows: Sequence[dict[str, Any]],
    *,
    songs: int,
    embedders: list[str],
    import_cpu_s_per_audio_min: float,
    failures: Sequence[str] = (),
    headline: str = "held-out",
    family: str = "a",
) -> EvalReport:
    """The whole report from per-query rows: every split, with "all" also in the top-level
    fields that reports had before splits."""
    splits = {s: split_report(rows, s) for s in SPLITS}
    a = splits["all"]
    return EvalReport(songs=songs, embedders=embedders, kinds=a.kinds, overall=a.overall,
                      out_of_catalog=a.out_of_catalog, false_match_rate=a.false_match_rate,
                      import_cpu_s_per_audio_min=import_cpu_s_per_audio_min, failures=list(failures),
                      splits=splits, headline=headline, family=family)  # fmt: skip


def _jsonable(o: Any) -> Any:
    """json.dumps' fallback for numpy scalars and arrays (the evidence holds some)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if dataclasses.is_dataclass(o):
        return asdict(o)
    return str(o)


def _row(
    q: dict[str, Any],
    resp: Any,
    expected: str | None,
    ms: float,
    catalog_size: int,
    canonical: dict[str, str] | None = None,
    leads: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One query's result as queries.jsonl holds it. ``canonical``: song id → the id it is a
    copy of (the duplicates pass), so that either version counts as the expected song."""
    canonical = canonical or {}

    def base_id(r: Any) -> str:
        sid = r.song.song_id
        return getattr(r.song, "version_of", None) or canonical.get(sid, sid)

    got = [base_id(r) for r in resp.results]
    rank = got.index(expected) + 1 if expected in got else None
    evidence = getattr(resp, "evidence", None)
    if evidence is not None and dataclasses.is_dataclass(evidence):
        evidence = asdict(evidence)
    res = resp.results
    return {"id": q.get("id"), "file": q["file"], "kind": q["kind"], "subkind": q.get("subkind"),
            "split": q.get("split"), "expected": expected, "rank": rank, "match": resp.match,
            "song_lead": (leads or {}).get(q.get("source") or ""),
            "confidence": res[0].confidence if res else 0.0,
            # raw fused scores of the top two, for calibrating the confidence
            "score": res[0].score if res else 0.0,
            "second": res[1].score if len(res) > 1 else 0.0,
            "top_song": res[0].song.song_id if res else None,
            "offset_s": res[0].offset_s if res else None,
            "reason": getattr(resp, "reason", None), "evidence": evidence,
            "catalog_size": catalog_size, "latency_ms": ms}  # fmt: skip


async def _search_all(
    service: Any,
    base: Path,
    queries: list[dict[str, Any]],
    id_map: dict[str, str],
    *,
    top_k: int,
    progress: bool,
    desc: str,
    canonical: dict[str, str] | None = None,
    leads: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    from tqdm import tqdm

    catalog_size = (await service.index_stats()).songs
    rows, failures = [], []
    for q in tqdm(queries, desc=desc, disable=not progress):
        t0 = time.perf_counter()
        try:
            resp = await service.search(
                (base / q["file"]).read_bytes(),
                filename=Path(q["file"]).name,
                top_k=top_k,
                with_clip=True,
                source="eval",
            )
        except Exception as e:  # an eval run reports failures instead of stopping
            failures.append(f"{q['file']}: {e}")
            continue
        ms = (time.perf_counter() - t0) * 1000
        expected = id_map.get(q["song"]) if q.get("song") else None
        rows.append(_row(q, resp, expected, ms, catalog_size, canonical, leads))
    return rows, failures


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, default=_jsonable) + "\n" for r in rows))


async def evaluate(
    cfg: Config,
    manifest_path: Path,
    *,
    out_dir: Path,
    top_k: int = 10,
    limit_songs: int | None = None,
    progress: bool = True,
    headline: str = "held-out",
    duplicates: bool = False,
) -> EvalReport:
    from tqdm import tqdm

    manifest = json.loads(manifest_path.read_text())
    base = manifest_path.parent
    songs = manifest["songs"][:limit_songs] if limit_songs else manifest["songs"]
    song_ids = {s["id"] for s in songs}
    queries = [q for q in manifest["queries"] if q.get("song") is None or q["song"] in song_ids]

    service = build_service(cfg)
    await service.start()
    dup: DuplicatesReport | None = None
    try:
        id_map: dict[str, str] = {}  # dataset song id → catalog song id
        audio_s = 0.0
        c0 = cpu_seconds()
        for s in tqdm(songs, desc="importing", disable=not progress):
            data, upload = song_upload(base, s, added_by="eval")
            res = await service.add_song(data, **upload)
            id_map[s["id"]] = res.song.song_id
            audio_s += res.song.duration_s
        import_cpu = (cpu_seconds() - c0) / max(audio_s / 60, 1e-9)
        stats = await service.index_stats()
        leads = {
            s["id"]: "voice" if s["sung"] else "instrument"
            for s in manifest["songs"] + manifest.get("outside", [])
            if s.get("sung") is not None
        }
        rows, failures = await _search_all(
            service, base, queries, id_map, top_k=top_k, progress=progress, desc="searching", leads=leads
        )
        example = await _aligned_example(service, base, rows)
        if duplicates:
            dup = await duplicates_pass(
                service,
                base,
                songs,
                queries,
                id_map,
                rows,
                out_dir,
                top_k=top_k,
                seed=int(manifest.get("seed", 0)),
                progress=progress,
            )
    finally:
        await service.close()

    report = build_report(rows, songs=stats.songs, embedders=list(stats.segments), import_cpu_s_per_audio_min=import_cpu,
                          failures=failures, headline=headline, family=manifest.get("family", "a"))  # fmt: skip
    report.duplicates = dup
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_rows(out_dir / "queries.jsonl", rows)
    (out_dir / "report.json").write_text(json.dumps(asdict(report), indent=2, default=_jsonable))
    plot(report, rows, out_dir / "eval.png", example)
    return report


# ----------------------------------------------------------------------------- duplicates


@dataclass(frozen=True)
class Reencode:
    """How a copy of a song is made: what a second upload of the same recording looks like."""

    codec: str  # "opus" | "aac" | "mp3"
    ext: str  # "ogg" | "m4a" | "mp3"
    bitrate_kbps: int
    gain_db: float  # ±3–6 dB
    lead_silence_s: float  # silence added in front, about 1 s


_REENCODE = {"opus": ("ogg", ("-c:a", "libopus")), "aac": ("m4a", ("-c:a", "aac")),
             "mp3": ("mp3", ("-c:a", "libmp3lame"))}  # fmt: skip


def plan_reencode(song_id: str, fmt: str, seed: int = 0) -> Reencode:
    """The copy of song ``song_id`` (stored as ``fmt``): another codec than the original's
    (an MP3 becomes Opus or AAC), 96–192 kbps, a gain change of 3–6 dB either way and 0.8–1.2 s
    of silence in front. Deterministic from the song id and ``seed``."""
    h = hashlib.sha256(f"dup|{seed}|{song_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
    codecs = [c for c in _REENCODE if c != fmt]
    codec = codecs[int(rng.integers(len(codecs)))]
    gain = float(rng.uniform(3.0, 6.0)) * (1 if rng.random() < 0.5 else -1)
    return Reencode(codec, _REENCODE[codec][0], int(rng.choice([96, 128, 160, 192])), round(gain, 2),
                    round(float(rng.uniform(0.8, 1.2)), 3))  # fmt: skip


def reencode(src: Path, dst: Path, r: Reencode) -> Path:
    """Write the copy ``r`` of ``src`` to ``dst`` with ffmpeg (atomically; tags kept)."""
    ms = int(round(r.lead_silence_s * 1000))
    tmp = dst.with_name(f".{dst.name}.part")
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-vn",
           "-af", f"adelay={ms}:all=1,volume={r.gain_db:+.2f}dB", *_REENCODE[r.codec][1], "-b:a", f"{r.bitrate_kbps}k",
           "-fflags", "+bitexact", "-f", {"ogg": "ogg", "m4a": "ipod", "mp3": "mp3"}[r.ext], str(tmp)]  # fmt: skip
    return run_ffmpeg(cmd, tmp, dst, f"re-encode {src.name}")


async def duplicates_pass(
    service: Any,
    base: Path,
    songs: list[dict[str, Any]],
    queries: list[dict[str, Any]],
    id_map: dict[str, str],
    rows_before: list[dict[str, Any]],
    out_dir: Path,
    *,
    top_k: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> DuplicatesReport:
    """Import a re-encoded copy (:func:`plan_reencode`) of every catalog song with
    ``on_duplicate="version"``, then run ``queries`` again. Copies go to ``out_dir/duplicates``,
    the new rows to ``out_dir/duplicates.jsonl``."""
    from tqdm import tqdm

    copies = out_dir / "duplicates"
    copies.mkdir(parents=True, exist_ok=True)
    recognised = stored = 0
    canonical: dict[str, str] = {}  # a copy's catalog id → its original's
    failures: list[str] = []
    for s in tqdm(songs, desc="duplicates", disable=not progress):
        r = plan_reencode(s["id"], s.get("format") or Path(s["file"]).suffix[1:], seed)
        dst = copies / f"{s['id']}-{r.codec}-{r.bitrate_kbps}k-{r.gain_db:+.1f}dB.{r.ext}"
        try:
            if not dst.exists():
                await asyncio.to_thread(reencode, base / s["file"], dst, r)
            res = await service.add_song(dst.read_bytes(), filename=dst.name, title=s["title"], artist=s.get("artist"),
                                         added_by="eval-duplicate", on_duplicate="version")  # fmt: skip
        except Exception as e:
            failures.append(f"{dst.name}: {e}")
            continue
        original = id_map[s["id"]]
        of = getattr(res, "duplicate_of", None)
        recognised += of is not None and of.song_id == original
        if res.created and res.song.song_id != original:
            stored += 1
            canonical[res.song.song_id] = original
    stats = await service.index_stats()
    rows, qfail = await _search_all(
        service,
        base,
        queries,
        id_map,
        top_k=top_k,
        progress=progress,
        desc="searching again",
        canonical=canonical,
    )
    _write_rows(out_dir / "duplicates.jsonl", rows)
    inc_before = [r for r in rows_before if family(r) == IN_CATALOG]
    inc_after = [r for r in rows if family(r) == IN_CATALOG]
    conf = [r["file"] for r in rows_before if r["match"]]
    after = {r["file"]: r for r in rows}
    wrong = [r for r in rows if family(r) != IN_CATALOG]
    n = max(len(songs), 1)
    return DuplicatesReport(
        copies=len(songs), recognised=recognised / n, stored=stored / n,
        top1_before=sum(is_right(r) for r in inc_before) / len(inc_before) if inc_before else 0.0,
        top1_either=sum(is_right(r) for r in inc_after) / len(inc_after) if inc_after else 0.0,
        confident_before=len(conf),
        still_confident=sum(bool(after.get(f, {}).get("match")) for f in conf) / len(conf) if conf else 0.0,
        false_match_after=sum(r["match"] for r in wrong) / len(wrong) if wrong else 0.0,
        catalog_size=stats.songs, failures=failures + qfail,
    )  # fmt: skip


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
    from core.embedders.melody import FRAME_RATE

    melody = service.embedder("melody")
    row = next((r for r in rows if r["kind"] == "hummed" and r["rank"] == 1), None)
    if melody is None or row is None:
        return None
    song = await service.song_features("melody", row["expected"])
    if song is None:
        return None
    audio = service.decode_query((base / row["file"]).read_bytes(), Path(row["file"]).suffix)
    # The voice's contour (SwiftF0's; the mix's is not drawn), trimmed and gap-filled as the
    # re-ranking aligns it.
    voice, _ = melody.query_contours(audio.resampled(melody.sample_rate).samples)
    query = align.prepare_query(voice)
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
    return AlignedExample(
        row["file"],
        song[start : at + len(moved) + int(2 * FRAME_RATE)],
        moved,
        start / FRAME_RATE,
        row["offset_s"],
        FRAME_RATE,
    )


def plot(
    report: EvalReport, rows: list[dict[str, Any]], path: Path, example: AlignedExample | None = None
) -> None:
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
        "out of catalog": [r["confidence"] for r in rows if family(r) == OUT_OF_CATALOG],
        "no song": [r["confidence"] for r in rows if family(r) == NO_SONG],
    }
    groups = {k: v for k, v in groups.items() if v}
    if groups:
        ax2.hist(list(groups.values()), bins=np.linspace(0, 1, 21), label=list(groups), stacked=False)
        ax2.legend()
    ax2.set_xlabel("confidence of the top answer")
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
    emb = cfg.embedders.model_copy(
        update={
            name: getattr(cfg.embedders, name).model_copy(update={"enabled": name in parts})
            for name in ("panns", "melody", "harmony")
        }
    )
    return cfg.model_copy(update={"embedders": emb, "data_dir": data_dir})


def run_eval(cfg: Config, manifest: Path, out_dir: Path, **kw: Any) -> EvalReport:
    return asyncio.run(evaluate(cfg, manifest, out_dir=out_dir, **kw))
