"""Train the melody-salience network (core/embedders/salience_net.py) and write its weights.

    .venv/bin/python -m evaluation.train_salience WORK_DIR [--also DATASET ...] [--songs 560] [--seed 7] [--steps 3000]

1. Renders ``--songs`` songs with :mod:`evaluation.evalset` (same arranger and mixing as family A) from
   tunes that are in *no* evaluation set: the first ``--exclude`` tunes of the corpus order
   (family A's 300 songs and 129 outside tunes) are skipped, and family B's tunes start after
   the training tunes (``evaluation.evalset.dataset.FAMILY_B_TUNE_OFFSET``). 60 % of the songs are sung:
   a third of those by festival's voices, the rest by the synthetic singer's training voices
   (``evaluation.evalset.singer.TRAIN_VOICES``: vibrato, scoops, portamento, drift, breath, consonants,
   six languages). The tune sits −9 to +6 dB against the band, and half the songs go through a
   mix bus (EQ, compression, saturation, room, noise). Soundfonts: family A's two only. Family
   B's voices and soundfont are never heard here. Each song's melody notes are its labels.
2. Computes the network's input for each song, exactly as the melody embedder does at import.
   ``--also DATASET`` adds the ``fit`` split of an evaluation set that may be chosen on
   (families A and T; never a held-out split, and family B is refused). Their inputs are read
   from ``bench/melody_frames.py``'s cache where it has them.
3. Trains the same network in torch (CPU) on random 16 s crops and saves it as the numpy
   weights :data:`core.embedders.salience_net.WEIGHTS` (or ``--weights``).

Everything follows from the seed (torch's CPU kernels may still differ in the last bits from run
to run). Rendered songs and features stay in WORK_DIR and are reused by the next run. What the
shipped weights were trained with, and what they measure, is in BENCHMARKS.md (issue 18).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.evalset import dataset as ds
from evaluation.evalset import singer as synth
from evaluation.evalset.scores import load_melodies
from core.embedders import melody, salience_net as sn

log = logging.getLogger("train_salience")
CROP = 256  # network frames per training example (16 s)
#: Leading corpus tunes left out (family A's 300 songs and 129 outside tunes, and a margin) and
#: training tunes taken after them: family B's tunes start at 1,000 (evaluation.evalset.dataset).
DEFAULT_EXCLUDE, DEFAULT_SONGS = 440, 560


#: Share of training songs whose melody is sung, and of those, the share festival sings (the rest:
#: the synthetic singer's training voices, evaluation.evalset.singer.TRAIN_VOICES).
SUNG_SHARE, FESTIVAL_SHARE = 0.6, 0.3
#: Share of training songs that go through a mix bus (EQ, compression, saturation, room, noise).
MASTERED_SHARE = 0.5
#: The tune's level against the band in training songs (dB): the range issue 18 names.
MELODY_DB = (-9.0, 6.0)
_SYNTH = tuple(synth.as_lead(n) for n in synth.TRAIN_VOICES)


def training_family(seed: int, tune_id: str, sung: bool) -> ds.Family:
    """Who sings (festival or one of the synthetic training voices) and whether the song is
    mastered, drawn per tune. Family B's voices and soundfont are never used here."""
    h = ds._h(seed, "train-voice", tune_id)
    festival = h % 100 < FESTIVAL_SHARE * 100
    return ds.Family(
        "train",
        singers=None if festival or not sung else _SYNTH,
        melody_db_range=MELODY_DB,
        mastered=(h >> 8) % 100 < MASTERED_SHARE * 100,
    )


