"""Basic Pitch's posterior: the real ONNX model vendored from its wheel, and a clear error without it."""

from __future__ import annotations

import numpy as np
import pytest

from core.embedders import pitch_posterior
from core.errors import ConfigError


def test_a_tone_lights_up_its_own_pitch() -> None:
    sr = 16000
    t = np.arange(3 * sr) / sr
    f0 = 440.0 * 2 ** ((72 - 69) / 12)  # C5
    y = (0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(4 * np.pi * f0 * t)).astype(np.float32)
    post = pitch_posterior.PitchPosterior().posterior(y, sr)
    assert post.shape == (int(3 * pitch_posterior.FRAME_RATE), pitch_posterior.N_BINS)
    assert 0.0 <= post.min() and post.max() <= 1.0
    peak_hz = pitch_posterior.FMIN_HZ * 2 ** (np.median(post[20:-20].argmax(axis=1)) / pitch_posterior.BINS_PER_OCTAVE)
    assert abs(12 * np.log2(peak_hz / f0)) < 0.5


def test_the_vendored_model_is_basic_pitchs_own_file() -> None:
    # The weights are copied from basic-pitch 0.4.0's wheel (weights/basic_pitch/README.md).
    import hashlib

    digest = hashlib.sha256(pitch_posterior.model_path().read_bytes()).hexdigest()
    assert digest == "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"
    assert (pitch_posterior.MODEL_PATH.parent / "LICENSE").read_text().startswith("Copyright 2022 Spotify AB")


def test_a_missing_model_file_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(pitch_posterior, "MODEL_PATH", tmp_path / "nmp.onnx")
    with pytest.raises(ConfigError, match="reinstall humbot"):
        pitch_posterior.model_path()
