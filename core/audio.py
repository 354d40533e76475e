"""Decoding what users send into clean mono float32, and cutting clips back out.

All decoding goes through ffmpeg, so anything ffmpeg reads works: Telegram OGG/Opus voice
notes, MP3, M4A/AAC, FLAC, WAV, WebM and MP4 video notes. Failures become typed
:mod:`core.errors` with a message fit for a user; ffmpeg's own output goes to the log.

Units: sample rates in Hz, durations and offsets in seconds, samples as float32 in [-1, 1].
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from core.errors import CorruptAudio, EmptyAudio, NotAudio, SilentAudio, TooLarge, TooShort

log = logging.getLogger(__name__)

#: Below this RMS (after trimming) a recording counts as silence (-50 dBFS).
SILENCE_RMS = 10 ** (-50 / 20)
#: Loudness every decoded signal is normalised to (RMS, -20 dBFS).
TARGET_RMS = 10 ** (-20 / 20)
#: Leading/trailing parts quieter than this below the peak are trimmed (dB).
TRIM_TOP_DB = 40.0


@dataclass(frozen=True)
class Audio:
    """Decoded mono audio. ``samples``: shape (n,), float32, at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int
    truncated: bool = False  # the source was longer than the cap and was cut

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def resampled(self, sample_rate: int) -> Audio:
        if sample_rate == self.sample_rate:
            return self
        y = librosa.resample(self.samples, orig_sr=self.sample_rate, target_sr=sample_rate)
        return Audio(y.astype(np.float32, copy=False), sample_rate, self.truncated)


def check_size(size_bytes: int, max_mb: float) -> None:
    """Raise :class:`TooLarge` before anything is downloaded or decoded."""
    if size_bytes > max_mb * 1024 * 1024:
        raise TooLarge(size_mb=size_bytes / 1024 / 1024, limit_mb=max_mb)


#: Leading bytes of the containers users send (OGG, MP3/ID3, FLAC, WAV, MP4/M4A, WebM/MKV).
_MEDIA_MAGIC = (b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"fLaC", b"RIFF", b"\x1aE\xdf\xa3")


def _looks_like_media(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head.startswith(_MEDIA_MAGIC) or head[4:8] == b"ftyp"


def decode_file(path: Path, *, sample_rate: int, max_seconds: float) -> Audio:
    """Decode ``path`` to mono float32 at ``sample_rate``, keeping at most ``max_seconds``.

    One ffmpeg process decodes, downmixes and resamples (pydub would run ffprobe twice and
    resample in Python: three processes where one does). Raises :class:`EmptyAudio`,
    :class:`NotAudio` (not media, or no audio stream) or :class:`CorruptAudio`.
    Does not trim or normalise: see :func:`clean`.
    """
    if path.stat().st_size == 0:
        raise EmptyAudio()
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-t", f"{max_seconds + 0.05:.3f}", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0 or not proc.stdout:
        log.info("ffmpeg could not decode %s: %s", path.name, err.strip()[-500:])
        if "matches no streams" in err or "does not contain any stream" in err:
            raise NotAudio()  # a video or image without sound
        raise CorruptAudio() if _looks_like_media(path) else NotAudio()
    y = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    n = int(round(max_seconds * sample_rate))
    truncated = len(y) > n
    if not np.all(np.isfinite(y)):
        raise CorruptAudio()
    return Audio(y[:n], sample_rate, truncated)


def decode_bytes(data: bytes, *, sample_rate: int, max_seconds: float, suffix: str = "") -> Audio:
    """:func:`decode_file` for bytes in memory (an upload, a voice note)."""
    if not data:
        raise EmptyAudio()
    # A real file, not a pipe: MP4/M4A keep their index at the end and need seeking.
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return decode_file(Path(f.name), sample_rate=sample_rate, max_seconds=max_seconds)


def clean(audio: Audio, *, min_seconds: float) -> Audio:
    """Trim leading/trailing silence, reject silence and too-short audio, normalise loudness."""
    y = audio.samples
    if y.size == 0 or float(np.max(np.abs(y))) < SILENCE_RMS:
        raise SilentAudio()
    trimmed, _ = librosa.effects.trim(y, top_db=TRIM_TOP_DB, frame_length=2048, hop_length=512)
    rms = float(np.sqrt(np.mean(trimmed**2))) if trimmed.size else 0.0
    if rms < SILENCE_RMS:
        raise SilentAudio()
    seconds = len(trimmed) / audio.sample_rate
    if seconds < min_seconds:
        raise TooShort(seconds=seconds, min_seconds=min_seconds)
    gain = TARGET_RMS / rms
    # Never let normalisation clip: limit the gain by the peak.
    peak = float(np.max(np.abs(trimmed)))
    gain = min(gain, 0.99 / peak) if peak > 0 else gain
    return Audio((trimmed * gain).astype(np.float32), audio.sample_rate, audio.truncated)


CLIP_CODECS = {
    "ogg": (["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"], "audio/ogg"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"], "audio/mpeg"),
}


def encode_clip(path: Path, *, start_s: float, duration_s: float, fmt: str = "ogg") -> bytes:
    """An excerpt of ``path`` from ``start_s`` lasting ``duration_s``, encoded as OGG/Opus or MP3.

    Short fades in and out so a clip does not start or end with a click.
    """
    args, _ = CLIP_CODECS[fmt]
    fade = min(0.5, duration_s / 4)
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-ss", f"{max(0.0, start_s):.3f}", "-t", f"{duration_s:.3f}",
        "-i", str(path), "-vn", "-ac", "1", "-ar", "48000",
        "-af", f"afade=t=in:d={fade:.2f},afade=t=out:st={max(0.0, duration_s - fade):.2f}:d={fade:.2f}",
        *args, "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"ffmpeg clip failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout
