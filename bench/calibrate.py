"""Fit the confidence (core.calibration) on the evaluation set's fit split; report the held-out split.

    # 1. run every query on a stored eval catalog, at the full size and on a subset of it
    .venv/bin/python bench/calibrate.py collect eval-data/report11/melody+harmony --out eval-data/calib11 \
        --sizes all,100
    # 2. fit on the fit split, choose the threshold there, report the held-out split
    .venv/bin/python bench/calibrate.py fit eval-data/calib11
    # or fit on family A's fit split and all of family T (a training family), report A's
    # held-out split and family B
    .venv/bin/python bench/calibrate.py fit eval-data/calib30-a eval-data/calib30-t eval-data/calib30-b

``collect`` searches each query through the real service against the catalog ``humbot eval``
imported, once per catalog size: ``all`` (every song) and ``N`` (a fixed subset of N songs,
through a search filter; queries of the other songs are left out, so every size sees the same
out-of-catalog and no-song queries). It writes one row
per query and size: the split, kind, the top song's standing (score, margin, z, log_songs —
what the confidence reads), its reason if the query carried no tune, and whether it was right.

``fit`` fits the logistic regression on the rows choices may be made on (family A's fit split,
and every row of family T, a training family) whose query carried a tune (``reason`` not set by
the evidence: those never match anyway), picks the lowest threshold whose confident answers
are at least ``--precision`` right on those rows, and prints, for every family, split and size
(under the fitted confidence and under the current one): a reliability table, the expected calibration error, the
precision of confident answers, the share of in-catalog queries answered as a match, and the
false-match rates of out-of-catalog and no-song queries. The weights it prints go into
``core/calibration.py`` and the threshold into ``search.match_threshold``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from bot.config import load_config
from evaluation.evaluate import reliability_table, variant_config
from bot.wiring import build_service
from core import calibration, evidence
from core.catalog import SONG_ID_LEN, sha256_of
from core.types import SearchFilter

EVIDENCE_REASONS = set(evidence.REASONS) - {evidence.NOT_IN_CATALOG}


def _subset(song_ids: list[str], n: int) -> frozenset[str]:
    """A fixed subset of ``n`` songs (by a hash of their id: the same on every run)."""
    return frozenset(sorted(song_ids, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[:n])


def queries_by_size(manifest: dict, dataset: Path, sizes: list[str]):
    """(size, filter, query, expected catalog song id) for every query of ``manifest`` at each
    catalog size: ``all``, or a fixed subset of N songs (:func:`_subset`). A query whose song
    is not in the subset is skipped: the same out-of-catalog set at every size."""
    from tqdm import tqdm

    # dataset song id → catalog song id (the catalog names songs by their file's sha256)
    id_map = {s["id"]: sha256_of((dataset / s["file"]).read_bytes())[:SONG_ID_LEN] for s in manifest["songs"]}
    for size in sizes:
        keep = None if size == "all" else _subset(sorted(id_map.values()), int(size))
        flt = SearchFilter(song_ids=keep) if keep is not None else None
        for q in tqdm(manifest["queries"], desc=f"size {size}"):
            expected = id_map.get(q.get("song") or "")
            if keep is not None and expected is not None and expected not in keep:
                continue
            yield size, flt, q, expected


async def collect(run: Path, dataset: Path, out: Path, sizes: list[str], config: Path) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    cfg = variant_config(load_config(config), run.name, run / "data")
    service = build_service(cfg)
    await service.start()
    rows = []
    try:
        for size, flt, q, expected in queries_by_size(manifest, dataset, sizes):
            resp = await service.search((dataset / q["file"]).read_bytes(), filename=Path(q["file"]).name,
                                        top_k=10, with_clip=False, source="calibrate", filters=flt)
            got = [r.song.song_id for r in resp.results]
            st = resp.standing
            rows.append({
                "family": manifest.get("family", "a"), "size": size, "songs": len(flt.song_ids) if flt and flt.song_ids is not None else len(manifest["songs"]),
                "file": q["file"], "kind": q["kind"], "subkind": q.get("subkind"), "split": q.get("split"),
                "expected": expected, "rank": got.index(expected) + 1 if expected in got else None,
                "right": bool(got) and got[0] == expected, "reason": resp.reason,
                "confidence": resp.results[0].confidence if resp.results else 0.0, "match": resp.match,
                "standing": st.as_row() if st else None,
            })  # fmt: skip
    finally:
        await service.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} rows → {out / 'rows.jsonl'}")



def _confidences(rows: list[dict], weights, intercept, *, with_evidence: bool = True) -> np.ndarray:
    """Each row's confidence under ``weights``, with the service's cap for a query without a tune."""
    out = []
    for r in rows:
        if r["standing"] is None:
            out.append(0.0)
            continue
        c = calibration.confidence(calibration.Standing(*r["standing"]), weights, intercept)
        capped = with_evidence and r["reason"] in EVIDENCE_REASONS
        out.append(c * (evidence.NO_TUNE_FACTOR if capped else 1.0))
    return np.array(out)


def threshold_for(conf: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest threshold (≥ 0.5) whose answers at or above it are at least ``precision`` right."""
    for t in np.round(np.arange(0.5, 1.0, 0.01), 2):  # below 0.5 the answer is likelier wrong than right
        sel = conf >= t
        if sel.sum() and right[sel].mean() >= precision:
            return float(t)
    return 1.0


FEATURES = ("score", "margin", "z", "log_songs")  # calibration.model_inputs (z as log(1 + z))


def for_choosing(row: dict) -> bool:
    """Whether a row may be fitted on: family A's fit split, any of family T (a training family:
    evaluation.evalset.dataset.FAMILIES), or the fit split of the real-music bench (family R,
    bench/real_music_service.py). Family B and the held-out splits of A and R are only reported."""
    family = row.get("family", "a")
    return family == "t" or (family in ("a", "r") and row["split"] == "fit")


