"""Acoustics and codecs: rooms, noise, phone-like band limits, and real ffmpeg encoding.

Signals are float32 numpy arrays in [-1, 1]; mono is shape (n,), stereo (n, 2).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------- the mix bus


@dataclass(frozen=True)
class Master:
    """What a producer (or a cheap upload) does to a finished mix, in the order applied: shelving
    EQ, a bus compressor, saturation, a room, and noise mixed in. Family B's songs get one each."""

    low_shelf_db: float  # gain below ~200 Hz
    high_shelf_db: float  # gain above ~4 kHz
    comp_threshold_db: float  # dB below the mix's peak where compression starts
    comp_ratio: float  # 1 = no compression
    drive: float  # 1 = clean; higher = tanh saturation
    room_rt60: float  # s; 0 = no room
    noise: str  # "none" or one of NOISE_KINDS
    snr_db: float


def _shelf(y: np.ndarray, sr: int, f0: float, gain_db: float, high: bool) -> np.ndarray:
    """RBJ-cookbook shelving biquad (slope 1), per channel."""
    if abs(gain_db) < 0.05:
        return y
    a_ = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / sr
    cw, alpha = np.cos(w), np.sin(w) / 2 * np.sqrt(2)
    sq = 2 * np.sqrt(a_) * alpha
    if high:
        b = [
            a_ * ((a_ + 1) + (a_ - 1) * cw + sq),
            -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
            a_ * ((a_ + 1) + (a_ - 1) * cw - sq),
        ]
        a = [(a_ + 1) - (a_ - 1) * cw + sq, 2 * ((a_ - 1) - (a_ + 1) * cw), (a_ + 1) - (a_ - 1) * cw - sq]
    else:
        b = [
            a_ * ((a_ + 1) - (a_ - 1) * cw + sq),
            2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
            a_ * ((a_ + 1) - (a_ - 1) * cw - sq),
        ]
        a = [(a_ + 1) + (a_ - 1) * cw + sq, -2 * ((a_ - 1) + (a_ + 1) * cw), (a_ + 1) + (a_ - 1) * cw - sq]
    return signal.lfilter(np.array(b) / a[0], np.array(a) / a[0], y, axis=0)


def master(y: np.ndarray, sr: int, m: Master, rng: np.random.Generator) -> np.ndarray:
    """Apply ``m`` to a mono (n,) or stereo (n, 2) mix; returns float32 of the same shape."""
    x = np.asarray(y, np.float64)
    x = _shelf(x, sr, 200.0, m.low_shelf_db, high=False)
    x = _shelf(x, sr, 4000.0, m.high_shelf_db, high=True)
    if m.comp_ratio > 1.0:
        level = x**2 if x.ndim == 1 else np.mean(x**2, axis=1)
        tau = 0.05 * sr  # 50 ms RMS detector
        env = np.sqrt(signal.lfilter([1 / tau], [1, -(1 - 1 / tau)], level) + 1e-12)
        thr = np.max(np.abs(x)) * db(m.comp_threshold_db)
        gain = np.minimum(1.0, (env / thr) ** (1 / m.comp_ratio - 1))
        x = x * (gain if x.ndim == 1 else gain[:, None])
    if m.drive > 1.0:
        x = np.tanh(m.drive * x / (np.max(np.abs(x)) + 1e-9))
    if m.room_rt60 > 0:
        x = apply_ir(x.astype(np.float32), room_ir(rng, sr, rt60=m.room_rt60, drr_db=6.0))
    if m.noise != "none":
        noise = background(m.noise, len(x), sr, rng)
        x = add_noise(x, noise if x.ndim == 1 else np.stack([noise, noise], 1), m.snr_db)
    return np.asarray(x, np.float32)


def random_master(rng: np.random.Generator) -> Master:
    return Master(
        low_shelf_db=round(float(rng.uniform(-6, 6)), 2),
        high_shelf_db=round(float(rng.uniform(-8, 5)), 2),
        comp_threshold_db=round(float(rng.uniform(-24, -8)), 2),
        comp_ratio=round(float(rng.choice([1.0, rng.uniform(2, 6)])), 2),
        drive=round(float(rng.choice([1.0, 1.0, rng.uniform(1.5, 3.5)])), 2),
        room_rt60=round(float(rng.choice([0.0, rng.uniform(0.3, 1.5)])), 3),
        noise=str(rng.choice(["none", "pink", "babble", "street", "fan"], p=[0.4, 0.15, 0.2, 0.15, 0.1])),
        snr_db=round(float(rng.uniform(15, 35)), 2),
    )


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
    return run_ffmpeg(cmd, tmp, path, f"encode {path.name}", stdin=pcm)


def run_ffmpeg(cmd: list[str], tmp: Path, dst: Path, what: str, *, stdin: bytes | None = None) -> Path:
    """Run ffmpeg's ``cmd``, which writes ``tmp``, then move ``tmp`` to ``dst`` (so a file is there
    whole or not at all); ``RuntimeError`` with ffmpeg's last words when it could not ``what``."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not {what}: {proc.stderr.decode(errors='replace')[-400:]}")
    tmp.replace(dst)
    return dst


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
