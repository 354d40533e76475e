"""Acoustics and codecs: rooms, noise, phone-like band limits, and real ffmpeg encoding.

Signals are float32 numpy arrays in [-1, 1]; mono is shape (n,), stereo (n, 2).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from scipy import fft, signal

#: ffmpeg flags that make its output depend on the input only (no random Ogg serial numbers,
#: no encoder-version tags), so the same seed gives the same bytes.
BITEXACT = ("-fflags", "+bitexact", "-flags:a", "+bitexact")


def db(x: float) -> float:
    return float(10 ** (x / 20))


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


# ---------------------------------------------------------------------------- rooms


def room_ir(
    rng: np.random.Generator,
    sr: int,
    *,
    rt60: float,
    drr_db: float,
    predelay_s: float = 0.0,
    damping_hz: float = 4000.0,
) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, a few early reflections, then an
    exponentially decaying, low-passed noise tail reaching -60 dB at ``rt60``. ``drr_db``: direct
    to reverberant energy ratio (higher = drier, closer to the mic)."""
    n = int(sr * (rt60 + predelay_s + 0.05))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(sr * (predelay_s + 0.003))] = 0.0
    b, a = signal.butter(1, min(damping_hz, sr / 2 * 0.9) / (sr / 2))
    tail = signal.lfilter(b, a, tail)
    for _ in range(6):  # early reflections within 5–40 ms
        k = int(sr * (predelay_s + rng.uniform(0.005, 0.04)))
        if k < n:
            tail[k] += rng.uniform(-0.6, 0.6) * np.sqrt(np.sum(tail**2) / sr * 50)
    tail /= np.sqrt(np.sum(tail**2)) + 1e-12
    ir = tail * db(-drr_db)
    ir[0] += 1.0
    return ir.astype(np.float32)


def apply_ir(y: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve (mono or per channel), keeping the input length."""
    if y.ndim == 1:
        return signal.oaconvolve(y, ir)[: len(y)].astype(np.float32)
    return np.stack([signal.oaconvolve(y[:, c], ir)[: len(y)] for c in range(y.shape[1])], 1).astype(
        np.float32
    )


# ---------------------------------------------------------------------------- noise


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    m = fft.next_fast_len(n, real=True)  # an awkward n (a prime factor) makes the FFT 10× slower
    spec = rng.standard_normal(m // 2 + 1) + 1j * rng.standard_normal(m // 2 + 1)
    f = np.arange(m // 2 + 1, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / f ** (exponent / 2), m)[:n]
    return (y / (rms(y) + 1e-12)).astype(np.float32)


NOISE_KINDS = ("pink", "brown", "white", "babble", "hum", "fan", "street")


def background(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of a background sound at unit RMS: room tone, mains hum, a fan, a street,
    or "babble" (speech-shaped noise with a syllabic rhythm, like people talking nearby)."""
    t = np.arange(n) / sr
    if kind == "pink":
        y = _colored(rng, n, 1.0)
    elif kind == "brown":
        y = _colored(rng, n, 2.0)
    elif kind == "white":
        y = _colored(rng, n, 0.0)
    elif kind == "babble":
        y = _colored(rng, n, 1.0)
        sos = signal.butter(2, [250 / (sr / 2), min(3500, sr / 2 * 0.9) / (sr / 2)], "band", output="sos")
        y = signal.sosfilt(sos, y)
        env = np.zeros(n)
        for _ in range(4):  # four talkers, ~4 syllables a second each
            env += np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6.3)), 0, None)
        y = y * (0.4 + env)
    elif kind == "hum":
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        y = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        y = y + 0.1 * _colored(rng, n, 1.0)
    elif kind == "fan":
        y = _colored(rng, n, 0.0)
        lo = rng.uniform(80, 300)
        sos = signal.butter(2, [lo / (sr / 2), min(lo * 6, sr / 2 * 0.9) / (sr / 2)], "band", output="sos")
        y = signal.sosfilt(sos, y) + 0.3 * np.sin(2 * np.pi * rng.uniform(90, 130) * t)
    elif kind == "street":
        y = _colored(rng, n, 2.0) + 0.3 * _colored(rng, n, 1.0)
        for _ in range(int(rng.integers(0, 3))):  # a passing car
            c, w = rng.uniform(0, n / sr), rng.uniform(1, 3)
            y = y * (1 + 3 * np.exp(-(((t - c) / w) ** 2)))
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    y = np.asarray(y, dtype=np.float64)
    return (y / (rms(y) + 1e-12)).astype(np.float32)


