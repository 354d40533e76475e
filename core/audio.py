"""Decoding what users send into clean mono float32, and cutting clips back out.

All decoding goes through FFmpeg's libraries (in-process, by PyAV), so anything FFmpeg reads
works: Telegram OGG/Opus voice notes, MP3, M4A/AAC, FLAC, WAV, WebM and MP4 video notes.
Failures become typed :mod:`core.errors` with a message fit for a user; FFmpeg's own error goes
to the log.

Units: sample rates in Hz, durations and offsets in seconds, samples as float32 in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import io
import logging
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, cast

import av

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
#: File extensions taken as recordings, everywhere (the CLI's folder import, chat uploads): the
#: containers people send and FFmpeg decodes. A chat file without one is still tried when its
#: MIME type says audio.
AUDIO_SUFFIXES = frozenset(
    {
        ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".flac", ".wav", ".aif", ".aiff",
        ".wma", ".amr", ".3gp", ".webm", ".mp4", ".mov", ".mkv", ".mka",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Audio:
    """Decoded mono audio. ``samples``: shape (n,), float32, at ``sample_rate`` Hz.

    ``start_s`` is where ``samples[0]`` lies in the source (seconds; :func:`clean` trims a lead-in
    of silence), so a time ``t`` in ``samples`` is ``start_s + t`` in the file a user uploaded.
    ``source_s`` is the whole source's duration (seconds) when the container states it or the
    decode reached its end, else None.
    """

    samples: np.ndarray
    sample_rate: int
    truncated: bool = False  # the source was longer than the cap and was cut
    start_s: float = 0.0
    source_s: float | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def file_duration_s(self) -> float:
        """The source's whole duration (s): ``source_s``, else what the samples reach in it."""
        return self.source_s if self.source_s is not None else self.start_s + self.duration_s

    def resampled(self, sample_rate: int) -> Audio:
        if sample_rate == self.sample_rate:
            return self
        y = librosa.resample(self.samples, orig_sr=self.sample_rate, target_sr=sample_rate)
        return dataclasses.replace(self, samples=y.astype(np.float32, copy=False), sample_rate=sample_rate)


def check_size(size_bytes: int, max_mb: float) -> None:
    """Raise :class:`TooLarge` before anything is downloaded or decoded."""
    if size_bytes > max_mb * 1024 * 1024:
        raise TooLarge(size_mb=size_bytes / 1024 / 1024, limit_mb=max_mb)


def read_file(path: Path, *, max_mb: float) -> bytes:
    """The bytes of ``path``, refusing with :class:`TooLarge` before more than ``max_mb`` is read.

    A regular file's size is checked before anything is read; a device or a pipe (a link to
    ``/dev/zero``) states no size, so the read itself stops one byte past the limit.
    """
    info = path.stat()
    if stat.S_ISREG(info.st_mode):
        check_size(info.st_size, max_mb)
    limit = int(max_mb * 1024 * 1024)
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("audio_too_large_unknown", limit_mb=max_mb)
    return data


#: Leading bytes of the containers users send (OGG, MP3/ID3, FLAC, WAV, MP4/M4A, WebM/MKV).
_MEDIA_MAGIC = (b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"fLaC", b"RIFF", b"\x1aE\xdf\xa3")


def _looks_like_media(head: bytes) -> bool:
    return head.startswith(_MEDIA_MAGIC) or head[4:8] == b"ftyp"


def _decode(
    source: str | BinaryIO,
    *,
    name: str,
    head: bytes,
    sample_rate: int,
    max_seconds: float,
    start_s: float = 0.0,
) -> Audio:
    """The first audio stream of ``source`` from ``start_s`` as mono float32 at ``sample_rate``,
    at most ``max_seconds``.

    In-process through FFmpeg's own libraries (PyAV): starting the ``ffmpeg`` program costs
    ~85 ms here (it links 215 shared libraries), as much as decoding a voice note. Like the
    ``ffmpeg`` program, a damaged packet is skipped rather than ending the decode.
    """
    limit = int(round(max_seconds * sample_rate))
    chunks: list[np.ndarray] = []
    have = bad_packets = 0
    skip = None  # samples decoded before start_s (a seek lands on the key frame before it)
    stated_s = None  # the container's own duration, for a source cut at max_seconds
    try:
        with av.open(
            source, "r", metadata_errors="ignore"
        ) as container:  # "r": what av reads a path or buffer as
            if not container.streams.audio:
                raise NotAudio()  # a video or image without sound
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                stated_s = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                stated_s = container.duration / av.time_base
            if start_s > 0:
                # An audio stream's time base is set when the container is opened.
                container.seek(int(start_s / cast(Fraction, stream.time_base)), stream=stream, backward=True)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for packet in container.demux(stream):  # ends with an empty packet, which flushes the decoder
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    bad_packets += 1
                    continue
                for frame in frames:
                    if skip is None:
                        time_base = cast(Fraction, frame.time_base)  # a decoded frame's: its stream's
                        first_s = float(frame.pts * time_base) if frame.pts is not None else 0.0
                        skip = int(round(max(0.0, start_s - first_s) * sample_rate))
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray()[0])
                        have += out.samples
                if have > (skip or 0) + limit:
                    if stated_s is None and start_s == 0:
                        stated_s = _demuxed_end(container, stream)
                    break
            else:
                chunks += [out.to_ndarray()[0] for out in resampler.resample(None)]
    except av.error.FFmpegError as e:
        log.info("could not decode %s: %s", name, e)
        raise (CorruptAudio() if _looks_like_media(head) else NotAudio()) from e
    if bad_packets:
        log.info("%s: skipped %d damaged packets", name, bad_packets)
    y = (
        np.concatenate(chunks).astype(np.float32, copy=False)[skip or 0 :]
        if chunks
        else np.zeros(0, np.float32)
    )
    if y.size == 0:
        raise CorruptAudio() if _looks_like_media(head) else NotAudio()
    if not np.all(np.isfinite(y)):
        raise CorruptAudio()
    truncated = len(y) > limit
    decoded_s = len(y) / sample_rate + start_s
    source_s = max(stated_s or 0.0, decoded_s) if truncated else decoded_s
    return Audio(
        y[:limit],
        sample_rate,
        truncated=truncated,
        start_s=start_s,
        source_s=source_s if (not truncated or stated_s) else None,
    )


