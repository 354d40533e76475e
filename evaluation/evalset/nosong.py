"""Voice notes with no song in them, which must be answered "no confident match".

A search always returns the closest songs, so a query that holds no tune still gets a best song;
these queries measure how often that best song is (wrongly) presented as the answer. Subkinds:

* ``held`` — one note held for 5–12 s: a pure sine, or the humming voice of
  :mod:`evaluation.evalset.hum` on a single note (vibrato, wander and breath included);
* ``siren`` — two pitches alternating (a two-tone siren, someone going "ee-oo");
* ``glide`` — pitch sweeps up and/or down over an octave or so;
* ``noise`` — white, pink or brown noise;
* ``speech`` — someone talking (festival's text-to-speech with the installed diphone voices);
* ``drums`` — a drum pattern on a GM drum kit (FluidSynth), fills on the toms included;
* ``babble`` — several festival speakers at once plus room noise, like a crowd.

Pitches lie in 110–600 Hz (the range people hum in), durations in 5–12 s. Every query then goes
through the same channel as the other voice notes (:func:`evaluation.evalset.queries._voice_channel`:
room, background noise, a phone's band limits, Opus at 16–32 kbps in OGG).

Generators are pure functions of their parameters (and an ``rng`` for noise): mono float32 at
``sr``, shape (n,), peak ≤ 1.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evaluation.evalset import effects
from evaluation.evalset.arrange import NoteEvent, Part
from evaluation.evalset.festival import FESTIVAL_SR, SENTENCES, SPEAKERS, speak
from evaluation.evalset.hum import HumNote, HumVoice, _tract, hum, random_voice
from evaluation.evalset.instruments import SOUNDFONTS
from evaluation.evalset.queries import QUERY_SR, Channel, _through_channel, _voice_channel

KIND = "nosong"
SUBKINDS = ("held", "siren", "glide", "noise", "speech", "drums", "babble")
#: Bump when a generator changes in a way its plan does not show: every no-song file is re-made.
NOSONG_VERSION = 1
MIN_HZ, MAX_HZ = 110.0, 600.0
MIN_S, MAX_S = 5.0, 12.0
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power ∝ 1/f^exponent
DRUM_STYLES = ("rock", "four", "half", "break", "shuffle")


@dataclass(frozen=True)
class NoSongPlan:
    """A no-song query. ``params`` holds what its generator needs (JSON-able)."""

    query_id: str
    subkind: str  # one of SUBKINDS
    variant: str  # "sine"/"hum" (tones), the noise colour, the voice, the drum style, …
    duration_s: float
    pitches_hz: tuple[float, ...]  # held: (f,); siren: (a, b); glide: (lo, hi); else ()
    performer: str
    channel: Channel
    params: dict = field(default_factory=dict)
    kind: str = KIND

    def truth(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- generators


def _fade(y: np.ndarray, sr: int, s: float = 0.05) -> np.ndarray:
    """Raised-cosine fade in and out (no click at either end)."""
    k = min(len(y) // 2, int(s * sr))
    if k:
        w = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
        y[:k] *= w
        y[len(y) - k :] *= w[::-1]
    return y


def tone(f0_hz: np.ndarray, sr: int, *, timbre: str = "sine", formant_scale: float = 1.0) -> np.ndarray:
    """A tone following the per-sample pitch ``f0_hz`` (shape (n,), Hz).

    ``timbre``: "sine", or "voice" — a harmonic series falling at 12 dB/octave, band-limited
    below 0.45 ``sr`` sample by sample (no aliasing on a sweep), through the nasal formants of
    :mod:`evaluation.evalset.hum`, like a closed-mouth "mmm". Returns float32, shape (n,), peak 0.5.
    """
    phase = 2 * np.pi * np.cumsum(np.asarray(f0_hz, dtype=np.float64)) / sr
    if timbre == "sine":
        y = np.sin(phase)
    elif timbre == "voice":
        y = np.zeros(len(phase))
        top = int(0.45 * sr / max(float(np.min(f0_hz)), 1.0))
        for k in range(1, top + 1):
            y += np.where(k * f0_hz < 0.45 * sr, np.sin(k * phase) / k**2, 0.0)
        y = _tract(y, "m", formant_scale, sr)
    else:
        raise ValueError(f"unknown timbre {timbre!r}")
    y = _fade(np.asarray(y, dtype=np.float64), sr)
    return (0.5 * y / (np.max(np.abs(y)) + 1e-12)).astype(np.float32)


def held_note(
    hz: float,
    duration_s: float,
    sr: int,
    *,
    timbre: str,
    rng: np.random.Generator,
    voice: HumVoice | None = None,
) -> np.ndarray:
    """One pitch ``hz`` held for ``duration_s``: a pure sine, or (``timbre="hum"``) the humming
    voice on a single note with its vibrato and wander. Shape (round(duration_s·sr),)."""
    n = int(round(duration_s * sr))
    if timbre == "sine":
        return tone(np.full(n, hz), sr)
    lead = 0.2
    note = HumNote(lead, duration_s - lead - 0.3, float(12 * np.log2(hz / 440.0) + 69))
    return hum([note], voice or HumVoice(), sr=sr, total_s=duration_s, rng=rng)[:n]


def siren_track(
    lo_hz: float, hi_hz: float, half_period_s: float, duration_s: float, sr: int, *, slew_s: float = 0.03
) -> np.ndarray:
    """Per-sample pitch (Hz) alternating ``lo_hz`` and ``hi_hz`` every ``half_period_s``,
    each change smoothed over ``slew_s`` (a real siren or voice slides, it does not jump)."""
    n = int(round(duration_s * sr))
    t = np.arange(n) / sr
    up = (np.floor(t / half_period_s) % 2).astype(np.float64)
    k = max(1, int(slew_s * sr))
    up = np.convolve(np.pad(up, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    return lo_hz * (hi_hz / lo_hz) ** up


def glide_track(
    lo_hz: float, hi_hz: float, period_s: float, duration_s: float, sr: int, *, shape: str
) -> np.ndarray:
    """Per-sample pitch (Hz) sweeping between ``lo_hz`` and ``hi_hz``, linear in semitones.

    ``shape``: "up" (a sawtooth upwards, one sweep a ``period_s``), "down", or "updown" (a
    triangle: up in ``period_s / 2``, down in the other half)."""
    n = int(round(duration_s * sr))
    x = (np.arange(n) / sr / period_s) % 1.0
    if shape == "up":
        u = x
    elif shape == "down":
        u = 1.0 - x
    elif shape == "updown":
        u = 1.0 - np.abs(2 * x - 1.0)
    else:
        raise ValueError(f"unknown glide shape {shape!r}")
    return lo_hz * (hi_hz / lo_hz) ** u


def coloured_noise(colour: str, duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (power ∝ 1/f^0, 1/f, 1/f²), RMS 0.1, faded in and out."""
    y = effects._colored(rng, int(round(duration_s * sr)), NOISE_COLOURS[colour]).astype(np.float64)
    return (0.1 * _fade(y, sr)).astype(np.float32)


