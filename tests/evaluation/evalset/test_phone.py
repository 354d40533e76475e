"""The phone-at-a-loudspeaker channel, with the real ffmpeg (and PyAV to read the file back)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import av
import numpy as np
import pytest
from scipy import signal

from evaluation.evalset import effects, phone
from evaluation.evalset.phone import NOISES, OPUS_KBPS, PhoneChannel, draw_channel, record, through_phone

SR = 16000


def _song(seconds: float, seed: int = 0, level_dbfs: float = -12.0) -> np.ndarray:
    """A stand-in for a song: a harmonic tone changing pitch every 0.25 s, at ``level_dbfs`` RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 220.0 * 2 ** (rng.integers(0, 12, size=int(seconds * 4) + 1) / 12)[(t * 4).astype(int)]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (y / effects.rms(y) * effects.db(level_dbfs)).astype(np.float32)


def _channel(seed: int = 0, **changes) -> PhoneChannel:
    """A drawn channel (pink noise, none of it unless ``snr_db`` says) with some fields set."""
    ch = draw_channel(np.random.default_rng(seed), snr_db=math.inf, noise="pink")
    return dataclasses.replace(ch, **changes)


def _db(x: float) -> float:
    return 20 * math.log10(x)


# ------------------------------------------------------------------------ draw_channel


def test_draw_channel_is_deterministic_and_stays_in_its_ranges() -> None:
    def seeded(seed: int) -> PhoneChannel:
        return draw_channel(np.random.default_rng(seed), snr_db=10)

    assert seeded(3) == seeded(3)
    assert seeded(3) != seeded(4)
    rng = np.random.default_rng(0)
    chs = [draw_channel(rng, snr_db=7.5, speed=1.1) for _ in range(400)]
    ranges = {
        "speaker_lo_hz": (150, 300),
        "speaker_hi_hz": (4500, 8000),
        "speaker_drive": (1, 4),
        "speaker_resonance_hz": (600, 2500),
        "speaker_resonance_db": (3, 8),
        "rt60_s": (0.2, 0.8),
        "drr_db": (-3, 8),
        "mic_lo_hz": (80, 200),
    }
    for name, (lo, hi) in ranges.items():
        values = np.array([getattr(c, name) for c in chs])
        assert values.min() >= lo and values.max() <= hi, name
        assert values.max() - values.min() > 0.8 * (hi - lo), name  # drawn across the range
    assert {c.noise for c in chs} == set(NOISES)
    assert {c.opus_kbps for c in chs} == set(OPUS_KBPS)
    assert 0.62 < np.mean([c.agc for c in chs]) < 0.78  # 70 % on
    assert all(c.snr_db == 7.5 and c.speed == 1.1 for c in chs)
    assert draw_channel(rng, snr_db=0, noise="traffic").noise == "traffic"
    with pytest.raises(ValueError):
        draw_channel(rng, snr_db=0, noise="babble")  # an effects kind, not one of NOISES


# ------------------------------------------------------------------------ through_phone


@pytest.mark.parametrize("speed", [0.8, 1.0, 1.25])
def test_output_length_and_pitch_follow_the_speed(speed: float) -> None:
    music = _song(2.0)
    y = through_phone(music, SR, _channel(speed=speed), np.random.default_rng(1))
    assert len(y) == round(len(music) / speed)
    assert y.dtype == np.float32 and np.max(np.abs(y)) <= 1.0
    # a resampling: a 1 kHz tone comes out at speed kHz
    tone = np.sin(2 * np.pi * 1000 * np.arange(SR) / SR).astype(np.float32)
    fast = phone.change_speed(tone, speed)
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    peak_hz = np.argmax(spectrum) * SR / len(fast)
    assert abs(peak_hz - 1000 * speed) < 5


@pytest.mark.parametrize("seed", [0, 5])
def test_loudspeaker_removes_the_bass_of_white_noise(seed: int) -> None:
    ch = _channel(seed, speaker_drive=1.0, agc=False)
    white = (np.random.default_rng(seed).standard_normal(4 * SR) * 0.1).astype(np.float32)
    y = through_phone(white, SR, ch, np.random.default_rng(seed))
    f, p_in = signal.welch(white, SR, nperseg=4096)
    _, p_out = signal.welch(y, SR, nperseg=4096)
    gain = p_out / p_in
    lo, hi = ch.speaker_lo_hz, ch.speaker_hi_hz
    passband = np.mean(gain[(f > 2 * lo) & (f < hi / 2)])

    def below(hz: float) -> float:  # mean power gain under hz relative to the passband (dB)
        return 10 * math.log10(np.mean(gain[f < hz]) / passband)

    assert below(lo) < -8  # a flat response would be 0 dB
    assert below(lo / 2) < -25
    # and the low-pass: the top octave above hi (where there is one under Nyquist) is cut too
    if 2 * hi < SR / 2 * 0.98:
        assert 10 * math.log10(np.mean(gain[f > 2 * hi]) / passband) < -20


