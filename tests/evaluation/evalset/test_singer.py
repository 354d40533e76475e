"""The synthetic singer (evaluation.evalset.singer): its notes, consonants, vibrato and voices."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np

from evaluation.evalset import singer as synth

SR = 16000


def _pyin(y: np.ndarray):
    f0, voiced, _ = librosa.pyin(y.astype(np.float64), fmin=60, fmax=900, sr=SR, frame_length=1024, hop_length=160)
    return librosa.hz_to_midi(f0), voiced  # 100 frames a second


def _steady(name: str = "fs-train-00", **kw) -> synth.SingerVoice:
    """A voice without scoops, intonation errors or drift, so a note's pitch is its target."""
    base = dict(scoop_cents=0.0, intonation_cents=0.0, drift_cents=0.0, overshoot=0.0, jitter=0.002)
    return dataclasses.replace(synth.voice_from_id(name), **{**base, **kw})


def test_a_sung_line_sings_its_notes_and_its_consonants() -> None:
    v = _steady(vibrato_cents=20.0, center=55.0)
    pitches = [55, 57, 59, 60, 62, 60, 59, 57, 55, 62]
    syl = ["ta", "la", "ka", "sa", "ma", "pa", "na", "ti", "lo", "ko"]
    notes, t = [], 0.3
    for p, s in zip(pitches, syl):
        notes.append(synth.SungSyllable(t, 0.5, p, s))
        t += 0.55
    y = synth.sing(notes, v, rng=np.random.default_rng(3))
    assert y.dtype == np.float32 and abs(float(np.max(np.abs(y))) - 0.5) < 1e-3
    midi, voiced = _pyin(y)
    errs = []
    for n in notes:
        seg = midi[int((n.start + 0.2) * 100) : int((n.start + 0.45) * 100)]
        seg = seg[~np.isnan(seg)]
        errs.append(float(np.median(seg)) - n.pitch if len(seg) else 99.0)
    assert np.mean(np.abs(errs) < 0.5) >= 0.9, errs
    # a voiceless onset ("t", "k", "s", "p") is a gap in the voicing at the note's start; a
    # nasal or liquid onset ("m", "n", "l") is voiced
    def onset_voiced(n: synth.SungSyllable) -> float:
        return float(np.mean(voiced[int(n.start * 100) + 1 : int(n.start * 100) + 4]))

    voiceless = [onset_voiced(n) for n in notes if n.syllable[0] in "tksp"]
    assert np.mean(voiceless) < 0.5, voiceless


def test_vibrato_has_the_voices_rate_and_depth() -> None:
    v = _steady(vibrato_hz=5.5, vibrato_cents=60.0, vibrato_onset_s=0.1, center=57.0)
    y = synth.sing([synth.SungSyllable(0.2, 2.5, 57.0, "a")], v, rng=np.random.default_rng(1))
    midi, _ = _pyin(y)
    seg = midi[int(0.8 * 100) : int(2.5 * 100)]
    assert not np.isnan(seg).any()
    seg = seg - seg.mean()
    # a sine of peak depth d has an RMS of d/√2: 0.6 semitones → 0.42, less what pYIN's 64 ms
    # frames smooth away (measured: 0.29); without vibrato it is under 0.05
    assert 0.22 < float(np.std(seg)) < 0.55, np.std(seg)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 4096))
    rate = float(np.fft.rfftfreq(4096, 0.01)[np.argmax(spec)])
    assert abs(rate - 5.5) < 0.6, rate


def test_voices_are_fixed_by_name_varied_and_training_never_meets_family_b() -> None:
    assert synth.voice_from_id("fs-b-03") == synth.voice_from_id("fs-b-03")
    assert not set(synth.TRAIN_VOICES) & set(synth.HELD_OUT_VOICES)
    for names in (synth.TRAIN_VOICES, synth.HELD_OUT_VOICES):
        vs = [synth.voice_from_id(n) for n in names]
        assert len({v.language for v in vs}) >= 3
        assert max(v.center for v in vs) - min(v.center for v in vs) >= 12
        assert all(20 <= v.vibrato_cents <= 80 or v.vibrato_cents < 45 for v in vs)
        assert all(4.0 <= v.vibrato_hz <= 7.0 for v in vs)
    lead = synth.as_lead("fs-b-03")
    assert synth.is_synthetic(lead.name) and synth.ceiling(lead) == lead.center + synth.RANGE_ABOVE


def test_humming_is_a_murmur_darker_than_singing() -> None:
    v = _steady()
    notes = [synth.SungSyllable(0.2 + 0.5 * k, 0.45, v.center + (k % 3), "la") for k in range(6)]
    rng = np.random.default_rng
    sung, hummed = synth.sing(notes, v, rng=rng(0)), synth.hum_line(notes, v, rng=rng(0), syllable="m")

    def centroid(y: np.ndarray) -> float:
        return float(np.mean(librosa.feature.spectral_centroid(y=y, sr=SR)))

    assert centroid(hummed) < 0.7 * centroid(sung)
    midi, _ = _pyin(hummed)
    for n in notes:
        seg = midi[int((n.start + 0.2) * 100) : int((n.start + 0.4) * 100)]
        assert abs(float(np.nanmedian(seg)) - n.pitch) < 0.5


def test_split_syllable() -> None:
    assert synth.split_syllable("la") == ("l", "a")
    assert synth.split_syllable("shi") == ("sh", "i")
    assert synth.split_syllable("hao") == ("h", "a")
    assert synth.split_syllable("@") == ("", "@")
    assert synth.split_syllable("hm") == ("h", "m")
    assert synth.split_syllable("m") == ("", "m")
