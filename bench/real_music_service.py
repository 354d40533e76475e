"""The whole service on the real-music bench: what a user gets for a phone held up to real music.

``bench/bench_fingerprint.py`` measures the landmark fingerprint path alone. A user gets the
service's answer: the fingerprint, and melody + harmony for everything it does not answer. This
turns that bench's queries (its ``--dump``) into an evaluation dataset, imports its catalog into
a fresh service, and leaves the searching to ``bench/fusion_replay.py dump``, so that fusion
variants replay offline (family ``r``: its fit split may be chosen on, its held-out split is
only reported, as in the fingerprint bench):

    .venv/bin/python bench/real_music_service.py eval-data/fp/run11.jsonl --work eval-data/fp --out eval-data/rm32
    .venv/bin/python bench/fusion_replay.py dump eval-data/rm32/melody+harmony --dataset eval-data/rm32 \
        --out eval-data/rm32/replay.jsonl
    .venv/bin/python bench/fusion_replay.py replay eval-data/rm32/replay.jsonl

Queries: every recording of a catalog track, and per split the first ``--negatives`` recordings
of unknown tracks and ``--others`` hums and no-song sounds each (the bench's plan order). In the
dataset, a recording of an unknown track is an out-of-catalog "recorded" query; a hum of a
random tune an out-of-catalog "hummed" one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from bench_fingerprint import landmark_key  # noqa: E402  (a sibling bench script)

from bot.config import load_config  # noqa: E402
from bot.wiring import build_service  # noqa: E402
from core.index.fingerprint_local import LocalFingerprintIndex  # noqa: E402
from evaluation.evalset import realmusic  # noqa: E402
from evaluation.evalset.dataset import song_upload  # noqa: E402
from evaluation.evaluate import variant_config  # noqa: E402

KINDS = {"recording": "recorded", "unknown": "recorded", "hum": "hummed", "nosong": "nosong"}


def manifest(
    outcomes: list[dict], catalog: set[str], tracks: dict[str, Path], negatives: int, others: int
) -> dict:
    """The bench's queries as an evaluation manifest (songs: the catalog's tracks, by absolute path)."""
    queries, taken = [], {}
    for o in outcomes:
        key = (o["split"], o["kind"])
        limit = {"recording": None, "unknown": negatives}.get(o["kind"], others)
        if o["kind"] == "recording" and o["track_id"] not in catalog:
            continue  # a silent track's queries (not in the catalog, not in the bench's figures)
        if limit is not None and taken.get(key, 0) >= limit:
            continue
        taken[key] = taken.get(key, 0) + 1
        queries.append({
            "file": str(Path(o["path"]).resolve()), "kind": KINDS[o["kind"]], "split": o["split"],
            "song": o["track_id"] if o["kind"] == "recording" else None,
            "subkind": o["kind"], "length_s": o["length_s"], "snr_db": o["snr_db"], "noise": o["noise"],
        })  # fmt: skip
    songs = [
        {"id": t, "file": str(tracks[t].resolve()), "title": t, "artist": t.split("/")[0]}
        for t in sorted(catalog)
    ]
    return {"family": "r", "songs": songs, "queries": queries}


async def import_catalog(m: dict, out: Path, config: Path) -> None:
    cfg = variant_config(load_config(config), "melody+harmony", out / "melody+harmony" / "data")
    service = build_service(cfg)
    await service.start()
    try:
        t0, audio_s = time.process_time(), 0.0
        for i, s in enumerate(m["songs"]):
            data, upload = song_upload(out, s, added_by="bench")
            res = await service.add_song(data, **upload)
            audio_s += res.song.duration_s
            print(f"{i + 1}/{len(m['songs'])} {s['id']} ({res.song.duration_s:.0f} s)", flush=True)
        print(f"imported {audio_s / 3600:.1f} h; {(time.process_time() - t0) / (audio_s / 60):.2f} CPU s "
              f"per audio minute in this process")  # fmt: skip
    finally:
        await service.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outcomes", type=Path, help="bench_fingerprint.py --dump of the query plan")
    ap.add_argument("--work", type=Path, default=Path("eval-data/fp"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--negatives", type=int, default=100, help="recordings of unknown tracks per split")
    ap.add_argument("--others", type=int, default=40, help="hums, and no-song sounds, per split")
    ap.add_argument("--config", type=Path, default=Path("config.yaml"))
    args = ap.parse_args()
    outcomes = [json.loads(x) for x in args.outcomes.read_text().splitlines()]
    index = LocalFingerprintIndex(args.work / f"index-{landmark_key()}")
    asyncio.run(index.open())
    catalog = asyncio.run(index.song_ids())  # the fingerprint bench's catalog, silent tracks left out
    tracks = {t.track_id: t.path for t in realmusic.tracks(args.work / "unpacked")}
    m = manifest(outcomes, catalog, tracks, args.negatives, args.others)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.json").write_text(json.dumps(m, indent=1))
    print(f"{len(m['songs'])} songs, {len(m['queries'])} queries → {args.out / 'manifest.json'}")
    if not (args.out / "melody+harmony" / "data").exists():
        asyncio.run(import_catalog(m, args.out, args.config))


if __name__ == "__main__":
    main()
