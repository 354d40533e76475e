"""How well :mod:`core.same_recording` tells a copy of a recording from another recording of the tune.

Pairs, each compared with :func:`core.same_recording.compare` on prints of the decoded files
(decoded as the import decodes them: ffmpeg to 32 kHz mono):

(a) the same recording: songs of the evaluation generator (``evaluation.evalset``: a folk tune arranged
    and rendered with fluidsynth) against copies made with the real ffmpeg — MP3, Opus and AAC at
    several bit rates, another sample rate, ±6 dB, trimmed 0.5–5 s at the start or end, padded
    with 1–3 s of silence, and a mild "remaster" (bass and treble shelves plus a compressor);
(b) different recordings sharing a tune: the same arrangement rendered with the other soundfont,
    the same notes on other instruments, another arrangement of the melody (other seed: chords,
    tempo, key), pairs of Bach's harmonisations of one chorale (music21's corpus, rendered at one
    tempo in one key so the tune sounds the same), the test suite's tune against a reharmonised
    rendering (same melody notes, other timbre and bass), and different songs.

The threshold is chosen on the pairs of the even-numbered songs/chorale families (the midpoint
of the widest gap around the best split), then the miss rate and false-alarm rate are reported
on the odd-numbered ones.

Usage: .venv/bin/python bench/bench_same_recording.py [--songs 8]   (≈ 3–4 CPU minutes)
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from core import audio as audio_mod  # noqa: E402
from core import same_recording as sr  # noqa: E402

DECODE_RATE = 32000

#: ffmpeg arguments of each same-recording variant (input: the song's lossless render).
VARIANTS: dict[str, list[str]] = {
    "mp3-64k": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "mp3-128k": ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "mp3-320k": ["-c:a", "libmp3lame", "-b:a", "320k", "-f", "mp3"],
    "opus-24k": ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"],
    "opus-96k": ["-c:a", "libopus", "-b:a", "96k", "-f", "ogg"],
    "aac-48k": ["-c:a", "aac", "-b:a", "48k", "-f", "adts"],
    "aac-128k": ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
    "sr-16k-mp3": ["-ar", "16000", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "sr-44k1-flac": ["-ar", "44100", "-c:a", "flac", "-f", "flac"],
    "gain+6dB": ["-af", "volume=6dB,alimiter=limit=0.99", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "gain-6dB": ["-af", "volume=-6dB", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "trim-start-0.5s": ["-ss", "0.5", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "trim-start-5s": ["-ss", "5", "-c:a", "aac", "-b:a", "96k", "-f", "adts"],
    "trim-end-3s": ["-af", "areverse,atrim=start=3,areverse", "-c:a", "libopus", "-b:a", "48k", "-f", "ogg"],
    "pad-1s": ["-af", "adelay=1000:all=1", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "pad-3s-both": ["-af", "adelay=3000:all=1,apad=pad_dur=3", "-c:a", "libopus", "-b:a", "64k", "-f", "ogg"],
    "remaster": ["-af", "bass=g=4:f=120,treble=g=3:f=6000,acompressor=threshold=0.1:ratio=3:attack=10:release=200,"
                 "volume=3dB,alimiter=limit=0.99", "-c:a", "flac", "-f", "flac"],
    "remaster-mp3": ["-af", "equalizer=f=2500:t=q:w=1:g=-4,bass=g=-3:f=100,acompressor=threshold=0.2:ratio=2",
                     "-c:a", "libmp3lame", "-b:a", "96k", "-f", "mp3"],
}


def ffmpeg(src: Path, args: list[str]) -> bytes:
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(src), "-ac", "1", *args, "pipe:1"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def print_of(data: bytes, suffix: str) -> sr.RecordingPrint:
    decoded = audio_mod.decode_bytes(data, sample_rate=DECODE_RATE, max_seconds=1200, suffix=suffix)
    return sr.recording_print(decoded.samples, DECODE_RATE)


def print_of_samples(y: np.ndarray, rate: int) -> sr.RecordingPrint:
    return sr.recording_print(audio_mod.Audio(y.astype(np.float32), rate).resampled(DECODE_RATE).samples,
                              DECODE_RATE)


def flac_of(y: np.ndarray, rate: int, path: Path) -> Path:
    pcm = np.clip(y, -1, 1).astype("<f4").tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(rate), "-ac", "1",
                    "-i", "pipe:0", "-c:a", "flac", str(path)], input=pcm, check=True, capture_output=True)
    return path


# -- renders ------------------------------------------------------------------------------------
def render_plan(plan, path: Path) -> Path:
    from evaluation.evalset.render import render_song

    render_song(plan, path, fmt="flac")
    return path


def other_instruments(plan):
    """The same notes on other GM programs (lead and band), same soundfonts."""
    def moved(part):
        if part.role == "drums":
            return part
        return dataclasses.replace(part, program=(part.program + 41) % 96)

    lead = moved(plan.lead_part) if plan.lead_part is not None else None
    return dataclasses.replace(plan, song_id=plan.song_id + "-inst", lead_part=lead,
                               band=tuple(moved(p) for p in plan.band))


def other_soundfont(plan):
    swap = {"FluidR3_GM": "TimGM6mb", "TimGM6mb": "FluidR3_GM"}
    return dataclasses.replace(plan, song_id=plan.song_id + "-sf", lead_soundfont=swap[plan.lead_soundfont],
                               band_soundfont=swap[plan.band_soundfont], drum_kit=0)


CHORALE_FAMILIES = [  # harmonisations of one chorale melody (BWV numbers in music21's corpus)
    ("Jesu, meine Freude", ["bwv64.8", "bwv81.7", "bwv87.7", "bwv227.1", "bwv358"]),
    # (not BWV 244.17: the same four voices as 244.15 a semitone higher, so one audio once both
    # are moved to one key — it compared at 0.952, as a copy does)
    ("Herzlich tut mich verlangen", ["bwv244.15", "bwv244.44", "bwv244.54", "bwv244.62", "bwv270"]),
    ("Wer nur den lieben Gott lässt walten", ["bwv88.7", "bwv93.7", "bwv179.6"]),
]


def render_chorale(name: str, path: Path, *, qpm: float = 72.0, tonic_pc: int = 0) -> Path:
    """All four voices of a chorale on a church organ, at ``qpm``, moved to the key of ``tonic_pc``."""
    from music21 import corpus, interval

    from evaluation.evalset.arrange import NoteEvent, Part
    from evaluation.evalset.render import fluidsynth

    score = corpus.parse(f"bach/{name}")
    key = score.analyze("key")
    shift = ((tonic_pc - key.tonic.pitchClass + 6) % 12) - 6
    score = score.transpose(interval.Interval(shift))
    spb = 60.0 / qpm
    parts, end = [], 0.0
    for ch, part in enumerate(score.parts[:4]):
        events = []
        for n in part.flatten().notes:
            for p in (n.pitches if n.isChord else [n.pitch]):
                start, dur = float(n.offset) * spb, float(n.quarterLength) * spb
                events.append(NoteEvent(start, dur, int(p.midi), 90))
                end = max(end, start + dur)
        parts.append(Part("chords", "organ", 19, ch, tuple(events)))
    with tempfile.TemporaryDirectory() as d:
        y = fluidsynth(parts, "FluidR3_GM", sr=22050, end_s=end + 1.0, reverb=False, workdir=Path(d)).mean(axis=1)
    return flac_of(0.5 * y / max(1e-6, np.abs(y).max()), 22050, path)


# -- the measurement ----------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()

    from audio_fixtures import reharmonised, tune

    from evaluation.evalset.arrange import plan_song
    from evaluation.evalset.scores import load_melodies

    same: list[tuple[int, str, float]] = []  # (group, kind, similarity)
    diff: list[tuple[int, str, float]] = []
    melodies = load_melodies(args.songs, workers=1)
    with tempfile.TemporaryDirectory(prefix="bench-same-") as d:
        work = Path(d)
        prints = []
        for i, m in enumerate(melodies):
            plan = plan_song(m, np.random.default_rng([args.seed, i]), song_id=f"s{i}", sung=False)
            base = render_plan(plan, work / f"s{i}.flac")
            p = print_of(base.read_bytes(), ".flac")
            prints.append(p)
            for name, fargs in VARIANTS.items():
                same.append((i, name, sr.compare(print_of(ffmpeg(base, fargs), "." + fargs[-1]), p).similarity))
            for kind, alt in (("other soundfont", other_soundfont(plan)), ("other instruments", other_instruments(plan)),
                              ("other arrangement", plan_song(m, np.random.default_rng([args.seed, i, 1]),
                                                              song_id=f"s{i}b", sung=False))):
                q = print_of(render_plan(alt, work / f"{alt.song_id}.flac").read_bytes(), ".flac")
                diff.append((i, kind, sr.compare(q, p).similarity))
            print(f"song {i}: {m.title[:40]!r} {plan.duration_s:.0f} s, {time.perf_counter() - t0:.0f} s so far",
                  file=sys.stderr)
        for i in range(len(prints)):
            for j in range(i + 1, len(prints)):
                diff.append((i, "different songs", sr.compare(prints[i], prints[j]).similarity))
        for fam, (_, works) in enumerate(CHORALE_FAMILIES):
            cp = [print_of(render_chorale(w, work / f"{w}.flac").read_bytes(), ".flac") for w in works]
            for i in range(len(cp)):
                for j in range(i + 1, len(cp)):
                    diff.append((fam, "chorale harmonisations", sr.compare(cp[i], cp[j]).similarity))
        for seed in range(1, 7):
            y = tune(seed)
            diff.append((seed, "test tune reharmonised", sr.compare(print_of_samples(reharmonised(seed), 32000),
                                                                    print_of_samples(y, 32000)).similarity))

    def table(rows: list[tuple[int, str, float]], title: str) -> None:
        print(f"\n{title}: {len(rows)} pairs")
        kinds = sorted({k for _, k, _ in rows}, key=lambda k: [r[1] for r in rows].index(k))
        for k in kinds:
            v = np.array([s for _, kk, s in rows if kk == k])
            print(f"  {k:24s} n={len(v):3d}  min {v.min():.3f}  median {np.median(v):.3f}  max {v.max():.3f}")

    table(same, "(a) same recording")
    table(diff, "(b) different recordings")
    fit_s = np.array([s for g, _, s in same if g % 2 == 0])
    fit_d = np.array([s for g, _, s in diff if g % 2 == 0])
    if fit_d.max() < fit_s.min():  # separable: the middle of the gap
        lo, hi = float(fit_d.max()), float(fit_s.min())
        threshold = (lo + hi) / 2
    else:  # the split with the fewest errors
        cands = np.unique(np.concatenate([fit_s, fit_d]))
        threshold = float(min(cands, key=lambda c: np.mean(fit_s < c) + np.mean(fit_d >= c)))
        lo = hi = threshold
    best_err = np.mean(fit_s < threshold) + np.mean(fit_d >= threshold)
    test_s = np.array([s for g, _, s in same if g % 2 == 1])
    test_d = np.array([s for g, _, s in diff if g % 2 == 1])
    print(f"\nthreshold (fitted on the even half: {len(fit_s)} same, {len(fit_d)} different pairs): {threshold:.3f}"
          f"  [gap {lo:.3f}–{hi:.3f}, errors there {best_err:.3f}]")
    print(f"held-out half: {len(test_s)} same, {len(test_d)} different pairs: "
          f"miss rate {np.mean(test_s < threshold):.3f} ({int(np.sum(test_s < threshold))}), "
          f"false-alarm rate {np.mean(test_d >= threshold):.3f} ({int(np.sum(test_d >= threshold))})")
    print(f"lowest same {min(s for *_, s in same):.3f}, highest different {max(s for *_, s in diff):.3f}; "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