def speech(
    sentences: list[str],
    voice: str,
    duration_s: float,
    *,
    stretch: float = 1.0,
    gap_s: float = 0.4,
    workdir: Path | None = None,
) -> np.ndarray:
    """``sentences`` read by festival ``voice`` one after the other (``gap_s`` of silence
    between), cut or padded to ``duration_s`` at 16 kHz. Shape (round(duration_s·16000),)."""
    n = int(round(duration_s * FESTIVAL_SR))
    parts: list[np.ndarray] = []
    got = 0
    for s in sentences:
        y = speak(s, voice, stretch=stretch, workdir=workdir)
        parts += [y, np.zeros(int(gap_s * FESTIVAL_SR), np.float32)]
        got += len(parts[-2]) + len(parts[-1])
        if got >= n:
            break
    y = np.concatenate(parts)[:n].astype(np.float64)
    y = np.pad(y, (0, n - len(y)))
    return _fade(y, FESTIVAL_SR).astype(np.float32)


def drum_part(style: str, bpm: float, duration_s: float, kit: int, rng: np.random.Generator) -> Part:
    """A drum-kit part on GM channel 10: ``style`` (rock, four, half, break, shuffle) at ``bpm``,
    with a tom fill every fourth bar and human timing (±8 ms) and velocities."""
    beat = 60.0 / bpm
    ev: list[NoteEvent] = []

    def hit(t: float, pitch: int, vel: int) -> None:
        t = t + float(rng.normal(0, 0.008))
        if 0 <= t < duration_s - 0.1:
            ev.append(
                NoteEvent(round(max(0.0, t), 4), 0.1, pitch, int(np.clip(vel + rng.normal(0, 8), 30, 127)))
            )

    bar = 0
    while bar * 4 * beat < duration_s:
        a = bar * 4 * beat
        fill = bar % 4 == 3
        swing = 2 / 3 if style == "shuffle" else 0.5  # where the off-beat eighth falls
        for b in range(4):
            t = a + b * beat
            if fill and b >= 2:  # two beats of toms, high to low, in sixteenths
                for s, tom in enumerate((50, 48, 47, 45, 43, 41, 43, 41)):
                    hit(t - (b - 2) * beat + s * beat / 4, tom, 95)
                continue
            hat = 46 if style == "four" else 42
            hit(t, 42, 70)
            hit(t + swing * beat, hat, 55)
            if style == "break":
                hit(t + 0.25 * beat, 42, 45)
                hit(t + 0.75 * beat, 42, 45)
            kick = {"rock": b in (0, 2), "four": True, "half": b == 0, "break": b == 0,
                    "shuffle": b in (0, 2)}[style]  # fmt: skip
            snare = {"rock": b in (1, 3), "four": b in (1, 3), "half": b == 2, "break": b in (1, 3),
                     "shuffle": b in (1, 3)}[style]  # fmt: skip
            if kick:
                hit(t, 36, 105)
            if style == "break" and b in (1, 2):
                hit(t + 0.5 * beat, 36, 90)
            if snare:
                hit(t, 39 if style == "four" else 38, 100)
        if bar % 4 == 0:
            hit(a, 49, 100)  # a crash at the top of each phrase
        bar += 1
    ev.sort(key=lambda e: (e.start, e.pitch))
    return Part("drums", f"kit {kit}", kit, 9, tuple(ev), volume=110, pan=64, reverb=30)


