"""Training the salience network on evaluation sets: only what may be chosen on is read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.embedders import melody, salience_net as sn
from evaluation import train_salience as train


def _dataset(root: Path, family: str) -> Path:
    """A manifest with one song per split, one real track and one outside song with a file."""
    (root / "truth").mkdir(parents=True)
    songs = []
    for k, split in enumerate(["fit", "held-out", "fit"]):
        sid = f"s{k}"
        plan = {"melody": [{"start": 1.0, "dur": 2.0, "pitch": 60.0 + k}]}
        (root / "truth" / f"{sid}.json").write_text(json.dumps({"plan": plan}))
        songs.append({"id": sid, "file": f"songs/{sid}.mp3", "truth": f"truth/{sid}.json", "split": split})
    songs[2]["real"] = True
    outside = [
        {"id": "o0", "file": "outside/o0.mp3", "truth": "truth/s0.json", "split": "fit"},
        {"id": "o1", "truth": "truth/s0.json", "split": "fit"},  # no audio: queries only
    ]
    (root / "manifest.json").write_text(json.dumps({"family": family, "songs": songs, "outside": outside}))
    return root


@pytest.mark.parametrize("family", ["a", "t"])
def test_only_the_fit_split_of_a_set_for_choices_is_trained_on(tmp_path: Path, family: str) -> None:
    jobs = train.dataset_jobs(_dataset(tmp_path / "d", family), tmp_path / "w", tmp_path / "cache")
    assert [j[2].name for j in jobs] == ["s0.npz", "o0.npz"]  # not held-out, not real, not file-less
    assert all(j[2].parent == tmp_path / "w" / "also" / family for j in jobs)


def test_family_b_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only reported"):
        train.dataset_jobs(_dataset(tmp_path / "d", "b"), tmp_path / "w", tmp_path / "cache")


def test_features_from_the_frames_cache_get_labels_from_the_truth(tmp_path: Path) -> None:
    # bench/melody_frames.py caches the network input without labels; training adds them
    d = _dataset(tmp_path / "d", "t")
    audio, truth, out, cached = train.dataset_jobs(d, tmp_path / "w", tmp_path / "cache")[0]
    n = 100  # network frames, 6.4 s
    cached.parent.mkdir(parents=True)
    np.savez_compressed(cached, x=np.ones((sn.N_CHANNELS, sn.N_BINS, n), np.float16), duration_s=6.4)
    assert not audio.exists()  # read from the cache, not decoded
    with np.load(train._features((audio, truth, out, cached))) as z:
        x, y = z["x"], z["y"]
    assert x.shape == (sn.N_CHANNELS, sn.N_BINS, n)
    t = (np.arange(n) + 0.5) * melody.SALIENCE_FRAME_S
    sounding = (t >= 1.0) & (t < 3.0)
    c4 = int(round((60.0 - melody.SALIENCE_MIDI_MIN) * sn.BINS_PER_OCTAVE / 12))
    assert set(y[sounding]) == {c4} and set(y[~sounding]) == {sn.N_BINS}
