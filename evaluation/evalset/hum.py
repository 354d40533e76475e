"""A humming voice: a glottal-pulse source through formant filters (source–filter synthesis).

* Source: Rosenberg glottal pulses (the glottal flow's derivative) at the sung f0, rendered at
  twice the output rate and decimated (so the pulses' sharp closures do not alias), plus
  aspiration noise gated by the open phase (breathiness).
* Pitch: each note scoops up into its target (or glides from the previous note when sung
  legato), delayed vibrato on long notes, and a slow random wander (a voice is never still).
* Filter: a Klatt-style cascade of resonators with the formants of a vowel ("a", "u", "o") or
  of a nasal murmur ("m"/"n"), crossfaded per note: "hm" is all murmur, "na" starts nasal and
  opens into "a", "da"/"doo" have a stop closure and a release burst, "la" a liquid dip.

Output: mono float32 at ``sr`` (16 kHz by default), peak 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

SYLLABLES = ("hm", "mm", "da", "na", "la", "doo")
#: (F1–F4 Hz, bandwidths Hz) of an adult male voice; scaled for higher voices.
_FORMANTS = {
    "a": ((730, 1090, 2440, 3400), (90, 110, 170, 250)),
    "u": ((320, 870, 2240, 3300), (70, 90, 150, 250)),
    "o": ((570, 840, 2410, 3300), (80, 100, 160, 250)),
    "m": ((260, 1050, 2300, 3300), (60, 350, 450, 500)),
}


@dataclass(frozen=True)
class HumNote:
    start: float  # seconds
    dur: float  # seconds
    pitch: float  # MIDI, fractional allowed


@dataclass(frozen=True)
class HumVoice:
    syllable: str = "hm"
    formant_scale: float = 1.0  # 1.0 adult male, ~1.15 female, ~1.25 child
    vibrato_rate: float = 5.5  # Hz
    vibrato_depth: float = 0.3  # semitones, peak
    breathiness: float = 0.15  # aspiration level relative to the voiced part (0–1)
    scoop: float = 0.8  # semitones below the target a detached note starts at
    scoop_time: float = 0.06  # seconds to settle into the note
    wander_cents: float = 8.0  # slow random pitch wander (RMS)
    open_quotient: float = 0.6  # glottal open phase / period (higher = softer, breathier)

    def __post_init__(self) -> None:
        if self.syllable not in SYLLABLES:
            raise ValueError(f"syllable must be one of {SYLLABLES}")


def random_voice(
    rng: np.random.Generator,
    syllable: str,
    formant_scale: float,
    *,
    max_vibrato: float = 0.6,
    max_wander_cents: float = 15.0,
) -> HumVoice:
    """A hummer drawn at random (vibrato, breath, scoops, wander, glottal shape), in a fixed order
    of draws so that the same ``rng`` state always gives the same voice."""
    return HumVoice(
        syllable=syllable,
        formant_scale=round(formant_scale, 3),
        vibrato_rate=round(float(rng.uniform(4.5, 6.5)), 2),
        vibrato_depth=round(float(rng.uniform(0.1, max_vibrato)), 3),
        breathiness=round(float(rng.uniform(0.05, 0.4)), 3),
        scoop=round(float(rng.uniform(0.3, 2.0)), 3),
        scoop_time=round(float(rng.uniform(0.03, 0.1)), 3),
        wander_cents=round(float(rng.uniform(3, max_wander_cents)), 2),
        open_quotient=round(float(rng.uniform(0.5, 0.75)), 3),
    )


def _resonator(f: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Klatt's digital resonator, unity gain at DC."""
    c = -np.exp(-2 * np.pi * bw / sr)
    b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * f / sr)
    return np.array([1 - b - c]), np.array([1.0, -b, -c])


def _tract(x: np.ndarray, vowel: str, scale: float, sr: int) -> np.ndarray:
    freqs, bws = _FORMANTS[vowel]
    y = x
    for f, bw in zip(freqs, bws):
        f = f * scale
        if f < sr / 2 * 0.95:
            b, a = _resonator(f, bw * scale, sr)
            y = signal.lfilter(b, a, y)
    return y