def drums(
    style: str,
    bpm: float,
    duration_s: float,
    sr: int,
    *,
    soundfont: str,
    kit: int,
    rng: np.random.Generator,
    workdir: Path,
) -> np.ndarray:
    """A drum pattern (:func:`drum_part`) rendered by FluidSynth, mono, shape (round(duration_s·sr),)."""
    from evaluation.evalset.render import fluidsynth

    part = drum_part(style, bpm, duration_s, kit, rng)
    y = fluidsynth([part], soundfont, sr=sr, end_s=duration_s, reverb=True, workdir=workdir).mean(axis=1)
    return _fade(y.astype(np.float64), sr).astype(np.float32)


def babble(
    streams: list[dict],
    duration_s: float,
    noise_snr_db: float,
    rng: np.random.Generator,
    *,
    workdir: Path | None = None,
) -> np.ndarray:
    """Several speakers at once plus pink room noise ``noise_snr_db`` below them: a crowd.

    ``streams``: one dict per talker — ``voice``, ``sentences``, ``stretch``, ``shift_s`` (the
    talker's speech is rotated by this much, so the talkers do not start together) and
    ``gain_db``. Shape (round(duration_s·16000),)."""
    n = int(round(duration_s * FESTIVAL_SR))
    mix = np.zeros(n, dtype=np.float64)
    for s in streams:
        y = speech(s["sentences"], s["voice"], duration_s, stretch=s["stretch"], gap_s=0.2, workdir=workdir)
        y = np.roll(y, int(s["shift_s"] * FESTIVAL_SR))
        mix += effects.db(s["gain_db"]) * y / (effects.rms(y) + 1e-9)
    mix = effects.add_noise(
        mix.astype(np.float32), effects.background("pink", n, FESTIVAL_SR, rng), noise_snr_db
    )
    mix = _fade(mix.astype(np.float64), FESTIVAL_SR)
    return (0.3 * mix / (np.max(np.abs(mix)) + 1e-9)).astype(np.float32)


# ---------------------------------------------------------------------------- plans


def _hum_voice(rng: np.random.Generator) -> HumVoice:
    syllable = str(rng.choice(["hm", "mm", "doo"]))  # one held syllable: no consonant per note
    return random_voice(rng, syllable, float(rng.uniform(0.95, 1.35)), max_vibrato=0.5, max_wander_cents=12.0)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _sentences(rng: np.random.Generator, language: str, k: int = 4) -> list[str]:
    pool = SENTENCES[language]
    return [str(pool[int(i)]) for i in rng.permutation(len(pool))[:k]]


