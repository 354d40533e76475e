"""Song-melody frame accuracy of the salience network, by how the song carries its tune.

    .venv/bin/python bench/melody_frames.py eval-data/dataset eval-data/dataset-b \\
        --weights core/embedders/weights/salience-1.npz eval-data/sal2/salience-2.npz

For every rendered song of each data set (real distractor tracks have no truth and are skipped),
the network's input is computed once, exactly as an import computes it, and cached under
``--cache``; then each ``--weights`` file tracks the melody through the same Viterbi path and
voicing rule as the melody embedder (:func:`core.embedders.melody.contour_from_salience`).

Figures, per data set and group (sung/instrumental melody, singer, soundfont, split):

* **accuracy**: frames where the true melody sounds and the tracked melody is within a semitone
  of it, octave-folded (the vectors are octave-blind) — unvoiced estimates count as misses;
* **voicing false alarm**: frames with no melody where the tracker reports one.

Frames are the contour's (10 per second); the truth is the melody note sounding at a frame's
centre, from the data set's ``truth/songs/*.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.embedders import melody, salience_net  # noqa: E402


@functools.cache
def _posterior():
    """One Basic Pitch session per worker process, not one per song."""
    from core.embedders.pitch_posterior import PitchPosterior

    return PitchPosterior(threads=1)


def _features(job: tuple[str, str]) -> str:
    from core.audio import decode_bytes

    audio, out = Path(job[0]), Path(job[1])
    if out.exists():
        return str(out)
    y = decode_bytes(audio.read_bytes(), sample_rate=melody.SAMPLE_RATE, max_seconds=1200,
                     suffix=audio.suffix).samples
    x = melody.salience_input(y, _posterior().posterior(y, melody.SAMPLE_RATE))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part.npz")
    np.savez_compressed(tmp, x=x.astype(np.float16), duration_s=len(y) / melody.SAMPLE_RATE)
    tmp.replace(out)
    return str(out)


def truth_frames(plan: dict, n: int) -> np.ndarray:
    """(n,) true melody MIDI (NaN where none) at each contour frame's centre."""
    t = (np.arange(n) + 0.5) / melody.FRAME_RATE
    y = np.full(n, np.nan)
    for note in plan["melody"]:
        y[(t >= note["start"]) & (t < note["start"] + note["dur"])] = note["pitch"]
    return y


def score(est: np.ndarray, ref: np.ndarray) -> tuple[int, int, int, int]:
    """(voiced truth frames, of them right within a semitone octave-folded, unvoiced truth
    frames, of them reported voiced)."""
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    v = ~np.isnan(ref)
    d = np.abs(((est - ref) + 6.0) % 12.0 - 6.0)
    right = v & ~np.isnan(est) & (d < 1.0)
    return int(v.sum()), int(right.sum()), int((~v).sum()), int((~v & ~np.isnan(est)).sum())


def groups_of(s: dict) -> dict[str, str]:
    """The groups a song is counted in: group → value (a sung song's soundfont is its band's)."""
    lead = "sung" if s["sung"] else "instrumental"
    g = {"all": "all", "lead": lead,
         "singer": s["lead"] if s["sung"] else "(instrument)",
         "soundfont": s["plan"]["band_soundfont"] + " band" if s["sung"] else s["plan"]["lead_soundfont"],
         "split": s.get("split") or "-"}
    return g | {f"{k}/lead": f"{g[k]} / {lead}" for k in ("singer", "soundfont", "split")}


def songs_of(dataset: Path) -> list[dict]:
    m = json.loads((dataset / "manifest.json").read_text())
    out = []
    for s in m["songs"] + [o for o in m.get("outside", []) if o.get("file")]:
        if s.get("real") or not s.get("truth"):
            continue
        plan = json.loads((dataset / s["truth"]).read_text())["plan"]
        out.append({**s, "plan": plan, "family": m.get("family", "a"), "path": dataset / s["file"]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", type=Path)
    ap.add_argument("--weights", nargs="+", type=Path, default=[salience_net.WEIGHTS])
    ap.add_argument("--cache", type=Path, default=Path("eval-data/frames-cache"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--by", default="lead,singer,soundfont,split", help="groups to print")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    songs = [s for d in args.datasets for s in songs_of(d)]
    for s in songs:
        s["features"] = args.cache / s["family"] / f"{s['id']}.npz"
    with ProcessPoolExecutor(args.workers) as ex:
        list(ex.map(_features, [(str(s["path"]), str(s["features"])) for s in songs]))

    nets = {w.name: salience_net.SalienceNet(w) for w in args.weights}
    # (weights, family, group, value) → [voiced, right, unvoiced, false alarms]
    acc: dict[tuple[str, str, str, str], np.ndarray] = defaultdict(lambda: np.zeros(4, int))
    for s in songs:
        with np.load(s["features"]) as z:
            x, dur = z["x"].astype(np.float32), float(z["duration_s"])
        for wname, net in nets.items():
            est = melody.contour_from_salience(x, dur, net)
            c = np.array(score(est, truth_frames(s["plan"], len(est))))
            for g, val in groups_of(s).items():
                acc[(wname, s["family"], g, val)] += c

    wanted = ["all", *args.by.split(","), *(f"{g}/lead" for g in ("split",))]
    rows = []
    print(f"{'family':6s} {'group':10s} {'value':34s} {'songs':>5s}  " + "  ".join(f"{w[:22]:>22s}" for w in nets))
    print(f"{'':6s} {'':10s} {'':34s} {'':>5s}  " + "  ".join(f"{'accuracy / false alarm':>22s}" for _ in nets))
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for s in songs:
        for g, val in groups_of(s).items():
            counts[(s["family"], g, val)] += 1
    keys = sorted({(f, g, v) for (_, f, g, v) in acc}, key=lambda k: (k[0], wanted.index(k[1]) if k[1] in wanted else 99, k[2]))
    for fam, g, val in keys:
        if g not in wanted:
            continue
        cells, row = [], {"family": fam, "group": g, "value": val, "songs": counts[(fam, g, val)]}
        for w in nets:
            v, r, u, fa = acc[(w, fam, g, val)]
            row[w] = {"accuracy": r / max(v, 1), "false_alarm": fa / max(u, 1)}
            cells.append(f"{r / max(v, 1):10.1%} / {fa / max(u, 1):8.1%}")
        rows.append(row)
        print(f"{fam:6s} {g:10s} {val[:34]:34s} {counts[(fam, g, val)]:5d}  " + "  ".join(f"{c:>22s}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
