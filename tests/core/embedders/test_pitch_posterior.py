"""Basic Pitch's posterior: the real ONNX model from its wheel, and a clear error without it."""

from __future__ import annotations

import importlib.util

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


def test_a_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="basic-pitch"):
        pitch_posterior.model_path()