def _smooth_noise(rng: np.random.Generator, n: int, sr: int, cutoff_hz: float) -> np.ndarray:
    """Unit-RMS noise band-limited below ``cutoff_hz`` (for slow pitch/amplitude wander)."""
    k = max(4, int(n * cutoff_hz / sr) + 4)
    ctrl = rng.standard_normal(k)
    y = np.interp(np.linspace(0, k - 1, n), np.arange(k), ctrl)
    return y / (np.std(y) + 1e-9)


def _pitch_track(notes: Sequence[HumNote], v: HumVoice, n: int, sr: int, rng: np.random.Generator):
    """Per-sample pitch (MIDI) and a voiced mask."""
    t = np.arange(n) / sr
    pitch = np.full(n, notes[0].pitch, dtype=np.float64)
    voiced = np.zeros(n, dtype=bool)
    prev_end, prev_pitch = -1.0, None
    for note in notes:
        a = int(note.start * sr)
        b = min(n, int((note.start + note.dur) * sr))
        if b <= a:
            continue
        tt = t[a:b] - note.start
        legato = prev_pitch is not None and note.start - prev_end < 0.05
        start_from = prev_pitch if legato else note.pitch - v.scoop * rng.uniform(0.5, 1.5)
        tau = v.scoop_time * (0.6 if legato else 1.0) * rng.uniform(0.7, 1.3)
        p = note.pitch + (start_from - note.pitch) * np.exp(-tt / max(tau, 1e-3))
        if note.dur > 0.3:  # vibrato sets in after the attack, on held notes
            ramp = np.clip((tt - 0.15) / 0.25, 0, 1)
            depth = v.vibrato_depth * rng.uniform(0.7, 1.2)
            p = p + depth * ramp * np.sin(
                2 * np.pi * v.vibrato_rate * rng.uniform(0.92, 1.08) * tt + rng.uniform(0, 2 * np.pi)
            )
        pitch[a:b] = p
        voiced[a:b] = True
        if not legato and a > 0:  # hold the previous pitch through the gap (no jumps in silence)
            g0 = int(prev_end * sr) if prev_pitch is not None else 0
            pitch[max(0, g0) : a] = start_from
        prev_end, prev_pitch = note.start + note.dur, note.pitch
    pitch[int(prev_end * sr) :] = prev_pitch if prev_pitch is not None else pitch[-1]
    pitch += v.wander_cents / 100.0 * _smooth_noise(rng, n, sr, 4.0)
    return pitch, voiced


def _envelopes(notes: Sequence[HumNote], v: HumVoice, n: int, sr: int, rng: np.random.Generator):
    """Amplitude, nasal weight (0 vowel … 1 murmur), and burst positions per note."""
    amp = np.zeros(n)
    nasal = np.ones(n) if v.syllable in ("hm", "mm") else np.zeros(n)
    bursts: list[int] = []
    prev_end = -1.0
    for note in notes:
        a = int(note.start * sr)
        b = min(n, int((note.start + note.dur) * sr))
        if b <= a:
            continue
        m = b - a
        tt = np.arange(m) / sr
        legato = note.start - prev_end < 0.05
        attack = rng.uniform(0.015, 0.04) if not legato else 0.02
        release = min(rng.uniform(0.04, 0.09), note.dur / 3)
        env = np.minimum(1.0, tt / attack) * np.clip((note.dur - tt) / release, 0, 1)
        env *= np.exp(-tt * rng.uniform(0.0, 0.6))  # a held note sags a little
        env *= rng.uniform(0.75, 1.0)  # accents
        syl = v.syllable
        if syl in ("hm", "mm") and legato:
            env = np.maximum(env, 0.55 * np.clip((note.dur - tt) / release, 0, 1))  # a dip, not a stop
        if syl in ("da", "doo"):
            closure = int(rng.uniform(0.02, 0.035) * sr)
            env[: min(closure, m)] = 0.0
            if closure < m:
                bursts.append(a + closure)
        elif syl == "na":
            k = int(rng.uniform(0.04, 0.07) * sr)  # murmur, then the mouth opens over 30 ms
            w = np.concatenate([np.ones(k), np.linspace(1, 0, int(0.03 * sr))])[:m]
            nasal[a : a + len(w)] = w
        elif syl == "la":
            k = min(m, int(0.05 * sr))
            env[:k] *= np.linspace(0.45, 1, k)
        amp[a:b] = np.maximum(amp[a:b], env)
        prev_end = note.start + note.dur
    return amp, nasal, bursts


