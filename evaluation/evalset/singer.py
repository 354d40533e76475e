"""A singer of our own: a KLGLOTT88 glottal source through a parallel bank of vowel formants, with
consonants, vibrato, scoops, portamento, drift and breath — voices festival does not have.

festival's three diphone voices are the only singers of the evaluation set's family A, and a
melody tracker trained on them learns *those* voices. This synthesiser is built by other means
(another glottal model than :mod:`evaluation.evalset.hum`'s Rosenberg pulses, parallel instead of
cascade formants, syllables of several languages), and its voices are drawn from wide ranges:

* **Source.** KLGLOTT88 flow (``u = a·t² − b·t³`` over the open phase), differentiated (lip
  radiation), an extra spectral tilt per voice (soft/pressed phonation), jitter and shimmer,
  aspiration noise gated by the open phase (breathiness).
* **Pitch.** Each note's target plus a per-note intonation error; a scoop from below into a
  detached note; a portamento (raised-cosine glide) into a legato one, sometimes overshooting;
  delayed vibrato at 4–7 Hz and ±20–80 cents (per voice), its rate and depth wavering; a slow
  drift of the whole voice.
* **Tract.** Five formants per vowel (a e i o u ɛ ɔ ə), scaled by the voice's size (bass ≈ 0.92,
  soprano ≈ 1.2) and optionally a singer's formant (a cluster near 2.8–3.2 kHz). Each note is
  filtered with its syllable's vowel; notes overlap-add with short crossfades.
* **Consonants.** A syllable is an onset consonant and a vowel: voiceless and voiced stops
  (closure, burst, aspiration), fricatives (band noise: s, ʃ, f, h), nasals and liquids (voiced,
  with their own low formants). The consonant takes the first 30–120 ms of the note, so a sung
  line has the unvoiced gaps and onsets real singing has.
* **Humming** (``mode="hum"``): a nasal murmur (closed mouth) or "n"-onset hum, on the same
  source.

Output: mono float32 at ``sr`` (16 kHz by default), peak 0.5. Everything follows from ``rng``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from evaluation.evalset.festival import MAX_SUNG_MIDI, Singer

#: (F1–F5 Hz) of an adult male voice; bandwidths follow from frequency (see _bandwidths).
VOWELS: dict[str, tuple[float, ...]] = {
    "a": (730, 1090, 2440, 3400, 4200),
    "e": (480, 1850, 2550, 3350, 4200),
    "i": (290, 2250, 2900, 3500, 4300),
    "o": (500, 850, 2450, 3300, 4150),
    "u": (330, 800, 2300, 3250, 4100),
    "E": (600, 1700, 2500, 3400, 4200),  # ɛ
    "O": (620, 950, 2450, 3350, 4150),  # ɔ
    "@": (520, 1350, 2450, 3350, 4200),  # ə
    "m": (280, 1100, 2250, 3300, 4100),  # nasal murmur (closed mouth)
    "n": (300, 1500, 2450, 3300, 4100),
}
#: Relative level of each formant in the parallel bank (dB), F1 … F5.
_FORMANT_DB = (0.0, -6.0, -14.0, -20.0, -26.0)
STOPS_VOICELESS = {"p": 1200.0, "t": 4000.0, "k": 2200.0}  # burst centre (Hz)
STOPS_VOICED = {"b": 900.0, "d": 3000.0, "g": 1900.0}
FRICATIVES = {"s": (4500.0, 7800.0), "S": (2200.0, 5500.0), "f": (1500.0, 7500.0), "h": (0.0, 0.0)}
NASALS = {"m": "m", "n": "n"}
LIQUIDS = {"l": (350.0, 1100.0), "r": (420.0, 1300.0), "j": (280.0, 2100.0), "w": (300.0, 700.0)}
#: Syllables a singer of each language sings (onset consonant, vowel); "" = no consonant.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": (
        "la",
        "lE",
        "lo",
        "da",
        "do",
        "na",
        "ni",
        "mE",
        "sO",
        "si",
        "tu",
        "ha",
        "wo",
        "bi",
        "ko",
        "ra",
        "jo",
        "fa",
        "go",
        "Sa",
        "@",
        "o",
        "a",
        "pi",
        "mu",
    ),
    "it": (
        "la",
        "le",
        "lo",
        "ma",
        "mi",
        "no",
        "na",
        "ta",
        "to",
        "ri",
        "ra",
        "se",
        "sa",
        "de",
        "do",
        "vi",
        "ku",
        "pa",
        "be",
        "a",
        "o",
        "e",
    ),
    "de": (
        "la",
        "da",
        "di",
        "zi",
        "Sa",
        "na",
        "ne",
        "mu",
        "ho",
        "ku",
        "ti",
        "be",
        "fo",
        "ga",
        "@",
        "ja",
        "ri",
        "E",
        "O",
    ),
    "es": (
        "la",
        "lo",
        "ma",
        "me",
        "no",
        "ta",
        "te",
        "sa",
        "si",
        "ra",
        "ro",
        "de",
        "ku",
        "pa",
        "a",
        "o",
        "e",
        "bi",
    ),
    "zh": (
        "ni",
        "hao",
        "wo",
        "ai",
        "ma",
        "la",
        "da",
        "shi",
        "Sa",
        "ji",
        "tu",
        "ko",
        "a",
        "o",
        "e",
        "u",
        "li",
        "mu",
    ),
    "ja": (
        "ka",
        "ki",
        "ku",
        "ko",
        "sa",
        "si",
        "ta",
        "to",
        "na",
        "no",
        "ha",
        "ma",
        "mi",
        "ra",
        "ri",
        "ja",
        "wa",
        "a",
        "o",
        "u",
    ),
}
HUM_SYLLABLES = ("m", "m", "hm", "nm", "mm")
_VOWEL_CHARS = "aeiouEO@"
#: Onsets spelled with other letters: sounded as the nearest consonant the synthesiser makes.
_ALIASES = {"sh": "S", "ch": "S", "z": "s", "v": "f"}


@dataclass(frozen=True)
class SingerVoice:
    """One singer's voice: who they are (size, register, phonation) and how they sing."""

    name: str
    language: str
    center: float  # comfortable median pitch (MIDI)
    formant_scale: float  # 0.92 bass … 1.2 soprano, 1.3 child
    tilt: float  # 0 pressed/bright … 0.9 soft/dark (one-pole low-pass coefficient on the source)
    open_quotient: float  # 0.4 pressed … 0.8 breathy
    breathiness: float  # aspiration relative to voicing (0–0.6)
    vibrato_hz: float  # 4–7 Hz
    vibrato_cents: float  # ±20–80 cents, peak
    vibrato_onset_s: float  # vibrato sets in after this much of a held note
    scoop_cents: float  # a detached note starts this far below (on average)
    scoop_s: float  # seconds to settle
    portamento_s: float  # glide into a legato note
    overshoot: float  # share of glides that overshoot the target a little
    drift_cents: float  # slow wander of the whole voice (RMS)
    intonation_cents: float  # per-note error (SD)
    jitter: float  # cycle-to-cycle f0 noise (relative)
    shimmer: float  # amplitude wander (relative)
    singers_formant_db: float  # extra level near 3 kHz (trained voices); 0 = none
    legato: float  # share of a note's span that is sung before the next consonant


