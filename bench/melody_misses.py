"""Why hums and sung queries miss: the song's tracked melody at the passage, the query's contour, or the search.

    .venv/bin/python bench/melody_misses.py eval-data/dataset-t eval-data/t30/melody+harmony --split all

For every hummed and sung in-catalog query of an evaluation run (``humbot eval``'s
``queries.jsonl``) this reads, without searching again:

* **song passage accuracy**: the stored melody contour of the expected song (what the re-ranking
  aligns) against the song's true melody over the passage the query covers (``offset_s`` …
  ``offset_s + excerpt_s``), as in ``bench/melody_frames.py``: frames within a semitone,
  octave-folded, over frames where the tune sounds;
* **query accuracy**: SwiftF0's contour of the query (the service's tracker and threshold)
  against the notes as performed;
* the rank the run gave the expected song.

It prints the figures for hits and misses, split by how the song carries its tune (sung or
played), and lists the misses. Use it on a split choices may be made on (family A's fit split, or
family T): on family B it is only a report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from melody_frames import score, truth_frames  # noqa: E402

from core import voice_pitch  # noqa: E402
from core.audio import decode_bytes  # noqa: E402
from core.embedders import melody  # noqa: E402


def passage_accuracy(contour: np.ndarray, plan: dict, start_s: float, dur_s: float) -> float:
    """Share of the passage's tune frames where ``contour`` (MIDI/NaN at FRAME_RATE) is right."""
    ref = truth_frames(plan, len(contour))
    a, b = int(start_s * melody.FRAME_RATE), int((start_s + dur_s) * melody.FRAME_RATE) + 1
    v, r, _, _ = score(contour[a:b], ref[a:b])
    return r / max(v, 1)


def query_accuracy(path: Path, notes: list[dict]) -> float:
    y = decode_bytes(path.read_bytes(), sample_rate=melody.SAMPLE_RATE, max_seconds=60, suffix=path.suffix).samples
    est = melody.query_contour(y, voice_pitch.shared())
    v, r, _, _ = score(est, truth_frames({"melody": notes}, len(est)))
    return r / max(v, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("run", type=Path, help="an eval run folder, e.g. eval-data/t30/melody+harmony")
    ap.add_argument("--split", default="fit", choices=("fit", "held-out", "all"))
    args = ap.parse_args(argv)

    manifest = json.loads((args.dataset / "manifest.json").read_text())
    songs = {s["id"]: s for s in manifest["songs"]}
    queries = {q["id"]: q for q in manifest["queries"]}
    rows = [json.loads(line) for line in (args.run / "queries.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["kind"] in ("hummed", "sung") and r.get("expected")
            and (args.split == "all" or r["split"] == args.split)]
    groups: dict[tuple[str, str, bool], list[tuple[float, float]]] = defaultdict(list)
    misses = []
    for r in rows:
        q = queries[r["id"]]
        song = songs[q["song"]]
        truth_q = json.loads((args.dataset / q["truth"]).read_text())
        plan = json.loads((args.dataset / song["truth"]).read_text())["plan"]
        contour = np.load(args.run / "data" / "features" / "melody" / f"{r['expected']}.npy")
        song_acc = passage_accuracy(contour, plan, truth_q["offset_s"], truth_q["excerpt_s"])
        q_acc = query_accuracy(args.dataset / q["file"], truth_q["notes"])
        lead = "sung" if song["sung"] else "played"
        hit = r.get("rank") == 1
        groups[(r["kind"], lead, hit)].append((song_acc, q_acc))
        if not hit:
            misses.append((r["id"], lead, r.get("rank"), song_acc, q_acc, truth_q["performer"], q["duration_s"]))

    print(f"{'query':7s} {'song tune':9s} {'':5s} {'n':>3s}  {'song passage acc':>16s}  {'query acc':>9s}")
    for (kind, lead, hit), v in sorted(groups.items()):
        a = np.array(v)
        print(f"{kind:7s} {lead:9s} {'hit' if hit else 'miss':5s} {len(v):3d}  "
              f"{np.median(a[:, 0]):16.1%}  {np.median(a[:, 1]):9.1%}   (medians)")
    print("\nmisses: query, song tune, rank, song passage acc, query acc, performer, query s")
    for m in sorted(misses, key=lambda m: m[3]):
        print(f"  {m[0]:12s} {m[1]:6s} rank {m[2]!s:>4s}  song {m[3]:6.1%}  query {m[4]:6.1%}  {m[5]}  {m[6]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
