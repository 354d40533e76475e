"""Which statistic of the verification null separates recordings from negatives (issue 15, run11).

For every query of a ``bench/bench_fingerprint.py --dump`` file, the ten best-voted songs are
taken as the bench's search takes them, and each one's peak count at its voted offset and its
:data:`~core.fingerprint.matching.NULL_OFFSETS` null counts are kept
(:func:`~core.fingerprint.matching.peak_counts`, what :func:`~core.fingerprint.matching.verify` scores). Then each statistic below is
scored on one split: the share of recordings whose own song (among the ten) stands above the best
of every negative of that split, and above 1.2 times it (the margin the thresholds get).

    .venv/bin/python bench/fingerprint_null_stats.py eval-data/fp/run10.jsonl --work eval-data/fp --split fit

Choices are made on the fit split only (BENCHMARKS.md §6).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fingerprint import landmark_key  # noqa: E402
from core import audio  # noqa: E402
from core.fingerprint import landmarks as lm_mod  # noqa: E402
from core.fingerprint import matching  # noqa: E402
from core.index.fingerprint_local import LocalFingerprintIndex  # noqa: E402


def _null(c: dict) -> np.ndarray:
    return np.asarray(c["null"], float)


def _med_mad(c: dict) -> tuple[float, float]:
    n = _null(c)
    med = float(np.median(n))
    return med, float(np.median(np.abs(n - med)))


STATISTICS: dict[str, Callable[[dict], float]] = {
    "(count - median) / (1.4826 MAD + 1)  [run10]": lambda c: (c["near"] - _med_mad(c)[0]) / (1.4826 * _med_mad(c)[1] + 1),
    "(count - mean) / (sd + 1)  [run11]": lambda c: (c["near"] - _null(c).mean()) / (_null(c).std() + 1),
    "(count - mean) / (sd + 2)": lambda c: (c["near"] - _null(c).mean()) / (_null(c).std() + 2),
    "(count - median) / (sd + 1)": lambda c: (c["near"] - np.median(_null(c))) / (_null(c).std() + 1),
    "(count - median) / max(1.4826 MAD, sqrt(median))": lambda c: (c["near"] - _med_mad(c)[0])
    / max(1.4826 * _med_mad(c)[1], np.sqrt(max(_med_mad(c)[0], 1.0))),
    "(count - median) / ((median - p10) / 1.2816 + 1)": lambda c: (c["near"] - np.median(_null(c)))
    / ((np.median(_null(c)) - np.percentile(_null(c), 10)) / 1.2816 + 1),
    "-log10 binomial tail at the median rate": lambda c: float(
        -stats.binom.logsf(c["near"] - 1, c["nq"], min(0.99, (np.median(_null(c)) + 0.5) / c["nq"])) / np.log(10)
    ) if c["nq"] else 0.0,
    "(count - median) / (p95 - median + 1)": lambda c: (c["near"] - np.median(_null(c)))
    / (np.percentile(_null(c), 95) - np.median(_null(c)) + 1),
}


async def collect(rows: list[dict], index: LocalFingerprintIndex) -> list[dict]:
    out = []
    for q in rows:
        a = audio.decode_file(Path(q["path"]), sample_rate=lm_mod.SAMPLE_RATE, max_seconds=30)
        variants = lm_mod.query_variants(a.samples, lm_mod.SPEEDS)
        found = await index.lookup(np.unique(np.concatenate([lm.hashes for _, lm in variants])))
        hits = [h for h in matching.match(variants, found.postings, found.frames, found.catalog_frames, 10)
                if h.song in found.ids]
        by_speed = dict(variants)
        peaks = await index.constellations(
            [(found.ids[h.song], *matching.null_window(h.offset_frames, by_speed[h.speed].frames)) for h in hits])
        cands = []
        for h, p in zip(hits, peaks):
            lm = by_speed[h.speed]
            r = matching.peak_counts((lm.peak_frames, lm.peak_bins), p, h.offset_frames, found.frames[h.song])
            near, null = r if r is not None else (0, np.zeros(1))
            cands.append({"song": found.ids[h.song], "near": int(near), "null": null, "nq": len(lm.peak_frames)})
        out.append({"q": q, "cands": cands})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump", type=Path, help="a bench_fingerprint.py --dump file (its queries)")
    ap.add_argument("--work", type=Path, default=Path("eval-data/fp"))
    ap.add_argument("--split", default="fit")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.dump.read_text().splitlines()]
    rows = [r for r in rows if r["split"] == args.split]
    index = LocalFingerprintIndex(args.work / f"index-{landmark_key()}")
    asyncio.run(index.open())
    data = asyncio.run(collect(rows, index))
    n_rec = sum(d["q"]["kind"] == "recording" for d in data)
    print(f"{args.split} split: {n_rec} recordings, {len(data) - n_rec} negatives")
    for name, f in STATISTICS.items():
        neg_best = max((max(f(c) for c in d["cands"]) for d in data if d["q"]["kind"] != "recording" and d["cands"]),
                       default=0.0)
        own = np.array([f(c) for d in data if d["q"]["kind"] == "recording"
                        for c in d["cands"] if c["song"] == d["q"]["track_id"]])
        print(f"{name:52s} negatives' best {neg_best:6.2f}; own song above it {100 * np.mean(own > neg_best):5.1f} %, "
              f"above 1.2x {100 * np.mean(own > 1.2 * neg_best):5.1f} % (n={len(own)})")


if __name__ == "__main__":
    main()
