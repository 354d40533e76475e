"""Landmark peaks (core.fingerprint.landmarks): silence has none, quiet music keeps its own."""

from __future__ import annotations

import numpy as np

from core.fingerprint.landmarks import SAMPLE_RATE, landmarks_of, log_spectrogram


def test_digital_silence_has_no_landmarks():
    lm = landmarks_of(np.zeros(10 * SAMPLE_RATE, np.float32))
    assert len(lm.hashes) == 0 and len(lm.peak_frames) == 0


def test_a_quiet_passage_keeps_its_peaks():
    t = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    notes = np.sin(2 * np.pi * np.where(t % 0.5 < 0.25, 440.0, 660.0) * t)
    quiet = landmarks_of((notes * 10 ** (-50 / 20)).astype(np.float32))  # −50 dBFS
    loud_x = (notes * 0.5).astype(np.float32)
    loud = landmarks_of(loud_x)
    assert len(quiet.hashes) > 0
    kept = {(int(f), int(b)) for f, b in zip(quiet.peak_frames, quiet.peak_bins)}
    # The loud copy's peaks within 40 dB of its loudest: what the quiet one has above the absolute
    # floor (−100 dB) — the rest are the window's leakage, 44–70 dB down.
    spec = log_spectrogram(loud_x)
    strong = spec[loud.peak_bins, loud.peak_frames] > spec.max() - 40
    assert strong.sum() > 10
    # Within a frame: a held note's maximum in time is a flat ridge, and which frame tops it is
    # rounding (voting and verification allow a frame too).
    met = [
        any((int(f) + d, int(b)) in kept for d in (-1, 0, 1))
        for f, b in zip(loud.peak_frames[strong], loud.peak_bins[strong])
    ]
    assert np.mean(met) > 0.9
