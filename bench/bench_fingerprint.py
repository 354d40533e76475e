"""Landmark fingerprints on real music recorded by a phone in a noisy room (issue 15).

The catalog: real tracks of Debian's game-music packages (``evaluation.evalset.realmusic``), 80 % of
each package's tracks; the other 20 % are *unknown* recordings. Queries: excerpts of 3–15 s
through ``evaluation.evalset.phone`` (loudspeaker, room, crowd/traffic/pink/another song at −5…+20 dB,
mic, AGC, Opus 12–32 kb/s), some 2 % fast or slow; negatives: unknown tracks recorded alike,
hums of random tunes, and no-song sounds (held notes, sirens, noise, drums).

Every choice (landmark constants, the acceptance threshold) is made on the **fit** split's
queries; the **held-out** split's are only reported. Both splits' in-catalog tracks are in the
one catalog (a bigger catalog is the harder one).

    .venv/bin/python bench/bench_fingerprint.py --work eval-data/fp [--queries 200] [--workers 2]

Steps are cached under ``--work`` (landmarks per track, rendered queries); ``--rebuild-index``
re-makes the index after a landmark change (the landmark cache is keyed by its constants).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.evalset import effects, phone, realmusic  # noqa: E402
from evaluation.evalset.hum import HumNote, hum, random_voice  # noqa: E402
from core import audio  # noqa: E402
from core.errors import HumbotError  # noqa: E402
from core.fingerprint import landmarks as lm_mod  # noqa: E402
from core.fingerprint.matching import accepted, anchors_decide  # noqa: E402
from core.index.fingerprint_local import LocalFingerprintIndex  # noqa: E402

SIM_SR = 16000  # the phone simulation's rate: a loudspeaker's 6–8 kHz top is inside it
SNRS = (-5, 0, 5, 10, 15, 20)
LENGTHS = (3, 6, 10, 15)
NOISES = phone.NOISES
#: Bump when plan_queries or _render change what a query is: rendered queries are cached by it.
PLAN_VERSION = 3
#: Aligned anchors over a minute that make an "unknown" track a copy of a catalog song.
COPY_ALIGNED = 100


def landmark_key() -> str:
    """A digest of the song-side landmark constants: the cache of song landmarks is theirs."""
    names = [n for n in dir(lm_mod) if n.isupper() and not n.startswith("QUERY_") and n != "SPEEDS"]
    return hashlib.sha1(json.dumps({n: repr(getattr(lm_mod, n)) for n in names}, sort_keys=True).encode()).hexdigest()[:10]


def _song_landmarks(args: tuple[str, str, str]) -> tuple[str, float, float]:
    track_id, path, out = args
    t0 = time.process_time()
    try:
        a = audio.decode_file(Path(path), sample_rate=lm_mod.SAMPLE_RATE, max_seconds=1800)
    except HumbotError as e:  # a damaged file in a package: left out of the catalog
        print(f"skipping {track_id}: {e}", file=sys.stderr)
        return track_id, 0.0, 0.0
    t1 = time.process_time()
    lm = lm_mod.landmarks_of(a.samples)
    np.savez(out, hashes=lm.hashes, times=lm.times, peak_frames=lm.peak_frames, peak_bins=lm.peak_bins,
             duration_s=lm.duration_s, decode_s=t1 - t0,
             landmark_s=time.process_time() - t1)
    return track_id, lm.duration_s, time.process_time() - t1


@dataclass(frozen=True)
class Query:
    query_id: str
    kind: str  # "recording" (of a catalog song), "unknown" (a track not in it), "hum", "nosong"
    split: str
    track_id: str | None
    start_s: float
    length_s: float
    snr_db: float | None
    noise: str | None
    speed: float
    path: str


def plan_queries(catalog: list[realmusic.Track], unknown: list[realmusic.Track], n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    plans = []
    for split in realmusic.SPLITS:
        cat = [t for t in catalog if t.split == split]
        unk = [t for t in unknown if t.split == split]
        for i in range(n):
            kind = "recording" if i < int(n * 0.7) else ("unknown" if i < int(n * 0.85) else "hum" if i % 2 else "nosong")
            pool = cat if kind == "recording" else unk
            track = pool[int(rng.integers(len(pool)))] if kind in ("recording", "unknown") else None
            plans.append(_plan(f"{split}-{i:04d}", kind, split, track, i, unk, rng))
    return plans


def _plan(query_id: str, kind: str, split: str, track: realmusic.Track | None, i: int,
          unknown: list[realmusic.Track], rng: np.random.Generator) -> dict:
    """One query's plan: the ``i``-th's length, SNR and noise, then its draws from ``rng`` in a
    fixed order (speed, the other song, the seed, where it starts), which the cache relies on."""
    return dict(query_id=query_id, kind=kind, split=split,
                track_id=track.track_id if track else None, path_in=str(track.path) if track else None,
                length_s=float(LENGTHS[i % len(LENGTHS)]), snr_db=float(SNRS[(i // 4) % len(SNRS)]),
                noise=NOISES[(i // 24) % len(NOISES)], speed=float(rng.choice([1.0] * 6 + [0.98, 1.02])),
                # Music from another song: a track that is not in the catalog (the right answer
                # for a catalog song playing underneath is that song).
                other=str(unknown[int(rng.integers(len(unknown)))].path), seed=int(rng.integers(2**31)),
                start_frac=float(rng.uniform(0.05, 0.85)))


def plan_negatives(unknown: list[realmusic.Track], n: int, seed: int) -> list[dict]:
    """``n`` more negatives per split, drawn apart from :func:`plan_queries` (another generator,
    ids ``<split>-neg-NNNN``), so that its queries and their cache keep their meaning: 60 %
    recordings of unknown tracks, 20 % hums, 20 % tones and noise; same SNRs, lengths and noises."""
    rng = np.random.default_rng([seed, 1])
    plans = []
    for split in realmusic.SPLITS:
        unk = [t for t in unknown if t.split == split]
        for i in range(n):
            kind = "unknown" if i % 5 < 3 else ("hum" if i % 5 == 3 else "nosong")
            track = unk[int(rng.integers(len(unk)))] if kind == "unknown" else None
            plans.append(_plan(f"{split}-neg-{i:04d}", kind, split, track, i, unk, rng))
    return plans


def _random_hum(rng: np.random.Generator, length_s: float) -> np.ndarray:
    notes, t, pitch = [], 0.2, float(rng.uniform(50, 62))
    while t < length_s - 0.5:
        d = float(rng.uniform(0.2, 0.7))
        notes.append(HumNote(t, d * 0.9, pitch))
        t += d
        pitch = float(np.clip(pitch + rng.choice([-4, -2, -1, 0, 1, 2, 3, 5]), 45, 70))
    voice = random_voice(rng, str(rng.choice(["hm", "la", "da"])), float(rng.uniform(0.95, 1.25)))
    return hum(notes, voice, sr=SIM_SR, total_s=length_s, rng=rng)


def _render(args: tuple[dict, str]) -> dict:
    p, out_dir = args
    out = Path(out_dir) / f"{p['query_id']}.ogg"
    # Where the excerpt starts is kept beside the rendered query: finding it again means decoding
    # the whole track (five minutes for the bench's 1,000 queries).
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        return {**p, "start_s": json.loads(meta.read_text())["start_s"], "path": str(out)}
    rng = np.random.default_rng(p["seed"])
    if p["kind"] in ("recording", "unknown"):
        info = audio.decode_file(Path(p["path_in"]), sample_rate=1000, max_seconds=1800)  # just its length
        start = max(0.0, (info.duration_s - p["length_s"]) * p["start_frac"])
        music = effects.decode(Path(p["path_in"]), SIM_SR, start_s=start, duration_s=p["length_s"] * p["speed"])
    else:
        start = 0.0
        if p["kind"] == "hum":
            music = _random_hum(rng, p["length_s"])
        else:
            t = np.arange(int(p["length_s"] * SIM_SR)) / SIM_SR
            f = float(rng.uniform(150, 600))
            music = (0.3 * np.sin(2 * np.pi * f * t) if rng.random() < 0.5 else
                     0.1 * rng.standard_normal(len(t))).astype(np.float32)
    if not out.exists():
        other = effects.decode(Path(p["other"]), SIM_SR, start_s=5.0, duration_s=p["length_s"] + 1)
        ch = phone.draw_channel(rng, snr_db=p["snr_db"], noise=p["noise"], speed=p["speed"])
        phone.record(music, SIM_SR, ch, rng, out, other_music=other)
    meta.write_text(json.dumps({"start_s": start}))
    return {**p, "start_s": start, "path": str(out)}


async def _search(index: LocalFingerprintIndex, path: str, speeds: tuple[float, ...]):
    q = audio.decode_file(Path(path), sample_rate=lm_mod.SAMPLE_RATE, max_seconds=30)
    t0 = time.perf_counter()
    variants = lm_mod.query_variants(q.samples, speeds)
    t1 = time.perf_counter()
    found = await index.search(variants, top_k=10)
    return found, (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("eval-data/fp"))
    ap.add_argument("--queries", type=int, default=200, help="queries per split")
    ap.add_argument("--negatives", type=int, default=0,
                    help="more negatives per split (60 %% unknown tracks, 20 %% hums, 20 %% tones and noise)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--speeds", default=",".join(map(str, lm_mod.SPEEDS)))
    ap.add_argument("--rebuild-index", action="store_true")
    ap.add_argument("--dump", type=Path, help="write every query's outcome as JSON lines")
    args = ap.parse_args()
    speeds = tuple(float(s) for s in args.speeds.split(","))
    work = args.work
    tracks = realmusic.tracks(work / "unpacked")
    if not tracks:
        sys.exit(f"no real music installed: {realmusic.install_command()}")
    # 20 % of each package's tracks are unknown (never in the catalog), by a hash of the id.
    unknown = [t for t in tracks if int(hashlib.sha1(t.track_id.encode()).hexdigest(), 16) % 5 == 0]
    catalog = [t for t in tracks if t not in unknown]
    print(f"tracks: {len(tracks)} ({', '.join(f'{s} {sum(t.split == s for t in tracks)}' for s in realmusic.SPLITS)}); "
          f"catalog {len(catalog)}, unknown {len(unknown)}")

    key = landmark_key()
    lm_dir = work / f"landmarks-{key}"
    lm_dir.mkdir(parents=True, exist_ok=True)
    todo = [(t.track_id, str(t.path), str(lm_dir / (t.track_id.replace("/", "__") + ".npz"))) for t in catalog]
    todo = [a for a in todo if not Path(a[2]).exists()]
    t0 = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        for _ in pool.map(_song_landmarks, todo, chunksize=1):
            pass
    if todo:
        print(f"landmarks of {len(todo)} tracks in {time.time() - t0:.0f} s")
    catalog = [t for t in catalog if (lm_dir / (t.track_id.replace("/", "__") + ".npz")).exists()]
    loaded = {t.track_id: np.load(lm_dir / (t.track_id.replace("/", "__") + ".npz")) for t in catalog}
    # A track with no peaks is silence (wesnoth's silence.ogg: 10 s of zeros), not a song anyone
    # records: its "recordings" would be the room's noise alone.
    silent = sorted(tid for tid, z in loaded.items() if not len(z["hashes"]))
    if silent:
        print(f"silent tracks left out of the catalog and their queries out of the figures: {silent}")
    # (The query plan is still drawn over every track, so that cached queries keep their meaning.)
    loaded = {tid: z for tid, z in loaded.items() if tid not in silent}
    audio_min = sum(float(z["duration_s"]) for z in loaded.values()) / 60
    cpu = sum(float(z["landmark_s"]) for z in loaded.values())
    dec = sum(float(z["decode_s"]) for z in loaded.values())
    n_hashes = sum(len(z["hashes"]) for z in loaded.values())
    print(f"catalog audio {audio_min / 60:.1f} h; landmarks {cpu / audio_min:.2f} CPU s per audio minute "
          f"(+ decoding {dec / audio_min:.2f}); {n_hashes / (audio_min * 60):.0f} hashes a second")

    idx_dir = work / f"index-{key}"
    index = LocalFingerprintIndex(idx_dir)
    asyncio.run(index.open())
    have = asyncio.run(index.song_ids())
    if args.rebuild_index or have != set(loaded):
        t0 = time.time()
        for tid, z in loaded.items():
            if tid not in have or args.rebuild_index:
                asyncio.run(index.add(tid, lm_mod.Landmarks(z["hashes"], z["times"], float(z["duration_s"]),
                                                            z["peak_frames"], z["peak_bins"])))
        print(f"indexed in {time.time() - t0:.0f} s")
    st = asyncio.run(index.stats())
    print(f"index: {st.songs} songs, {st.hashes:,} hashes, {st.size_bytes / 2**20:.0f} MiB "
          f"= {st.size_bytes / 2**20 / (st.audio_s / 3600):.1f} MiB per hour of audio")

    # Game soundtracks hold variants of one track (a loop, a reprise): an "unknown" track that is a
    # recording of a catalog song is not unknown. Its first minute is looked up; a copy aligns
    # hundreds of anchors (unrelated tracks: at most ~15).
    copies = []
    for t in unknown:
        a = audio.decode_file(t.path, sample_rate=lm_mod.SAMPLE_RATE, max_seconds=60)
        found = asyncio.run(index.search(lm_mod.query_variants(a.samples, (1.0,)), top_k=2))
        if found and found[0].hit.aligned >= COPY_ALIGNED:
            copies.append((t.track_id, found[0].song_id))
    unknown = [t for t in unknown if t.track_id not in {c for c, _ in copies}]
    print(f"unknown tracks that are copies of catalog songs, left out: {len(copies)} {copies}")
    plans = plan_queries(catalog, unknown, args.queries, args.seed)
    plans += plan_negatives(unknown, args.negatives, args.seed)
    q_dir = work / f"queries-v{PLAN_VERSION}-{args.seed}"
    q_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        rendered = list(pool.map(_render, [(p, str(q_dir)) for p in plans], chunksize=2))
    print(f"{len(rendered)} queries ready in {time.time() - t0:.0f} s")

    outcomes = []
    lat = []

    async def run_all() -> None:
        for q in rendered:
            if q["track_id"] in silent:
                continue
            found, t_lm, t_search = await _search(index, q["path"], speeds)
            lat.append((t_lm, t_search))
            ids = [f.song_id for f in found]
            rank = ids.index(q["track_id"]) + 1 if q["kind"] == "recording" and q["track_id"] in ids else None
            top = found[0].hit if found else None
            hit = accepted([f.hit for f in found])
            answer = next(f.song_id for f in found if f.hit is hit) if hit is not None else None
            err = same = None
            if answer is not None and answer == q["track_id"]:
                err = abs(hit.offset_s - q["start_s"])
                same = bool(err <= 0.5 or _same_passage(loaded[q["track_id"]], q["start_s"], hit.offset_s, q["length_s"]))
            outcomes.append({**q, "rank": rank, "top_id": found[0].song_id if found else None,
                             "accepted": hit is not None, "answer": answer,
                             "found": answer is not None and answer == q["track_id"],
                             "by_votes": hit is not None and hit is top and not _verified_only(found),
                             "top_aligned": top.aligned if top else 0,
                             "runner_up": found[1].hit.aligned if len(found) > 1 else 0,
                             "verified_z": [round(f.hit.verified_z, 2) for f in found],
                             "offset_err": err, "offset_same_passage": same})

    asyncio.run(run_all())
    if args.dump:
        args.dump.write_text("".join(json.dumps(o) + "\n" for o in outcomes))
    report(outcomes)
    t_lm = np.array([a for a, _ in lat])
    t_s = np.array([b for _, b in lat])
    print(f"\nquery cost ({len(speeds)} speed variants; {st.songs} songs): landmarks p50 {np.median(t_lm):.0f} ms, "
          f"lookup + voting p50 {np.median(t_s):.0f} ms, p95 {np.percentile(t_s, 95):.0f} ms")


def _verified_only(found) -> bool:
    """Did the answer need the other candidates verified (the top song's anchors did not decide)?"""
    return not anchors_decide([f.hit for f in found])


def _same_passage(z, true_s: float, found_s: float, length_s: float) -> bool:
    """Is the song's audio at ``found_s`` the same as at ``true_s`` (a loop, a repeated chorus)?

    Half the song's hashes of the one passage recur at the same times in the other (±1 frame).
    """
    fr = lm_mod.FRAME_RATE
    h, t = z["hashes"], z["times"]
    a, b, n = int(true_s * fr), int(found_s * fr), int(length_s * fr)
    sel_a = (t >= a) & (t < a + n)
    sel_b = (t >= b - 1) & (t < b + n + 1)
    if not sel_a.any():
        return False
    other = {(int(x), int(y) - b) for x, y in zip(h[sel_b], t[sel_b])}
    shared = sum(any((int(x), int(y) - a + d) in other for d in (-1, 0, 1)) for x, y in zip(h[sel_a], t[sel_a]))
    return shared >= 0.5 * sel_a.sum()


def report(outcomes: list[dict]) -> None:
    for split in realmusic.SPLITS:
        rows = [o for o in outcomes if o["split"] == split]
        rec = [o for o in rows if o["kind"] == "recording"]
        print(f"\n== {split} split: {len(rec)} recordings of catalog songs")

        def line(sel: list[dict]) -> str:
            if not sel:
                return "—"
            top1 = np.mean([o["found"] for o in sel])
            top5 = np.mean([o["rank"] is not None and o["rank"] <= 5 for o in sel])
            return f"{100 * top1:5.1f} % found (answered with its song)  top-5 {100 * top5:5.1f} %  (n={len(sel)})"

        print("all            ", line(rec))
        main_ = [o for o in rec if 0 <= o["snr_db"] <= 15 and o["length_s"] >= 6]
        print("0–15 dB, 6–15 s", line(main_))
        for snr in SNRS:
            print(f"SNR {snr:+3d} dB     ", line([o for o in rec if o["snr_db"] == snr]))
        for length in LENGTHS:
            print(f"{length:2d} s clips     ", line([o for o in rec if o["length_s"] == length]))
        for noise in NOISES:
            print(f"noise {noise:9s}", line([o for o in rec if o["noise"] == noise]))
        for speed in (0.98, 1.0, 1.02):
            print(f"speed {speed:<9}", line([o for o in rec if o["speed"] == speed]))
        found = [o for o in rec if o["found"]]
        if found:
            print(f"found by the top song's anchors and peaks: {sum(o['by_votes'] for o in found)} of {len(found)}; "
                  f"the rest by verifying the other candidates")
        if found:
            within = np.mean([o["offset_err"] <= 0.5 for o in found])
            same = np.mean([bool(o["offset_same_passage"]) for o in found])
            print(f"offset within 0.5 s: {100 * within:.1f} % of {len(found)} found; "
                  f"within 0.5 s or at a repeat of the same audio (a loop): {100 * same:.1f} %")
        for kind in ("unknown", "hum", "nosong"):
            sel = [o for o in rows if o["kind"] == kind]
            if sel:
                fa = sum(o["accepted"] for o in sel)
                print(f"{kind:8s} answered as a match: {fa} of {len(sel)} ({100 * fa / len(sel):.1f} %)")
        neg = [o for o in rows if o["kind"] != "recording"]
        if neg:
            fa = sum(o["accepted"] for o in neg)
            best = sorted((max(o["verified_z"], default=0.0) for o in neg), reverse=True)
            print(f"all negatives answered as a match: {fa} of {len(neg)} ({100 * fa / len(neg):.1f} %); "
                  f"their best verified z: {', '.join(f'{z:.2f}' for z in best[:5])}; "
                  f"99th percentile {np.percentile(best, 99):.2f}")
        wrong = sum(1 for o in rec if o["accepted"] and not o["found"])
        print(f"recordings accepted with the wrong song: {wrong}")


if __name__ == "__main__":
    main()