def add_noise(
    y: np.ndarray, noise: np.ndarray, snr_db: float, *, ref: np.ndarray | None = None
) -> np.ndarray:
    """``y`` plus ``noise`` scaled to ``snr_db`` below ``ref``'s RMS (``y``'s by default)."""
    level = rms(y if ref is None else ref)
    return (y + noise[: len(y)] * level * db(-snr_db)).astype(np.float32)


def bandlimit(y: np.ndarray, sr: int, lo_hz: float | None, hi_hz: float | None, order: int = 4) -> np.ndarray:
    """High-pass at ``lo_hz`` and/or low-pass at ``hi_hz`` (Butterworth), like a phone's mic
    and speaker."""
    out = y
    if lo_hz:
        out = signal.sosfilt(signal.butter(order, lo_hz / (sr / 2), "high", output="sos"), out, axis=0)
    if hi_hz and hi_hz < sr / 2 * 0.98:
        out = signal.sosfilt(signal.butter(order, hi_hz / (sr / 2), "low", output="sos"), out, axis=0)
    return np.asarray(out, dtype=np.float32)


def peak_normalise(y: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    p = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (db(peak_db) / p) if p > 0 else y).astype(np.float32)


# ---------------------------------------------------------------------------- codecs


_CODECS = {
    # LAME's algorithm quality 7 ("fast, ok"): half the CPU of the default at VBR quality 4
    "mp3": ("-c:a", "libmp3lame", "-q:a", "4", "-compression_level", "7"),
    "flac": ("-c:a", "flac", "-compression_level", "2"),
    "wav": ("-c:a", "pcm_s16le"),
    # complexity 5, as phones use (10, the desktop default, costs 50 % more CPU here)
    "ogg": (
        "-c:a",
        "libopus",
        "-application",
        "voip",
        "-vbr",
        "on",
        "-frame_duration",
        "20",
        "-compression_level",
        "5",
    ),
}


def encode(
    y: np.ndarray,
    sr: int,
    path: Path,
    fmt: str,
    *,
    bitrate_kbps: int | None = None,
    out_sr: int | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode float32 mono/stereo with the real ffmpeg into ``path`` (written atomically).
    ``fmt``: mp3, flac, wav, or ogg (Opus, like a Telegram voice note)."""
    ch = 1 if y.ndim == 1 else y.shape[1]
    pcm = np.clip(y, -1, 1).astype("<f4").tobytes()
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "f32le",
        "-ar",
        str(sr),
        "-ac",
        str(ch),
        "-i",
        "pipe:0",
        *BITEXACT,
        "-map_metadata",
        "-1",
        *_CODECS[fmt],
    ]
    if bitrate_kbps:
        cmd += ["-b:a", f"{bitrate_kbps}k"]
    if out_sr:
        cmd += ["-ar", str(out_sr)]
    for k, v in (metadata or {}).items():
        cmd += ["-metadata", f"{k}={v}"]
    tmp = path.with_name(f".{path.name}.part")
    cmd += ["-f", {"ogg": "ogg", "mp3": "mp3", "flac": "flac", "wav": "wav"}[fmt], str(tmp)]
    proc = subprocess.run(cmd, input=pcm, capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            f"ffmpeg could not encode {path.name}: {proc.stderr.decode(errors='replace')[-400:]}"
        )
    tmp.replace(path)
    return path


def decode(path: Path, sr: int, *, start_s: float = 0.0, duration_s: float | None = None) -> np.ndarray:
    """Decode any file ffmpeg reads to mono float32 at ``sr``."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin"]
    if start_s:
        cmd += ["-ss", f"{start_s:.4f}"]
    cmd += ["-i", str(path)]
    if duration_s:
        cmd += ["-t", f"{duration_s:.4f}"]
    cmd += ["-ac", "1", "-ar", str(sr), "-f", "f32le", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {proc.stderr.decode(errors='replace')[-400:]}")
    return np.frombuffer(proc.stdout, dtype="<f4").copy()
