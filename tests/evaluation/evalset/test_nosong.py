"""No-song queries: every subkind makes a sound of the planned length, the tones have the pitches
they claim (one held pitch, two siren pitches, a sweep), the noises their colour, and the files
are deterministic Opus voice notes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evaluation.evalset.effects import decode
from evaluation.evalset.nosong import (
    MAX_HZ,
    MAX_S,
    MIN_HZ,
    MIN_S,
    SUBKINDS,
    NoSongPlan,
    babble,
    coloured_noise,
    drum_part,
    glide_track,
    held_note,
    nosong_audio,
    plan_nosong,
    render_nosong,
    siren_track,
    tone,
)

SR = 16000


def _f0_frames(y: np.ndarray, sr: int = SR, frame_s: float = 0.064, fmin: float = 80.0, fmax: float = 1000.0):
    """A plain autocorrelation pitch tracker: Hz per frame, NaN where the frame is quiet or not
    periodic. Shape (n_frames,)."""
    n = int(frame_s * sr)
    lo, hi = int(sr / fmax), int(sr / fmin)
    loud = np.sqrt(np.mean(y**2)) * 0.3
    out = []
    for a in range(0, len(y) - n, n // 2):
        x = y[a : a + n].astype(np.float64)
        if np.sqrt(np.mean(x**2)) < loud:
            out.append(np.nan)
            continue
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[n - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] < 0.5 * ac[0]:
            out.append(np.nan)
            continue
        # parabolic interpolation around the peak
        y0, y1, y2 = ac[lag - 1], ac[lag], ac[lag + 1]
        shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2 + 1e-12)
        out.append(sr / (lag + shift))
    return np.array(out)


def _semitones(hz: np.ndarray, ref: float) -> np.ndarray:
    return 12 * np.log2(hz / ref)


@pytest.mark.parametrize("subkind", [s for s in SUBKINDS if s != "babble"])
def test_every_subkind_has_the_planned_length(subkind: str) -> None:
    p = plan_nosong(subkind, 0, np.random.default_rng(1), query_id="q")
    assert MIN_S <= p.duration_s <= MAX_S and p.kind == "nosong" and p.subkind == subkind
    assert all(MIN_HZ <= f <= MAX_HZ for f in p.pitches_hz)
    y = nosong_audio(p, np.random.default_rng(1))
    assert y.dtype == np.float32 and y.shape == (round(p.duration_s * SR),)
    assert 0 < np.max(np.abs(y)) <= 1.0 and np.sqrt(np.mean(y**2)) > 1e-3  # not silent


def test_babble_is_several_talkers_and_noise() -> None:
    streams = [{"voice": v, "sentences": ["Can you hear me? It is very loud in here."], "stretch": 1.0,
                "shift_s": s, "gain_db": 0.0} for v, s in (("kal_diphone", 0.0), ("lp_diphone", 1.5))]  # fmt: skip
    y = babble(streams, 5.0, 10.0, np.random.default_rng(0))
    assert y.shape == (5 * SR,) and np.max(np.abs(y)) > 0.1
    # noise fills the pauses: no 100 ms stretch is silent
    frames = y[: len(y) // 1600 * 1600].reshape(-1, 1600)
    assert np.sqrt(np.mean(frames[2:-2] ** 2, axis=1)).min() > 1e-3


@pytest.mark.parametrize("timbre", ["sine", "hum"])
def test_a_held_note_has_one_pitch(timbre: str) -> None:
    hz = 220.0
    y = held_note(hz, 6.0, SR, timbre=timbre, rng=np.random.default_rng(3))
    assert y.shape == (6 * SR,)
    st = _semitones(_f0_frames(y), hz)
    st = st[~np.isnan(st)]
    assert len(st) > 100  # voiced nearly throughout (6 s, 32 ms hop)
    assert abs(np.median(st)) < 0.3  # the stated pitch …
    assert np.mean(np.abs(st) < 1.0) > 0.9  # … and only that one: vibrato and wander stay within it


def test_a_siren_alternates_two_pitches() -> None:
    f0 = siren_track(200.0, 300.0, 0.5, 4.0, SR)
    assert f0.shape == (4 * SR,)
    near = np.minimum(np.abs(_semitones(f0, 200.0)), np.abs(_semitones(f0, 300.0)))
    assert np.mean(near < 0.1) > 0.9  # only the 30 ms slides between them are elsewhere
    assert f0[int(0.25 * SR)] == pytest.approx(200.0) and f0[int(0.75 * SR)] == pytest.approx(300.0)
    st = _semitones(_f0_frames(tone(f0, SR, timbre="voice")), 200.0)
    st = st[~np.isnan(st)]
    lo, hi = np.mean(np.abs(st) < 0.5), np.mean(np.abs(st - 12 * np.log2(1.5)) < 0.5)
    assert lo > 0.35 and hi > 0.35 and lo + hi > 0.85


def test_a_glide_sweeps_its_range() -> None:
    up = glide_track(150.0, 450.0, 2.0, 4.0, SR, shape="up")
    assert up.min() == pytest.approx(150.0) and up.max() == pytest.approx(450.0, rel=1e-3)
    assert np.all(np.diff(up[: 2 * SR - 1]) > 0)  # rises through the first period
    tri = glide_track(150.0, 450.0, 2.0, 4.0, SR, shape="updown")
    assert tri[SR] == pytest.approx(450.0, rel=1e-3) and tri[0] == pytest.approx(150.0)
    st = _semitones(_f0_frames(tone(up, SR)), 150.0)
    st = st[~np.isnan(st)]
    assert st.min() < 1.0 and st.max() > 18.0  # the tone follows the sweep


@pytest.mark.parametrize(("colour", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_has_its_colour(colour: str, slope: float) -> None:
    y = coloured_noise(colour, 5.0, SR, np.random.default_rng(0))
    assert y.shape == (5 * SR,)
    spec = np.abs(np.fft.rfft(y[SR : 4 * SR])) ** 2
    f = np.fft.rfftfreq(3 * SR, 1 / SR)
    band = (f > 100) & (f < 6000)
    fitted = np.polyfit(np.log10(f[band]), np.log10(spec[band] + 1e-20), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.25)


def test_drum_patterns_have_kicks_snares_and_fills() -> None:
    for style in ("rock", "four", "half", "break", "shuffle"):
        part = drum_part(style, 120.0, 10.0, 0, np.random.default_rng(0))
        pitches = {e.pitch for e in part.events}
        assert part.channel == 9 and 36 in pitches and ({38, 39} & pitches)
        assert {41, 43, 45, 47} <= pitches  # the tom fill of bar 4
        assert all(0 <= e.start < 10.0 for e in part.events)


def test_plans_are_deterministic_and_variants_cycle() -> None:
    a = plan_nosong("speech", 2, np.random.default_rng(5), query_id="q")
    assert a == plan_nosong("speech", 2, np.random.default_rng(5), query_id="q")
    assert [plan_nosong("held", i, np.random.default_rng(i), query_id="q").variant for i in range(4)] == [
        "sine", "hum", "sine", "hum"]  # fmt: skip
    colours = {plan_nosong("noise", i, np.random.default_rng(i), query_id="q").variant for i in range(3)}
    assert colours == {"white", "pink", "brown"}
    json.dumps(a.truth())  # the truth file is JSON


def test_render_nosong_is_a_deterministic_opus_voice_note(tmp_path: Path) -> None:
    p = plan_nosong("held", 0, np.random.default_rng(2), query_id="q")
    assert isinstance(p, NoSongPlan)
    a = render_nosong(p, tmp_path / "a.ogg", seed=2)
    b = render_nosong(p, tmp_path / "b.ogg", seed=2)
    assert a.read_bytes() == b.read_bytes()
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(a)],
                                      capture_output=True, text=True, check=True).stdout)["streams"][0]  # fmt: skip
    assert probe["codec_name"] == "opus" and probe["channels"] == 1
    assert abs(len(decode(a, SR)) / SR - p.duration_s) < 0.1
