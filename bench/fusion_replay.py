"""Replay fusion offline: each query's per-path hits are captured once, then fused again under
other weights, gates or thresholds in seconds instead of a search per query.

    .venv/bin/python bench/fusion_replay.py dump eval-data/t30/melody+harmony --dataset eval-data/dataset-t \
        --out eval-data/replay30/t.jsonl
    .venv/bin/python bench/fusion_replay.py replay eval-data/replay30/{a,t,b}.jsonl \
        --variants '{"now": {}, "gate .65": {"gates": {"harmony": {"score": 0.65, "margin": 0.05}}}}'

``dump`` searches every query of a run's dataset on the run's stored catalog (as
``bench/calibrate.py collect`` does) and writes, per query and catalog size: each embedder's
hits, the catalog's version groups, the song count, the query's melodic evidence and the song
the landmark fingerprint recognised (that path is not replayed: its answer stands).
``replay`` re-runs what :meth:`core.service.search.SearchPipeline.search` does after the paths —
:func:`core.service.search.rank` (the function the service calls: fusion, the recording gate,
:func:`core.evidence.judge`), then the fingerprint's answer first and the match threshold — and
prints issue 14's figures per family and split, marking which rows may be chosen on
(``bench/calibrate.py``'s ``for_choosing``: family A's fit split, all of family T, and the fit
split of the real-music set R). Every variant is a JSON object of ``search`` settings (``weights``,
``gates``, ``match_threshold``) over config.yaml's; ``"no_fingerprint": true`` replays the
service without a fingerprint index.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from calibrate import for_choosing, queries_by_size  # noqa: E402  (a sibling bench script)

from bot.config import load_config  # noqa: E402
from bot.wiring import build_service  # noqa: E402
from core import evidence  # noqa: E402
from core.fingerprint.matching import ACCEPTED_CONFIDENCE  # noqa: E402
from core.service import search as search_mod  # noqa: E402
from core.types import IndexHit  # noqa: E402
from evaluation.evaluate import variant_config  # noqa: E402


async def dump(run: Path, dataset: Path, out: Path, sizes: list[str], config: Path) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    cfg = variant_config(load_config(config), run.name, run / "data")
    # Every path's hits, harmony's too: the replay can take the fingerprint away ("no_fingerprint").
    cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"gated_paths": "always"})})
    service = build_service(cfg)
    captured: dict = {}
    real_rank, real_fp = search_mod.rank, search_mod.SearchPipeline._fingerprint_path

    def capturing_rank(hits, heard, search, *, n_songs, groups, fingerprint_searched):
        captured.update(
            hits={n: [(h.song_id, h.score, h.offset_s) for h in hs] for n, hs in hits.items()},
            n_songs=n_songs,
            groups=dict(groups),
            fingerprint_searched=fingerprint_searched,
        )
        return real_rank(
            hits, heard, search, n_songs=n_songs, groups=groups, fingerprint_searched=fingerprint_searched
        )

    async def capturing_fp(self, query, filters):
        searched, found = await real_fp(self, query, filters)
        captured["recognised"] = found.song_id if found is not None else None
        return searched, found

    search_mod.rank = capturing_rank
    search_mod.SearchPipeline._fingerprint_path = capturing_fp
    await service.start()
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    try:
        with out.open("w") as f:
            for size, flt, q, expected in queries_by_size(manifest, dataset, sizes):
                captured.clear()
                resp = await service.search(
                    (dataset / q["file"]).read_bytes(),
                    filename=Path(q["file"]).name,
                    top_k=10,
                    with_clip=False,
                    source="replay",
                    filters=flt,
                )
                f.write(json.dumps({
                    "family": manifest.get("family", "a"), "size": size, "file": q["file"], "kind": q["kind"],
                    "subkind": q.get("subkind"), "split": q.get("split"), "expected": expected,
                    "evidence": {k: float(v) for k, v in asdict(resp.evidence).items()} if resp.evidence else None,
                    "recognised": captured.get("recognised"), "hits": captured.get("hits", {}),
                    "n_songs": captured.get("n_songs"), "groups": captured.get("groups", {}),
                    "fingerprint_searched": captured.get("fingerprint_searched", True),
                    "served": {"top": resp.best.song.song_id if resp.best else None, "match": resp.match,
                               "reason": resp.reason},
                }) + "\n")  # fmt: skip
                n += 1
    finally:
        await service.close()
    print(f"{n} rows → {out}")


def answer(row: dict, search, fingerprint: bool = True) -> tuple[str | None, float, str | None, bool]:
    """(top song, its confidence, reason, match) as the service would answer ``row`` under ``search``;
    ``fingerprint`` False: as it would without a fingerprint index (its answer dropped too)."""
    hits = {n: [IndexHit(*h) for h in hs] for n, hs in row["hits"].items()}
    names = {f.name for f in fields(evidence.QueryEvidence)}
    heard = (
        evidence.QueryEvidence(**{k: v for k, v in row["evidence"].items() if k in names})
        if row["evidence"]
        else None
    )
    groups = row["groups"]
    # Rows dumped before stop 32 lack the flag: every evaluation run searched a fingerprint index.
    searched = row.get("fingerprint_searched", True) and fingerprint
    ranking = search_mod.rank(
        hits, heard, search, n_songs=row["n_songs"], groups=groups, fingerprint_searched=searched
    )
    fused, reason = ranking.fused, ranking.reason
    top, conf = (fused[0].song_id, fused[0].confidence * ranking.factor) if fused else (None, 0.0)
    rec = row.get("recognised") if fingerprint else None
    if rec is not None:
        same = next((f for f in fused if groups.get(f.song_id, f.song_id) == groups.get(rec, rec)), None)
        top, conf, reason = rec, max(ACCEPTED_CONFIDENCE, same.confidence if same else 0.0), None
    match = top is not None and conf >= search.match_threshold
    if top is not None and not match and reason is None:
        reason = evidence.NOT_IN_CATALOG
    return top, conf, reason, match


def figures(rows: list[dict], search, fingerprint: bool = True) -> dict[str, float]:
    inc = [r for r in rows if r["expected"] is not None]
    ooc = [r for r in rows if r["expected"] is None and r["kind"] != "nosong"]
    nos = [r for r in rows if r["kind"] == "nosong"]
    got = {id(r): answer(r, search, fingerprint) for r in rows}

    def right(r):
        g = r["groups"]
        top = got[id(r)][0]
        return (
            top is not None
            and r["expected"] is not None
            and g.get(top, top) == g.get(r["expected"], r["expected"])
        )

    confident = [r for r in rows if got[id(r)][3]]
    share = lambda xs, f: 100.0 * sum(map(f, xs)) / len(xs) if xs else float("nan")  # noqa: E731
    return {
        "top1": share(inc, right),
        "conf_n": len(confident),
        "conf_right": share(confident, right),
        "answered": share(inc, lambda r: got[id(r)][3] and right(r)),
        "ooc": share(ooc, lambda r: got[id(r)][3]),
        "nosong": share(nos, lambda r: got[id(r)][3]),
        "n": len(rows),
    }


def replay(files: list[Path], variants: dict[str, dict], config: Path, size: str) -> None:
    cfg = load_config(config)
    rows = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    rows = [r for r in rows if r["size"] == size]
    for r in rows:
        r["use"] = "choose" if for_choosing(r) else "report"
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(
            ("chosen on" if r["use"] == "choose" else "reported", r["family"], r["split"]), []
        ).append(r)
    groups[("chosen on", "all", "")] = [r for r in rows if r["use"] == "choose"]
    print(
        f"catalog size {size}; per group: top-1 | confident answers (n, % right) | in-catalog answered right | "
        f"out-of-catalog matched | no-song matched"
    )
    for name, over in variants.items():
        over = dict(over)
        no_fingerprint = bool(over.pop("no_fingerprint", False))
        search = cfg.search.model_validate({**cfg.search.model_dump(), **over})

        print(f"\n== {name}: {json.dumps(over)}")
        for key in sorted(groups):
            f = figures(groups[key], search, fingerprint=not no_fingerprint)
            print(
                f"  {' '.join(k for k in key if k):28s} n={f['n']:3d}  top-1 {f['top1']:5.1f} %  confident "
                f"{f['conf_n']:3d} ({f['conf_right']:5.1f} % right)  answered {f['answered']:5.1f} %  "
                f"ooc {f['ooc']:4.1f} %  no-song {f['nosong']:4.1f} %"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("run", type=Path)
    d.add_argument("--dataset", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--sizes", default="all")
    d.add_argument("--config", type=Path, default=Path("config.yaml"))
    r = sub.add_parser("replay")
    r.add_argument("files", type=Path, nargs="+")
    r.add_argument(
        "--variants", default='{"now": {}}', help="JSON: name → search settings over config.yaml's"
    )
    r.add_argument("--size", default="all")
    r.add_argument("--config", type=Path, default=Path("config.yaml"))
    args = ap.parse_args()
    if args.cmd == "dump":
        asyncio.run(dump(args.run, args.dataset, args.out, args.sizes.split(","), args.config))
    else:
        replay(args.files, json.loads(args.variants), args.config, args.size)


if __name__ == "__main__":
    main()