def _demuxed_end(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """The end time (s) of the last packet of ``stream``, read without decoding: the duration of
    a source that does not state one (a FLAC written to a pipe has no total in its header), so
    an admin can be told how much of a long song was left out. Demuxing a 48 MB FLAC (20 min):
    0.2 s here, once per import of a long song."""
    end = None
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end or 0.0, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end


def decode_file(path: Path, *, sample_rate: int, max_seconds: float, start_s: float = 0.0) -> Audio:
    """Decode ``path`` to mono float32 at ``sample_rate``, keeping at most ``max_seconds`` from
    ``start_s``.

    Raises :class:`EmptyAudio`, :class:`NotAudio` (not media, or no audio stream) or
    :class:`CorruptAudio`. Does not trim or normalise: see :func:`clean`.
    """
    if path.stat().st_size == 0:
        raise EmptyAudio()
    with path.open("rb") as f:
        head = f.read(12)
    return _decode(
        str(path),
        name=path.name,
        head=head,
        sample_rate=sample_rate,
        max_seconds=max_seconds,
        start_s=start_s,
    )


def decode_bytes(data: bytes, *, sample_rate: int, max_seconds: float, suffix: str = "") -> Audio:
    """:func:`decode_file` for bytes in memory (an upload, a voice note).

    A seekable buffer, not a pipe: MP4/M4A keep their index at the end. ``suffix`` names the
    upload in logs; the container is recognised from its content.
    """
    if not data:
        raise EmptyAudio()
    return _decode(
        io.BytesIO(data),
        name=f"upload{suffix}",
        head=data[:12],
        sample_rate=sample_rate,
        max_seconds=max_seconds,
    )


def clean(audio: Audio, *, min_seconds: float) -> Audio:
    """Trim leading/trailing silence, reject silence and too-short audio, normalise loudness.

    The result's ``start_s`` moves by the lead-in trimmed, so times measured in it map back to
    the source (a song with 6 s of silence first: its music starts at ``start_s`` = 6.0).
    """
    y = audio.samples
    if y.size == 0 or float(np.max(np.abs(y))) < SILENCE_RMS:
        raise SilentAudio()
    trimmed, (first, _) = librosa.effects.trim(y, top_db=TRIM_TOP_DB, frame_length=2048, hop_length=512)
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
    return dataclasses.replace(
        audio, samples=(trimmed * gain).astype(np.float32), start_s=audio.start_s + first / audio.sample_rate
    )


#: Clip formats: (PyAV container, encoder, bit rate), MIME type. Opus for chat voice players; MP3
#: where a platform's music player needs it (Telegram's sendAudio).
CLIP_CODECS = {
    "ogg": (("ogg", "libopus", 64_000), "audio/ogg"),
    "mp3": (("mp3", "libmp3lame", 128_000), "audio/mpeg"),
}
#: Rate clips are encoded at (Opus works at 48 kHz).
CLIP_RATE = 48000


def encode_clip(path: Path, *, start_s: float, duration_s: float, fmt: str = "ogg") -> bytes:
    """An excerpt of ``path`` from ``start_s`` lasting ``duration_s``, encoded as OGG/Opus or MP3.

    Short fades in and out so a clip does not start or end with a click. In-process (PyAV), like
    decoding: the ``ffmpeg`` program's start-up was half of a clip's ~180 ms.
    """
    (container_fmt, codec, bit_rate), _ = CLIP_CODECS[fmt]
    y = decode_file(
        path, sample_rate=CLIP_RATE, max_seconds=duration_s, start_s=max(0.0, start_s)
    ).samples.copy()  # a copy: the fades write into it
    fade = min(int(0.5 * CLIP_RATE), len(y) // 4)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        # An audio stream: ``codec`` is one of CLIP_CODECS' audio encoders.
        stream = cast("av.audio.stream.AudioStream", out.add_stream(codec, rate=CLIP_RATE, layout="mono"))
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(y[None, :], format="flt", layout="mono")
        frame.rate = CLIP_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()