def render_songs(work: Path, n: int, seed: int, exclude: int, workers: int) -> list[Path]:
    """Render ``n`` training songs into ``work/songs``; returns their truth files."""
    taken = load_melodies(exclude, workers=workers)
    tunes = load_melodies(n, exclude=taken, workers=workers)
    assert not {m.tune_id for m in tunes} & {m.tune_id for m in taken}
    jobs, truths = [], []
    for m in tunes:
        sung = ds._h(seed, "sung", m.tune_id) % 100 < SUNG_SHARE * 100
        plan, fmt = ds.plan_song_and_format(m, seed, sung, family=training_family(seed, m.tune_id, sung))
        audio, truth = work / "songs" / f"{plan.song_id}.{fmt}", work / "songs" / f"{plan.song_id}.json"
        truths.append(truth)
        if not truth.exists():
            jobs.append((plan, str(audio), ds.DEFAULT_SR, fmt, str(truth), "train"))
    (work / "songs").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as ex:
        for k, _ in enumerate(ex.map(ds._render_song_job, jobs)):
            if k % 50 == 0:
                log.info("rendered %d/%d songs", k, len(jobs))
    return truths


def labels(plan: dict, n_frames: int) -> np.ndarray:
    """(n_frames,) network-bin index of the melody at each frame's centre, N_BINS where none."""
    t = (np.arange(n_frames) + 0.5) * melody.SALIENCE_FRAME_S
    y = np.full(n_frames, sn.N_BINS, np.int64)
    for note in plan["melody"]:
        sel = (t >= note["start"]) & (t < note["start"] + note["dur"])
        b = int(round((note["pitch"] - melody.SALIENCE_MIDI_MIN) * sn.BINS_PER_OCTAVE / 12))
        y[sel] = b % sn.BINS_PER_OCTAVE + sn.BINS_PER_OCTAVE * min(max(b // sn.BINS_PER_OCTAVE, 0), 3)
    return y


def song_features(truth: Path) -> Path:
    """Cache the network input and labels of one rendered training song next to it (``.npz``)."""
    audio = next(p for p in truth.parent.glob(truth.stem + ".*") if p.suffix not in (".json", ".npz"))
    return _features((audio, truth, truth.with_suffix(".npz"), None))


@functools.cache
def _posterior() -> melody.pitch_posterior.PitchPosterior:
    """One Basic Pitch session per worker process, not one per song."""
    return melody.pitch_posterior.PitchPosterior()


def _features(job: tuple[Path, Path, Path, Path | None]) -> Path:
    """(audio, truth json, output .npz, a bench/melody_frames.py cache file or None) → output."""
    from core.audio import decode_bytes

    audio, truth, out, cached = job
    if out.exists():
        return out
    plan = json.loads(truth.read_text())["plan"]
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            x = z["x"]
    else:
        y = decode_bytes(
            audio.read_bytes(), sample_rate=melody.SAMPLE_RATE, max_seconds=1200, suffix=audio.suffix
        ).samples
        x = melody.salience_input(y, _posterior().posterior(y, melody.SAMPLE_RATE))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x=x.astype(np.float16), y=labels(plan, x.shape[-1]))
    return out


#: The only split of an evaluation set that training may read. Family T's held-out split may be
#: chosen on too, but is kept out so that a network trained with ``--also`` can still be judged
#: on T before anything is reported on family B.
TRAINED_SPLIT = "fit"


def dataset_jobs(dataset: Path, work: Path, frames_cache: Path) -> list[tuple[Path, Path, Path, Path | None]]:
    """Feature jobs for the :data:`TRAINED_SPLIT` songs of ``dataset``.

    Raises ``ValueError`` for a family that is only ever reported (B: not ``for_choices``)."""
    m = json.loads((dataset / "manifest.json").read_text())
    family = m.get("family", "a")
    if not ds.FAMILIES[family].for_choices:
        raise ValueError(f"family {family!r} is only reported, never trained on ({dataset})")
    jobs = []
    for s in m["songs"] + [o for o in m.get("outside", []) if o.get("file")]:
        if s.get("real") or not s.get("truth") or s.get("split") != TRAINED_SPLIT:
            continue
        jobs.append(
            (
                dataset / s["file"],
                dataset / s["truth"],
                work / "also" / family / f"{s['id']}.npz",
                frames_cache / family / f"{s['id']}.npz",
            )
        )
    return jobs


def soft_targets(y, sigma_bins: float = 1.0):
    """(B, T) labels → (B, F + 1, T) target distributions: a Gaussian over pitch bins, or "none"."""
    import torch

    bins = torch.arange(sn.N_BINS, dtype=torch.float32)[None, :, None]
    g = torch.exp(-0.5 * ((bins - y[:, None, :].float()) / sigma_bins) ** 2)
    voiced = (y < sn.N_BINS)[:, None, :]
    g = torch.where(voiced, g, torch.zeros_like(g))
    none = (~voiced).float()
    t = torch.cat([g, none], dim=1)
    return t / t.sum(dim=1, keepdim=True)


def train(
    files: list[Path], steps: int, seed: int, batch: int = 8, also: Sequence[Path] = (), width: int = sn.WIDTH
) -> tuple[object, dict]:
    """Train on ``files`` (rendered training songs) and ``also`` (songs of sets that may be chosen
    on). The first tenth of ``files`` is held back for the validation figure, so that figure
    means the same whatever ``also`` adds."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = []
    for f in [*files, *also]:
        with np.load(f) as z:
            data.append((z["x"].astype(np.float32), z["y"]))
    n_val = max(1, len(files) // 10)
    val, tr = data[:n_val], data[n_val:]
    model = sn.torch_module(width)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    for step in range(steps):
        xs, ys = [], []
        for k in rng.integers(len(tr), size=batch):
            x, y = tr[k]
            s = int(rng.integers(max(1, x.shape[-1] - CROP)))
            xc, yc = x[..., s : s + CROP], y[s : s + CROP]
            pad = CROP - xc.shape[-1]
            xs.append(np.pad(xc, ((0, 0), (0, 0), (0, pad))))
            ys.append(np.pad(yc, (0, pad), constant_values=sn.N_BINS))
        x, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
        loss = -(soft_targets(y) * torch.log_softmax(model(x), dim=1)).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log.info("step %d/%d loss %.3f (%.0f s)", step, steps, loss.item(), time.time() - t0)
    return model, {
        "val_frame_accuracy": frame_accuracy(model, val),
        "train_songs": len(tr),
        "val_songs": len(val),
    }


def frame_accuracy(model, data) -> float:
    """Share of melody frames whose most likely pitch is within a semitone (octave-folded)."""
    import torch

    hits = total = 0
    with torch.no_grad():
        for x, y in data:
            z = model(torch.from_numpy(x)[None])[0, : sn.N_BINS].argmax(dim=0).numpy()
            v = y < sn.N_BINS
            d = (z[v] - y[v]) % sn.BINS_PER_OCTAVE
            hits += int(np.sum(np.minimum(d, sn.BINS_PER_OCTAVE - d) < 3))
            total += int(v.sum())
    return hits / max(total, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work_dir", type=Path)
    ap.add_argument("--songs", type=int, default=DEFAULT_SONGS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--exclude",
        type=int,
        default=DEFAULT_EXCLUDE,
        help="leading corpus tunes to leave out (family A's 300 songs and 129 outside tunes)",
    )
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--weights", type=Path, default=sn.WEIGHTS)
    ap.add_argument(
        "--also",
        type=Path,
        nargs="*",
        default=[],
        help="evaluation sets whose fit split is trained on as well (families A and T)",
    )
    ap.add_argument("--width", type=int, default=sn.WIDTH, help="channels of each hidden layer")
    ap.add_argument("--frames-cache", type=Path, default=Path("eval-data/frames-cache"))
    args = ap.parse_args(argv)
    try:  # before any rendering: a set that may not be trained on is refused at once
        also_jobs = [j for d in args.also for j in dataset_jobs(d, args.work_dir, args.frames_cache)]
    except ValueError as e:
        ap.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    truths = render_songs(args.work_dir, args.songs, args.seed, args.exclude, args.workers)
    with ProcessPoolExecutor(args.workers) as ex:
        files = list(ex.map(song_features, truths))
        also = list(ex.map(_features, also_jobs))
    log.info("features for %d songs, and %d from %s", len(files), len(also), args.also)
    model, info = train(files, args.steps, args.seed, also=also, width=args.width)
    sn.save_torch(model, args.weights)
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
