"""Small synthetic tunes and encoders for tests: deterministic, fast, no downloads.

A "tune" is a random-walk melody of harmonic tones with a quiet bass line under it, so the melody
tracker has a predominant voice to follow and PANNs has something to listen to. ``encode`` runs
the real ffmpeg, so tests exercise the same decoders users' files go through.
"""

from __future__ import annotations

import subprocess

import numpy as np

SR = 32000


def tune(seed: int, *, notes: int = 48, shift: float = 0.0, tempo: float = 1.0, sr: int = SR,
         voice: bool = False) -> np.ndarray:
    """A melody (mono float32 at ``sr``). ``shift`` transposes (semitones); ``tempo`` > 1 slows it.

    ``voice=True`` renders it hummed-like (one voice, vibrato, no bass); otherwise as a "song"
    (brighter timbre plus a bass line).
    """
    r = np.random.default_rng(seed)
    pitches = 62 + np.cumsum(r.integers(-4, 5, notes)) % 14
    durs = r.choice([0.25, 0.5, 0.5, 0.75, 1.0], notes)
    out = []
    for p, d in zip(pitches, durs):
        n = int(sr * d * tempo)
        t = np.arange(n) / sr
        f = 440.0 * 2 ** ((p + shift - 69) / 12)
        env = np.minimum(1.0, np.minimum(t / 0.02, (n / sr - t) / 0.05 + 1e-3))
        if voice:
            f_t = f * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
            ph = 2 * np.pi * np.cumsum(f_t) / sr
            y = 0.5 * np.sin(ph) + 0.2 * np.sin(2 * ph) + 0.08 * np.sin(3 * ph)
        else:
            ph = 2 * np.pi * f * t
            bass = 440.0 * 2 ** ((p - 24 - 69) / 12)
            y = 0.5 * np.sin(ph) + 0.25 * np.sin(2 * ph) + 0.12 * np.sin(3 * ph) + 0.15 * np.sin(2 * np.pi * bass * t)
        out.append(env * y)
    y = np.concatenate(out).astype(np.float32)
    return 0.5 * y / np.abs(y).max()


def reharmonised(seed: int, *, notes: int = 48, sr: int = SR) -> np.ndarray:
    """Another recording of :func:`tune`'s melody: the same notes at the same times, but another
    timbre (odd partials, a clarinet's) and another bass line (a fifth under, with its fifth) —
    a second harmonisation of one tune, which is *not* the same recording."""
    r = np.random.default_rng(seed)
    pitches = 62 + np.cumsum(r.integers(-4, 5, notes)) % 14
    durs = r.choice([0.25, 0.5, 0.5, 0.75, 1.0], notes)
    out = []
    for p, d in zip(pitches, durs):
        n = int(sr * d)
        t = np.arange(n) / sr
        f = 440.0 * 2 ** ((p - 69) / 12)
        env = np.minimum(1.0, np.minimum(t / 0.02, (n / sr - t) / 0.05 + 1e-3))
        ph = 2 * np.pi * f * t
        bass = 440.0 * 2 ** ((p - 19 - 69) / 12)
        y = (0.5 * np.sin(ph) + 0.3 * np.sin(3 * ph) + 0.15 * np.sin(5 * ph) + 0.2 * np.sin(2 * np.pi * bass * t)
             + 0.1 * np.sin(2 * np.pi * 1.5 * bass * t))
        out.append(env * y)
    y = np.concatenate(out).astype(np.float32)
    return 0.5 * y / np.abs(y).max()


def encode(samples: np.ndarray, fmt: str, *, sr: int = SR, extra: tuple[str, ...] = ()) -> bytes:
    """Encode float32 mono with the real ffmpeg. ``fmt``: ogg (Opus voice note), mp3, m4a, flac,
    wav, webm, mp4 (video note: audio plus a black video track)."""
    pcm = np.clip(samples, -1, 1).astype("<f4").tobytes()
    inp = ["-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", "pipe:0"]
    codecs = {
        "ogg": ["-c:a", "libopus", "-b:a", "24k", "-application", "voip", "-f", "ogg"],
        "mp3": ["-c:a", "libmp3lame", "-b:a", "96k", "-f", "mp3"],
        "m4a": ["-c:a", "aac", "-b:a", "96k", "-movflags", "frag_keyframe+empty_moov", "-f", "ipod"],
        "flac": ["-c:a", "flac", "-f", "flac"],
        "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
        "webm": ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"],
    }
    if fmt == "mp4":
        dur = len(samples) / sr
        cmd = ["ffmpeg", "-v", "error", *inp, "-f", "lavfi", "-i", f"color=c=black:s=64x64:d={dur:.2f}",
               "-shortest", "-c:v", "libx264", "-c:a", "aac", "-movflags", "frag_keyframe+empty_moov",
               "-f", "mp4", "pipe:1"]
    else:
        cmd = ["ffmpeg", "-v", "error", *inp, *extra, *codecs[fmt], "pipe:1"]
    proc = subprocess.run(cmd, input=pcm, capture_output=True, check=True)
    return proc.stdout


# -- queries that carry no tune (core.evidence) ------------------------------------------------
def held_note(hz: float, seconds: float = 8.0, *, sr: int = SR, voice: bool = False) -> np.ndarray:
    """One pitch held: a pure tone, or (``voice``) a hummed "mmm" with 5.5 Hz vibrato."""
    t = np.arange(int(seconds * sr)) / sr
    if not voice:
        return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    ph = 2 * np.pi * np.cumsum(hz * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / sr
    return (0.3 * (np.sin(ph) + 0.4 * np.sin(2 * ph) + 0.2 * np.sin(3 * ph)) / 1.6).astype(np.float32)


def siren(lo_hz: float = 440.0, hi_hz: float = 587.0, seconds: float = 8.0, *, period_s: float = 1.0,
          sr: int = SR) -> np.ndarray:
    """Two pitches alternating, like a siren."""
    t = np.arange(int(seconds * sr)) / sr
    f = np.where((t % period_s) < period_s / 2, lo_hz, hi_hz)
    return (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr)).astype(np.float32)


def white_noise(seconds: float = 8.0, *, seed: int = 0, sr: int = SR) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def drum_loop(seconds: float = 8.0, *, bpm: float = 120.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Kick on the beats (a falling sine thump), snare (a noise burst) off the beats, hi-hats."""
    r = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm

    def hit(at: float, sound: np.ndarray) -> None:
        i = int(at * sr)
        n = min(len(sound), len(y) - i)
        y[i : i + n] += sound[:n]

    tk = np.arange(int(0.15 * sr)) / sr
    kick = 0.8 * np.sin(2 * np.pi * (60 + 80 * np.exp(-tk * 30)) * tk) * np.exp(-tk * 20)
    ts = np.arange(int(0.12 * sr)) / sr
    for k in np.arange(0.0, seconds, beat):
        hit(k, kick)
        hit(k + beat / 2, 0.4 * r.standard_normal(len(ts)) * np.exp(-ts * 35))
        hit(k + beat / 4, 0.1 * r.standard_normal(len(ts) // 3) * np.exp(-ts[: len(ts) // 3] * 120))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def speech(text: str, voice: str = "kal_diphone") -> bytes:
    """``text`` spoken by festival (a WAV file's bytes)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:  # a file, not a pipe: the WAV header needs its length
        out = Path(d) / "speech.wav"
        subprocess.run(["text2wave", "-eval", f"(voice_{voice})", "-o", str(out)], input=text.encode(),
                       capture_output=True, check=True)
        return out.read_bytes()