#: Voice types: (share of singers, range of the comfortable median pitch (MIDI), range of the
#: formant scale).
VOICE_TYPES = {
    "bass": (0.1, (45, 50), (0.9, 0.96)),
    "baritone": (0.2, (49, 54), (0.95, 1.0)),
    "tenor": (0.2, (53, 59), (0.98, 1.05)),
    "alto": (0.15, (57, 62), (1.08, 1.14)),
    "mezzo": (0.15, (60, 65), (1.1, 1.17)),
    "soprano": (0.15, (64, 70), (1.14, 1.22)),
    "child": (0.05, (64, 70), (1.25, 1.35)),
}


def voice_from_id(name: str, language: str | None = None) -> SingerVoice:
    """The voice called ``name``: drawn from ranges by a hash of the name, so a name always means
    the same voice. ``language``: force one (else drawn)."""
    rng = np.random.default_rng(
        int.from_bytes(hashlib.sha256(f"singer|{name}".encode()).digest()[:8], "little")
    )
    kind = str(rng.choice(list(VOICE_TYPES), p=[share for share, _, _ in VOICE_TYPES.values()]))
    _, center, scale = VOICE_TYPES[kind]
    lang = language or str(rng.choice(sorted(LANGUAGES)))
    trained = rng.random() < 0.5
    return SingerVoice(
        name=name,
        language=lang,
        center=round(float(rng.uniform(*center)), 2),
        formant_scale=round(float(rng.uniform(*scale)), 3),
        tilt=round(float(rng.uniform(0.0, 0.85)), 3),
        open_quotient=round(float(rng.uniform(0.4, 0.8)), 3),
        breathiness=round(float(rng.uniform(0.02, 0.6)), 3),
        vibrato_hz=round(float(rng.uniform(4.0, 7.0)), 2),
        vibrato_cents=round(float(rng.uniform(20, 80) if trained else rng.uniform(5, 45)), 1),
        vibrato_onset_s=round(float(rng.uniform(0.08, 0.4)), 3),
        scoop_cents=round(float(rng.uniform(20, 300)), 1),
        scoop_s=round(float(rng.uniform(0.04, 0.16)), 3),
        portamento_s=round(float(rng.uniform(0.03, 0.14)), 3),
        overshoot=round(float(rng.uniform(0.0, 0.5)), 3),
        drift_cents=round(float(rng.uniform(5, 40)), 1),
        intonation_cents=round(float(rng.uniform(5, 35) if trained else rng.uniform(15, 50)), 1),
        jitter=round(float(rng.uniform(0.002, 0.012)), 4),
        shimmer=round(float(rng.uniform(0.03, 0.15)), 3),
        singers_formant_db=round(float(rng.uniform(6, 14)) if trained else 0.0, 2),
        legato=round(float(rng.uniform(0.8, 1.0)), 3),
    )