def plan_nosong(subkind: str, index: int, rng: np.random.Generator, *, query_id: str) -> NoSongPlan:
    """The ``index``-th no-song query of ``subkind``. Variants cycle with ``index`` (sine/hum,
    noise colours, voices, drum styles) so that every small set covers them all; the rest is
    drawn from ``rng``."""
    dur = round(float(rng.uniform(MIN_S, MAX_S)), 3)
    params: dict = {}
    pitches: tuple[float, ...] = ()
    if subkind == "held":
        variant = ("sine", "hum")[index % 2]
        pitches = (round(_log_uniform(rng, MIN_HZ, MAX_HZ), 2),)
        if variant == "hum":
            params["voice"] = asdict(_hum_voice(rng))
    elif subkind in ("siren", "glide"):
        variant = ("sine", "voice")[index % 2]
        span = float(rng.uniform(2, 7)) if subkind == "siren" else float(rng.uniform(5, 19))
        lo = _log_uniform(rng, MIN_HZ, MAX_HZ / 2 ** (span / 12))
        pitches = (round(lo, 2), round(lo * 2 ** (span / 12), 2))
        params["formant_scale"] = round(float(rng.uniform(0.95, 1.35)), 3)
        if subkind == "siren":
            params["half_period_s"] = round(float(rng.uniform(0.3, 0.9)), 3)
        else:
            params["shape"] = ("up", "down", "updown")[(index // 2) % 3]
            params["period_s"] = round(float(rng.uniform(1.0, 4.0)), 3)
    elif subkind == "noise":
        variant = tuple(NOISE_COLOURS)[index % len(NOISE_COLOURS)]
    elif subkind == "speech":
        sp = SPEAKERS[index % len(SPEAKERS)]
        variant = sp.name
        params["sentences"] = _sentences(rng, sp.language)
        params["stretch"] = round(float(rng.uniform(0.85, 1.25)), 3)
    elif subkind == "drums":
        variant = DRUM_STYLES[index % len(DRUM_STYLES)]
        sfont = SOUNDFONTS[int(rng.integers(len(SOUNDFONTS)))]
        params |= {"bpm": round(float(rng.uniform(70, 160)), 1), "soundfont": sfont.name,
                   "kit": int(rng.choice(sfont.drum_kits))}  # fmt: skip
    elif subkind == "babble":
        k = int(rng.integers(3, 7))
        variant = f"{k} talkers"
        streams = []
        for _ in range(k):
            sp = SPEAKERS[int(rng.integers(len(SPEAKERS)))]
            streams.append({"voice": sp.name, "sentences": _sentences(rng, sp.language, 3),
                            "stretch": round(float(rng.uniform(0.85, 1.25)), 3),
                            "shift_s": round(float(rng.uniform(0, dur)), 3),
                            "gain_db": round(float(rng.uniform(-6, 0)), 2)})  # fmt: skip
        params |= {"streams": streams, "noise_snr_db": round(float(rng.uniform(5, 15)), 2)}
    else:
        raise ValueError(f"unknown no-song subkind {subkind!r}")
    return NoSongPlan(
        query_id=query_id,
        subkind=subkind,
        variant=variant,
        duration_s=dur,
        pitches_hz=pitches,
        performer=f"{subkind}:{variant}",
        channel=_voice_channel(rng, clean=False),
        params=params,
    )


def nosong_audio(
    p: NoSongPlan, rng: np.random.Generator, *, sr: int = QUERY_SR, workdir: Path | None = None
) -> np.ndarray:
    """The dry sound of a plan (before the channel): mono float32, shape (round(duration_s·sr),)."""
    if sr != FESTIVAL_SR and p.subkind in ("speech", "babble"):
        raise ValueError(f"speech is made at {FESTIVAL_SR} Hz")
    d = p.duration_s
    with tempfile.TemporaryDirectory(dir=workdir, prefix="humbot-nosong-") as tmp:
        if p.subkind == "held":
            voice = HumVoice(**p.params["voice"]) if p.variant == "hum" else None
            return held_note(p.pitches_hz[0], d, sr, timbre=p.variant, rng=rng, voice=voice)
        if p.subkind == "siren":
            f0 = siren_track(*p.pitches_hz, p.params["half_period_s"], d, sr)
            return tone(f0, sr, timbre=p.variant, formant_scale=p.params["formant_scale"])
        if p.subkind == "glide":
            f0 = glide_track(*p.pitches_hz, p.params["period_s"], d, sr, shape=p.params["shape"])
            return tone(f0, sr, timbre=p.variant, formant_scale=p.params["formant_scale"])
        if p.subkind == "noise":
            return coloured_noise(p.variant, d, sr, rng)
        if p.subkind == "speech":
            return speech(p.params["sentences"], p.variant, d, stretch=p.params["stretch"], workdir=Path(tmp))
        if p.subkind == "drums":
            return drums(p.variant, p.params["bpm"], d, sr, soundfont=p.params["soundfont"], kit=p.params["kit"],
                         rng=rng, workdir=Path(tmp))  # fmt: skip
        if p.subkind == "babble":
            return babble(p.params["streams"], d, p.params["noise_snr_db"], rng, workdir=Path(tmp))
    raise ValueError(p.subkind)


def render_nosong(p: NoSongPlan, path: Path, *, seed: int = 0) -> Path:
    """Make the plan's sound, pass it through its channel and write an OGG/Opus voice note."""
    rng = np.random.default_rng([seed, 7])
    sr = QUERY_SR
    n = int(round(p.duration_s * sr))
    y = nosong_audio(p, rng, sr=sr)
    y = np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)
    y = _through_channel(y, p.channel, rng, sr)
    return effects.encode(y, sr, path, "ogg", bitrate_kbps=p.channel.bitrate_kbps)


__all__ = ["KIND", "SUBKINDS", "NoSongPlan", "nosong_audio", "plan_nosong", "render_nosong"]