def fit(outs: list[Path], precision: float, features: list[str], threshold_size: str = "all",
        save: Path | None = None) -> None:
    from sklearn.linear_model import LogisticRegression

    rows = [json.loads(x) for out in outs for x in (out / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        r.setdefault("family", "a")
        r["use"] = "fit" if for_choosing(r) else "held-out"
    train = [r for r in rows if r["use"] == "fit" and r["standing"] and r["reason"] not in EVIDENCE_REASONS]
    use = [FEATURES.index(f) for f in features]
    X = np.array([[calibration.model_inputs(r["standing"])[i] for i in use] for r in train])
    y = np.array([r["right"] for r in train], dtype=int)
    model = LogisticRegression(C=10.0, max_iter=10_000).fit(X, y)
    weights = [0.0] * len(FEATURES)
    for i, w in zip(use, model.coef_[0]):
        weights[i] = float(w)
    weights, intercept = tuple(weights), float(model.intercept_[0])
    print(f"fit split: {len(train)} rows ({y.sum()} right); weights (score, margin, z, log_songs) = "
          f"{tuple(round(w, 3) for w in weights)}, intercept = {intercept:.3f}")
    # The threshold is chosen at the catalog's full size: a small subset's out-of-catalog
    # recordings match by chance far more often (its margins are wider), and are reported apart.
    fit_rows = [r for r in rows if r["use"] == "fit" and r["size"] == threshold_size]
    t = threshold_for(_confidences(fit_rows, weights, intercept), np.array([r["right"] for r in fit_rows]), precision)
    print(f"threshold for ≥ {precision:.0%} precision on the fit rows at size {threshold_size}: {t:.2f}")
    current = (calibration.WEIGHTS, calibration.INTERCEPT, _current_threshold())
    for family in dict.fromkeys(r["family"] for r in rows):
        for split in ("fit", "held-out"):
            for size in dict.fromkeys(r["size"] for r in rows):
                part = [r for r in rows if r["family"] == family and r["split"] == split and r["size"] == size]
                if part:
                    name = f"family {family}, {split} ({'fitted on' if part[0]['use'] == 'fit' else 'reported only'}), {part[0]['songs']} songs"
                    _report(part, weights, intercept, t, name)
                    _report(part, *current, f"{name}, CURRENT (core.calibration and config.yaml as they are)")
    if save:
        save.write_text(json.dumps({"weights": weights, "intercept": intercept, "threshold": t}))


def _current_threshold() -> float:
    return float(load_config(Path("config.yaml")).search.match_threshold)


def _report(rows: list[dict], weights, intercept, t: float, name: str, *, with_evidence: bool = True) -> None:
    conf = _confidences(rows, weights, intercept, with_evidence=with_evidence)
    right = np.array([r["right"] for r in rows])
    matched = conf >= t
    inside = np.array([r["expected"] is not None for r in rows])
    nosong = np.array([r["kind"] == "nosong" for r in rows])
    ooc = ~inside & ~nosong
    table, ece = reliability_table(conf.tolist(), right.tolist())
    print(f"\n== {name}: {len(rows)} queries ({inside.sum()} in catalog, {ooc.sum()} out of catalog, "
          f"{nosong.sum()} no song)")
    ranks = [r["rank"] for r, i in zip(rows, inside) if i]
    top5 = np.mean([bool(k) and k <= 5 for k in ranks]) if ranks else math.nan
    mrr = np.mean([1.0 / k if k else 0.0 for k in ranks]) if ranks else math.nan
    print(f"top-5 {top5:.1%}, MRR {mrr:.3f}; ", end="")
    print(f"top-1 {right[inside].mean():.1%}; confident answers {matched.sum()}, right {right[matched].mean() if matched.any() else math.nan:.1%}; "
          f"in-catalog answered as a match {matched[inside].mean():.1%}; "
          f"out-of-catalog matched {matched[ooc].mean() if ooc.any() else math.nan:.1%}; "
          f"no-song matched {matched[nosong].mean() if nosong.any() else math.nan:.1%}; ECE {ece:.3f}")
    print("confidence bin   n   mean conf  share right")
    for b in table:
        if b.n:
            print(f"{b.lo:.1f}–{b.hi:.1f}  {b.n:5d}   {b.mean_confidence:8.3f}  {b.share_right:10.3f}")
        else:
            print(f"{b.lo:.1f}–{b.hi:.1f}  {b.n:5d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("run", type=Path, help="an eval run folder, e.g. eval-data/report11/melody+harmony")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--dataset", type=Path, default=Path("eval-data/dataset"))
    c.add_argument("--config", type=Path, default=Path("config.yaml"))
    c.add_argument("--sizes", default="all,100", help="catalog sizes: 'all' and/or a number of songs")
    f = sub.add_parser("fit")
    f.add_argument("outs", type=Path, nargs="+", help="collected rows: family A's, and optionally family T's and B's")
    f.add_argument("--save", type=Path, help="write the fitted weights and threshold here (JSON)")
    f.add_argument("--precision", type=float, default=0.98, help="precision of confident answers on the fit split")
    f.add_argument("--features", default="score,margin,z", help=f"which of {','.join(FEATURES)} the model reads")
    f.add_argument("--threshold-size", default="all", help="the catalog size the threshold is chosen at")
    args = ap.parse_args()
    if args.cmd == "collect":
        asyncio.run(collect(args.run, args.dataset, args.out, args.sizes.split(","), args.config))
    else:
        fit(args.outs, args.precision, args.features.split(","), args.threshold_size, args.save)


if __name__ == "__main__":
    main()