@dataclass(frozen=True)
class SungSyllable:
    start: float  # seconds
    dur: float  # seconds
    pitch: float  # MIDI, fractional allowed
    syllable: str  # onset consonant(s) + vowel, e.g. "la", "Sa", "@" (see LANGUAGES)


def split_syllable(s: str) -> tuple[str, str]:
    """'la' → ('l', 'a'); 'shi' → ('sh', 'i'); a hum without a vowel: 'hm' → ('h', 'm')."""
    for i, ch in enumerate(s):
        if ch in _VOWEL_CHARS:
            return s[:i], ch
    return s[:-1], s[-1] if s and s[-1] in VOWELS else "@"


def _bandwidths(freqs: Sequence[float]) -> np.ndarray:
    f = np.asarray(freqs, float)
    return 50.0 + 0.06 * f  # wider as they rise, as measured on real vowels


def _parallel_tract(
    x: np.ndarray, freqs: Sequence[float], scale: float, sr: int, singers_db: float = 0.0
) -> np.ndarray:
    # A parallel bank of band-passes alone drops the low harmonics below F1, which in a real
    # voice (a cascade tract, unity gain at DC) are the strongest: a low-pass branch keeps them.
    y = 0.6 * signal.sosfilt(signal.butter(2, 350.0 * scale, "low", fs=sr, output="sos"), x)
    for k, (f, bw) in enumerate(zip(freqs, _bandwidths(freqs))):
        f = f * scale
        if f >= 0.45 * sr:
            continue
        gain = 10 ** (_FORMANT_DB[k] / 20)
        if singers_db and k in (2, 3):  # the singer's formant: F3/F4 clustered near 3 kHz and louder
            f = 0.5 * f + 0.5 * 3000.0 * scale**0.3
            gain *= 10 ** (singers_db / 20)
        sos = signal.butter(
            1,
            [max(20.0, f - bw * scale / 2), min(0.49 * sr, f + bw * scale / 2)],
            "bandpass",
            fs=sr,
            output="sos",
        )
        y += gain * signal.sosfilt(sos, signal.sosfilt(sos, x))  # two passes: steeper skirts
    return y


