"""Landmark peaks (core.fingerprint.landmarks): silence has none, quiet music keeps its own."""

from __future__ import annotations

import numpy as np

from core.fingerprint.landmarks import SAMPLE_RATE, landmarks_of


def test_digital_silence_has_no_landmarks():
    lm = landmarks_of(np.zeros(10 * SAMPLE_RATE, np.float32))
    assert len(lm.hashes) == 0 and len(lm.peak_frames) == 0


def test_a_quiet_passage_keeps_its_peaks():
    t = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    notes = np.sin(2 * np.pi * np.where(t % 0.5 < 0.25, 440.0, 660.0) * t)
    quiet = landmarks_of((notes * 10 ** (-50 / 20)).astype(np.float32))  # −50 dBFS
    loud = landmarks_of((notes * 0.5).astype(np.float32))
    assert len(quiet.hashes) > 0
    kept = {(int(f), int(b)) for f, b in zip(quiet.peak_frames, quiet.peak_bins)}
    assert np.mean([(int(f), int(b)) in kept for f, b in zip(loud.peak_frames, loud.peak_bins)]) > 0.9