def hum(
    notes: Sequence[HumNote],
    voice: HumVoice,
    *,
    sr: int = 16000,
    total_s: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Synthesise ``notes`` with ``voice``. ``total_s``: output length (default: last note end
    plus 0.3 s)."""
    if not notes:
        raise ValueError("nothing to hum")
    rng = rng or np.random.default_rng(0)
    total = total_s or (max(n.start + n.dur for n in notes) + 0.3)
    osr = 2 * sr
    n2 = int(total * osr)
    pitch2, voiced2 = _pitch_track(notes, voice, n2, osr, rng)
    f0 = 440.0 * 2 ** ((pitch2 - 69.0) / 12.0)
    phase = np.cumsum(f0 / osr) % 1.0
    # Rosenberg pulse: opening 2/3 and closing 1/3 of the open phase, closed for the rest
    oq = voice.open_quotient
    tp, tn = oq * 0.66, oq * 0.34
    flow = np.where(
        phase < tp,
        0.5 * (1 - np.cos(np.pi * phase / tp)),
        np.where(phase < tp + tn, np.cos(0.5 * np.pi * (phase - tp) / tn), 0.0),
    )
    src = np.diff(flow, prepend=0.0)  # flow derivative (includes lip radiation's +6 dB/oct)
    src *= f0 / 200.0  # keep the level independent of pitch (the derivative grows with f0)
    src = signal.resample_poly(src, 1, 2)
    open_gate = signal.resample_poly((phase < tp + tn).astype(float), 1, 2)
    n = len(src)
    amp, nasal, bursts = _envelopes(notes, voice, n, sr, rng)
    shimmer = 1.0 + 0.06 * _smooth_noise(rng, n, sr, 20.0)
    aspiration = rng.standard_normal(n) * (0.35 + 0.65 * np.clip(open_gate, 0, 1))
    aspiration = signal.sosfilt(signal.butter(2, 900 / (sr / 2), "high", output="sos"), aspiration)
    excitation = src / (np.std(src[src != 0]) + 1e-9) + voice.breathiness * aspiration
    excitation *= amp * shimmer

    vowel = {"da": "a", "na": "a", "la": "a", "doo": "u", "hm": "m", "mm": "m"}[voice.syllable]
    if voice.syllable == "la" and rng.random() < 0.5:
        vowel = "o"
    y_vowel = _tract(excitation, vowel, voice.formant_scale, sr)
    y_nasal = _tract(excitation, "m", voice.formant_scale, sr)
    y_nasal = signal.sosfilt(signal.butter(2, 1400 / (sr / 2), "low", output="sos"), y_nasal)
    y_vowel /= np.std(y_vowel) + 1e-9
    y_nasal /= np.std(y_nasal) + 1e-9
    y = (1 - nasal) * y_vowel + nasal * y_nasal
    for pos in bursts:  # stop release: a few ms of bright noise
        k = int(0.006 * sr)
        if pos + k < n:
            y[pos : pos + k] += 0.35 * rng.standard_normal(k) * np.linspace(1, 0, k)
    if voice.syllable == "hm":  # the "h" before each phrase: breath through the open tract
        for note, prev in zip(notes, [None, *notes[:-1]]):
            if prev is None or note.start - (prev.start + prev.dur) > 0.15:
                a = int(max(0.0, note.start - 0.07) * sr)
                b = min(n, int(note.start * sr))
                if b > a:
                    h = _tract(rng.standard_normal(b - a), "a", voice.formant_scale, sr)
                    y[a:b] += 0.2 * h / (np.std(h) + 1e-9) * np.linspace(0.3, 1, b - a)
    y = signal.sosfilt(signal.butter(2, 70 / (sr / 2), "high", output="sos"), y)
    out = np.zeros(int(total * sr), dtype=np.float32)
    m = min(len(out), len(y))
    out[:m] = y[:m]
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)