def _smooth(rng: np.random.Generator, n: int, sr: int, hz: float) -> np.ndarray:
    k = max(4, int(n * hz / sr) + 4)
    y = np.interp(np.linspace(0, k - 1, n), np.arange(k), rng.standard_normal(k))
    return y / (np.std(y) + 1e-9)


def _pitch_track(
    notes: Sequence[SungSyllable], v: SingerVoice, n: int, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-sample MIDI pitch over the whole line (held through rests)."""
    t = np.arange(n) / sr
    pitch = np.full(n, notes[0].pitch, dtype=np.float64)
    prev_end, prev_pitch = -1.0, None
    for note in notes:
        a, b = int(note.start * sr), min(n, int((note.start + note.dur) * sr))
        if b <= a:
            continue
        tt = t[a:b] - note.start
        target = note.pitch + rng.normal(0, v.intonation_cents / 100)
        legato = prev_pitch is not None and note.start - prev_end < 0.06
        if legato:
            g = max(1e-3, v.portamento_s * rng.uniform(0.6, 1.4))
            over = (target - prev_pitch) * rng.uniform(0.05, 0.2) if rng.random() < v.overshoot else 0.0
            ramp = np.where(tt < g, 0.5 - 0.5 * np.cos(np.pi * np.clip(tt / g, 0, 1)), 1.0)
            bump = over * np.exp(-np.maximum(tt - g, 0) / 0.05) * (tt >= g)
            p = prev_pitch + (target - prev_pitch) * ramp + bump
        else:
            depth = v.scoop_cents / 100 * rng.uniform(0.3, 1.5) * (rng.random() < 0.8)
            p = target - depth * np.exp(-tt / max(v.scoop_s * rng.uniform(0.7, 1.3), 1e-3))
        if note.dur > v.vibrato_onset_s + 0.1:
            ramp = np.clip((tt - v.vibrato_onset_s) / 0.2, 0, 1)
            rate = v.vibrato_hz * (1 + 0.06 * _smooth(rng, len(tt), sr, 2.0))
            phase = 2 * np.pi * np.cumsum(rate) / sr + rng.uniform(0, 2 * np.pi)
            depth = v.vibrato_cents / 100 * (1 + 0.2 * _smooth(rng, len(tt), sr, 1.5))
            p = p + ramp * depth * np.sin(phase)
        pitch[a:b] = p
        if not legato:
            g0 = int(prev_end * sr) if prev_pitch is not None else 0
            pitch[max(0, g0) : a] = p[0]
        prev_end, prev_pitch = note.start + note.dur, target
    pitch[int(prev_end * sr) :] = prev_pitch if prev_pitch is not None else pitch[-1]
    return pitch + v.drift_cents / 100 * _smooth(rng, n, sr, 0.3)


def _glottal(
    f0: np.ndarray, v: SingerVoice, sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """KLGLOTT88 flow derivative at ``sr`` (given f0 per sample) and the open-phase gate."""
    f = f0 * (1 + v.jitter * rng.standard_normal(len(f0)))
    phase = np.cumsum(f / sr) % 1.0
    oq = v.open_quotient
    x = np.clip(phase / oq, 0, 1)
    flow = np.where(phase < oq, 27 / 4 * (x**2 - x**3), 0.0)  # peak 1 at x = 2/3
    d = np.diff(flow, prepend=0.0) * (f0 / 200.0)
    if v.tilt > 0:
        d = signal.lfilter([1 - v.tilt], [1, -v.tilt], d)
    return d, (phase < oq).astype(float)


def sing(
    notes: Sequence[SungSyllable],
    voice: SingerVoice,
    *,
    sr: int = 16000,
    total_s: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Sing ``notes`` (one syllable each) with ``voice`` → mono float32 at ``sr``, peak 0.5."""
    if not notes:
        raise ValueError("nothing to sing")
    rng = rng or np.random.default_rng(0)
    total = total_s or (max(n.start + n.dur for n in notes) + 0.3)
    osr = 2 * sr
    n2 = int(total * osr)
    pitch = _pitch_track(notes, voice, n2, osr, rng)
    src2, gate2 = _glottal(440.0 * 2 ** ((pitch - 69.0) / 12.0), voice, osr, rng)
    src = signal.resample_poly(src2, 1, 2)
    gate = signal.resample_poly(gate2, 1, 2)
    n = len(src)
    src /= np.std(src) + 1e-9
    asp = rng.standard_normal(n) * (0.3 + 0.7 * np.clip(gate, 0, 1))
    asp = signal.sosfilt(signal.butter(2, 1000, "high", fs=sr, output="sos"), asp)
    shimmer = 1.0 + voice.shimmer * _smooth(rng, n, sr, 12.0)
    voiced_exc = (src + voice.breathiness * asp) * shimmer
    out = np.zeros(n)
    fade = int(0.02 * sr)
    for k, note in enumerate(notes):
        onset, vowel = split_syllable(note.syllable)
        a, b = int(note.start * sr), min(n, int((note.start + note.dur) * sr))
        if b - a < 4:
            continue
        nxt = notes[k + 1].start if k + 1 < len(notes) else None
        sung_b = (
            b
            if nxt is None or nxt - (note.start + note.dur) > 0.05
            else a + max(int(0.6 * (b - a)), int(voice.legato * (b - a)))
        )
        lo, hi = max(0, a - fade), min(n, sung_b + fade)
        m = hi - lo
        tt = np.arange(m) / sr
        # consonant: share of the note it takes before the vowel
        c_len = 0
        if onset and onset not in ("", "h"):
            c_len = int(min(0.3 * (b - a), rng.uniform(0.03, 0.12) * sr))
        elif onset == "h":
            c_len = int(min(0.25 * (b - a), rng.uniform(0.03, 0.08) * sr))
        attack = rng.uniform(0.01, 0.05)
        env = np.clip((tt - fade / sr - c_len / sr) / attack, 0, 1)
        rel = min(rng.uniform(0.03, 0.1), note.dur / 3)
        env *= np.clip((m / sr - tt) / max(rel + fade / sr, 1e-3), 0, 1)
        env *= rng.uniform(0.7, 1.0) * np.exp(-tt * rng.uniform(0.0, 0.5))
        seg = voiced_exc[lo:hi]
        y = _parallel_tract(seg, VOWELS[vowel], voice.formant_scale, sr, voice.singers_formant_db) * env
        if vowel in NASALS:  # a hum: the closed mouth's anti-resonances leave little above ~1 kHz
            y = signal.sosfilt(signal.butter(2, 1000.0 * voice.formant_scale, "low", fs=sr, output="sos"), y)
        c0 = lo + fade
        if onset:
            y += _consonant(onset, c_len, seg, c0 - lo, voice, sr, rng, vowel)
        out[lo:hi] += y
    out = signal.sosfilt(signal.butter(2, 60, "high", fs=sr, output="sos"), out)
    res = np.zeros(int(total * sr), dtype=np.float32)
    k = min(len(res), len(out))
    res[:k] = out[:k]
    peak = float(np.max(np.abs(res))) or 1.0
    return (0.5 * res / peak).astype(np.float32)


def _consonant(
    onset: str,
    c_len: int,
    seg: np.ndarray,
    at: int,
    v: SingerVoice,
    sr: int,
    rng: np.random.Generator,
    vowel: str,
) -> np.ndarray:
    """The onset consonant's sound, placed in a note segment (zeros elsewhere)."""
    y = np.zeros(len(seg))
    c = _ALIASES.get(onset, _ALIASES.get(onset[-1], onset[-1]))
    end = min(len(seg), at + c_len)
    if end <= at:
        return y
    n = end - at
    rms_v = float(np.std(_parallel_tract(seg[at:end], VOWELS[vowel], v.formant_scale, sr))) + 1e-9
    if c in STOPS_VOICELESS or c in STOPS_VOICED:
        centre = STOPS_VOICELESS.get(c) or STOPS_VOICED[c]
        burst_n = min(n, int(0.012 * sr))
        burst = rng.standard_normal(burst_n) * np.linspace(1, 0, burst_n)
        lo, hi = max(100.0, centre * 0.6), min(0.45 * sr, centre * 1.6)
        burst = signal.sosfilt(signal.butter(2, [lo, hi], "bandpass", fs=sr, output="sos"), burst)
        pos = end - burst_n
        y[pos:end] += 0.6 * rms_v * burst / (np.std(burst) + 1e-9)
        if c in STOPS_VOICED:  # voice bar: a low murmur through the closure
            y[at:pos] += 0.15 * signal.sosfilt(signal.butter(2, 400, "low", fs=sr, output="sos"), seg[at:pos])
    elif c in FRICATIVES:
        noise = rng.standard_normal(n)
        lo, hi = FRICATIVES[c]
        if c == "h":
            noise = _parallel_tract(noise, VOWELS[vowel], v.formant_scale, sr)
            level = 0.35
        else:
            noise = signal.sosfilt(
                signal.butter(2, [lo, min(hi, 0.45 * sr)], "bandpass", fs=sr, output="sos"), noise
            )
            level = {"s": 0.7, "S": 0.8, "f": 0.3}[c]
        env = np.sin(np.pi * np.linspace(0, 1, n)) ** 0.7
        y[at:end] += level * rms_v * env * noise / (np.std(noise) + 1e-9)
    elif c in NASALS or c in LIQUIDS:
        freqs = VOWELS[NASALS[c]] if c in NASALS else (*LIQUIDS[c], 2500, 3300, 4100)
        x = _parallel_tract(seg[at:end], freqs, v.formant_scale, sr)
        if c in NASALS:
            x = signal.sosfilt(signal.butter(2, 1500, "low", fs=sr, output="sos"), x)
        env = np.clip(np.arange(n) / max(1, int(0.015 * sr)), 0, 1) * np.linspace(1, 0.6, n)
        y[at:end] += 0.6 * rms_v * env * x / (np.std(x) + 1e-9)
    return y


def hum_line(
    notes: Sequence[SungSyllable],
    voice: SingerVoice,
    *,
    sr: int = 16000,
    total_s: float | None = None,
    rng: np.random.Generator | None = None,
    syllable: str = "m",
) -> np.ndarray:
    """Hum ``notes`` (their syllables ignored) on one murmur: "m" (closed mouth), "hm" (a breath
    before each note), "nm" (each note starts on "n"), "mm" (legato, no stops)."""
    s = {"m": "m", "hm": "hm", "nm": "nm", "mm": "m"}[syllable]
    return sing(
        [SungSyllable(x.start, x.dur, x.pitch, s) for x in notes], voice, sr=sr, total_s=total_s, rng=rng
    )


# ----------------------------------------------------------------------------- voices as song leads

#: Voices the salience network is trained on (evaluation/train_salience.py) and nothing else.
TRAIN_VOICES = tuple(f"fs-train-{k:02d}" for k in range(32))
#: Family B's voices: never trained on, never used for a choice (evaluation.evalset.dataset, family "b").
HELD_OUT_VOICES = tuple(f"fs-b-{k:02d}" for k in range(12))
#: How far above its comfortable pitch a synthetic singer is asked to go (festival's voices stop
#: at festival.MAX_SUNG_MIDI; this one has no ceiling of its own).
RANGE_ABOVE = 12


def is_synthetic(name: str) -> bool:
    return name.startswith("fs-")


def as_lead(name: str) -> Singer:
    """A synthetic voice in the arranger's terms (festival.Singer: name, language, centre)."""
    v = voice_from_id(name)
    return Singer(name, v.language, int(round(v.center)), package="")


def ceiling(s: Singer) -> float:
    """The highest MIDI pitch ``s`` is given to sing."""
    return s.center + RANGE_ABOVE if is_synthetic(s.name) else MAX_SUNG_MIDI