@pytest.mark.parametrize("noise", NOISES)
def test_noise_is_added_at_the_requested_snr(noise: str) -> None:
    music, other = _song(3.0, seed=1), _song(1.3, seed=2)  # the other song is looped
    for seed, snr_db in ((0, 0.0), (1, 10.0), (2, 20.0)):
        ch = _channel(seed, noise=noise, snr_db=snr_db, agc=False)
        noisy = through_phone(music, SR, ch, np.random.default_rng(seed), other_music=other)
        quiet = dataclasses.replace(ch, snr_db=math.inf)  # the same draws, the noise scaled to 0
        clean = through_phone(music, SR, quiet, np.random.default_rng(seed), other_music=other)
        assert np.max(np.abs(noisy)) < 1.0  # nothing clipped, so noisy - clean is the noise
        measured = _db(effects.rms(clean) / effects.rms(noisy - clean))
        assert abs(measured - snr_db) < 1.0, (noise, snr_db, measured)


def test_music_noise_needs_other_music() -> None:
    ch = draw_channel(np.random.default_rng(0), snr_db=10, noise="music")
    with pytest.raises(ValueError, match="other_music"):
        through_phone(_song(1.0), SR, ch, np.random.default_rng(0))
    with pytest.raises(ValueError, match="other_music"):
        record(_song(1.0), SR, ch, np.random.default_rng(0), Path("/nonexistent/x.ogg"))


def test_agc_brings_quiet_and_loud_to_the_same_level() -> None:
    noise = np.random.default_rng(0).standard_normal(4 * SR)
    levels = {}
    for dbfs in (-40.0, -6.0):
        y = (noise * effects.db(dbfs)).astype(np.float32)
        out = phone.peak_limit(phone.agc(y, SR), SR)
        assert np.max(np.abs(out)) <= effects.db(phone.LIMIT_CEILING_DBFS) + 1e-6
        levels[dbfs] = _db(effects.rms(out[SR:]))
    assert abs(levels[-40.0] - levels[-6.0]) < 6.0, levels
    assert all(abs(v - phone.AGC_TARGET_DBFS) < 3 for v in levels.values()), levels


def test_agc_in_the_chain_evens_out_a_quiet_intro() -> None:
    """A song 24 dB quieter for its first 3 s: without AGC the phone hears the jump, with it not."""
    music = _song(6.0)
    music[: 3 * SR] *= effects.db(-24)
    gaps = {}
    for on in (False, True):
        y = through_phone(music, SR, _channel(2, agc=on), np.random.default_rng(0))
        quiet, loud = effects.rms(y[SR : 3 * SR]), effects.rms(y[4 * SR :])  # past the AGC's settling
        gaps[on] = _db(loud / quiet)
        assert np.max(np.abs(y)) <= 1.0
    assert gaps[False] > 18, gaps
    assert abs(gaps[True]) < 6, gaps


def test_peak_limit_only_touches_the_peaks() -> None:
    y = (np.random.default_rng(0).standard_normal(SR) * 0.05).astype(np.float32)
    assert np.array_equal(phone.peak_limit(y, SR), y)  # under the ceiling: unchanged
    y[SR // 2] = 3.0
    out = phone.peak_limit(y, SR)
    assert np.max(np.abs(out)) <= effects.db(phone.LIMIT_CEILING_DBFS) + 1e-6
    assert np.array_equal(out[: SR // 4], y[: SR // 4])  # far from the peak: unchanged


def test_through_phone_is_deterministic_for_a_seed() -> None:
    music, ch = _song(1.5), draw_channel(np.random.default_rng(0), snr_db=5, noise="crowd")
    a = through_phone(music, SR, ch, np.random.default_rng(9))
    assert np.array_equal(a, through_phone(music, SR, ch, np.random.default_rng(9)))
    assert not np.array_equal(a, through_phone(music, SR, ch, np.random.default_rng(10)))


# ------------------------------------------------------------------------------ record


def test_record_writes_a_decodable_opus_voice_note(tmp_path: Path) -> None:
    music = _song(3.0)
    sizes = {}
    for kbps in (12, 32):
        ch = _channel(1, noise="pink", snr_db=15.0, speed=1.1, opus_kbps=kbps)
        path = record(music, SR, ch, np.random.default_rng(0), tmp_path / f"q{kbps}.ogg")
        assert path == tmp_path / f"q{kbps}.ogg"
        with av.open(str(path)) as f:
            assert f.format.name == "ogg"
            assert f.streams.audio[0].codec_context.name == "opus"
        y = effects.decode(path, SR)
        assert abs(len(y) / SR - round(len(music) / 1.1) / SR) < 0.1
        assert effects.rms(y) > effects.db(-50)  # not silence
        sizes[kbps] = path.stat().st_size
    assert sizes[32] > 1.8 * sizes[12], sizes  # the bitrate reached the encoder
