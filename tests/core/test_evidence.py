"""How much tune a query carries (core.evidence): what is no tune is named, hums and songs pass."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import drum_loop, encode, held_note, siren, speech, tune, white_noise

from core import audio, evidence

SPOKEN = "Hello, I would like to know which song this is. My friend played it at the party yesterday."


def _heard(data: bytes, suffix: str = ".ogg") -> evidence.QueryEvidence:
    """Decoded and cleaned as the service decodes a query, then measured."""
    raw = audio.decode_bytes(data, sample_rate=evidence.SAMPLE_RATE, max_seconds=30, suffix=suffix)
    return evidence.measure(audio.clean(raw, min_seconds=1).samples)


def _note(samples: np.ndarray) -> bytes:
    return encode(samples, "ogg")  # an Opus voice note, as users send them


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: held_note(196.0), evidence.ONE_NOTE),
    (lambda: held_note(523.0), evidence.ONE_NOTE),
    (lambda: held_note(262.0, voice=True), evidence.ONE_NOTE),
    (lambda: siren(), evidence.TOO_LITTLE),
    (lambda: white_noise(), evidence.NO_TUNE),
    (lambda: drum_loop(), evidence.NO_TUNE),
], ids=["sine-196", "sine-523", "hummed-mmm", "siren", "white-noise", "drum-loop"])
def test_what_carries_no_tune_is_named(make, reason: str) -> None:
    assert evidence.judge(_heard(_note(make()))) == reason


def test_a_glide_is_too_little_melody() -> None:
    sr = 32000
    t = np.arange(8 * sr) / sr
    glide = 0.3 * np.sin(2 * np.pi * np.cumsum(200.0 * 2 ** (2 * t / 8)) / sr)  # two octaves up, smoothly
    assert evidence.judge(_heard(_note(glide.astype(np.float32)))) == evidence.TOO_LITTLE


@pytest.mark.parametrize("voice", ["kal_diphone", "ked_diphone"])
def test_speech_is_named(voice: str) -> None:
    ev = _heard(speech(SPOKEN, voice), ".wav")
    assert evidence.judge(ev) == evidence.SPEECH, ev


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hums_and_songs_carry_a_tune(seed: int) -> None:
    hum = _heard(_note(tune(seed, voice=True)[: 10 * 32000]))
    assert evidence.judge(hum) is None, hum
    assert hum.pitches >= 5 and hum.steps >= 8 and hum.held_share > 0.8
    assert evidence.judge(_heard(_note(tune(seed)[: 10 * 32000]))) is None


def test_distinct_pitches_ignore_intonation_but_count_steps() -> None:
    assert evidence._distinct(np.array([60.0, 60.3, 59.8, 60.1])) == 1
    assert evidence._distinct(np.array([60.0, 62.0, 64.1, 62.2])) == 3
    assert evidence._step_sizes(np.array([60.0, 65.0, 60.0, 65.0])) == 2  # up and down
    assert evidence._step_sizes(np.array([60.0, 61.0, 62.0, 63.0])) == 1  # a glide: one size


def _singer(vibrato_cents: float, scoop_st: float, *, seed: int = 1, sr: int = 32000) -> np.ndarray:
    """A tune sung with vibrato (5.5 Hz) and a scoop up into every note, with gaps between notes."""
    r = np.random.default_rng(seed)
    out = []
    for p in 62 + np.cumsum(r.integers(-4, 5, 20)) % 14:
        d = float(r.choice([0.3, 0.5, 0.75]))
        t = np.arange(int(d * sr)) / sr
        cents = vibrato_cents * np.sin(2 * np.pi * 5.5 * t) - 100 * scoop_st * np.exp(-t / 0.06)
        ph = 2 * np.pi * np.cumsum(440 * 2 ** ((p - 69 + cents / 100) / 12)) / sr
        env = np.minimum(1, np.minimum(t / 0.03, (d - t) / 0.05 + 1e-3))
        out += [env * (np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.3 * np.sin(3 * ph)), np.zeros(int(0.05 * sr))]
    y = np.concatenate(out)
    return (0.4 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize(("vibrato", "scoop"), [(80, 0.0), (120, 1.0), (80, 2.0)])
def test_wide_vibrato_and_scoops_are_still_singing(vibrato: float, scoop: float) -> None:
    ev = _heard(_note(_singer(vibrato, scoop)))
    assert evidence.judge(ev) is None, ev
