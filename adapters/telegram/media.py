"""The recording in a Telegram message: what it is, what Telegram announces about it, its bytes.

Telegram tells ``file_size`` and (for voice, audio, video notes) ``duration`` before anything is
downloaded; the adapter refuses from those first (:func:`adapters.common.precheck`), so a 50 MB
file is never fetched — the Bot API would refuse anything over 20 MB anyway.
"""

from __future__ import annotations

import datetime as dtm
import mimetypes
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from telegram import Audio, Bot, Message, Video, VideoNote, Voice
from telegram.error import BadRequest
from telegram.warnings import PTBDeprecationWarning

from adapters.common.requests import AUDIO_SUFFIXES
from core.errors import TooLarge

# What a file of each MIME type should be called, so ffmpeg (and the catalog) see a sensible suffix.
_SUFFIX_BY_MIME = {
    "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a", "audio/m4a": ".m4a", "audio/aac": ".aac", "audio/flac": ".flac", "audio/x-flac": ".flac",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/webm": ".webm", "video/mp4": ".mp4",
    "video/webm": ".webm", "video/quicktime": ".mov",
}  # fmt: skip


@dataclass(frozen=True)
class Attachment:
    """A recording found in a message, described by what Telegram announces."""

    kind: str  # voice | audio | video_note | video | document
    file_id: str
    file_size: int | None
    duration_s: float | None
    filename: str  # with a suffix the decoder and the catalog can use
    title: str | None = None  # ID3-style tags Telegram reads from audio files
    performer: str | None = None


def _seconds(value: int | dtm.timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _duration(media: object) -> float | None:
    # PTB 22.2+ warns that ``duration`` will become a timedelta; accept either, warn about neither.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return _seconds(getattr(media, "duration", None))


def _filename(name: str | None, mime: str | None, default_stem: str, default_suffix: str) -> str:
    if name and PurePath(name).suffix:
        return PurePath(name).name
    suffix = (
        _SUFFIX_BY_MIME.get((mime or "").lower()) or mimetypes.guess_extension(mime or "") or default_suffix
    )
    return f"{PurePath(name).stem if name else default_stem}{suffix}"


def is_audio_document(mime: str | None, name: str | None) -> bool:
    if mime and mime.lower().startswith("audio/"):
        return True
    return PurePath(name or "").suffix.lower() in AUDIO_SUFFIXES


def _timed(
    kind: str,
    media: Voice | Audio | VideoNote | Video,
    filename: str,
    title: str | None = None,
    performer: str | None = None,
) -> Attachment:
    """An attachment whose duration Telegram announces."""
    return Attachment(kind, media.file_id, media.file_size, _duration(media), filename, title, performer)


def find_attachment(message: Message | None) -> Attachment | None:
    """The recording in ``message`` (voice, audio, video note, video, audio document), if any."""
    if message is None:
        return None
    if v := message.voice:
        return _timed("voice", v, _filename(None, v.mime_type, "voice", ".ogg"))
    if a := message.audio:
        return _timed("audio", a, _filename(a.file_name, a.mime_type, "audio", ".mp3"), a.title, a.performer)
    if n := message.video_note:
        return _timed("video_note", n, "video_note.mp4")
    if vid := message.video:
        return _timed("video", vid, _filename(vid.file_name, vid.mime_type, "video", ".mp4"))
    if (d := message.document) and is_audio_document(d.mime_type, d.file_name):
        return Attachment(
            "document", d.file_id, d.file_size, None, _filename(d.file_name, d.mime_type, "audio", ".bin")
        )
    return None


async def download(bot: Bot, attachment: Attachment, *, limit_mb: float) -> bytes:
    """The attachment's bytes (``getFile``, then a GET of the file path).

    A file whose size Telegram did not announce can still turn out too big for the Bot API
    ("File is too big"): that becomes :class:`core.errors.TooLarge` like an announced one.
    """
    try:
        file = await bot.get_file(attachment.file_id)
    except BadRequest as e:
        if "too big" in e.message.lower():
            if attachment.file_size:
                raise TooLarge(size_mb=attachment.file_size / 1024 / 1024, limit_mb=limit_mb) from e
            raise TooLarge(
                "audio_too_large_unknown", limit_mb=limit_mb
            ) from e  # its size was never announced
        raise
    return bytes(await file.download_as_bytearray())
