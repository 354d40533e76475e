"""Choosing and vetting the audio a user points us at, *before* anything is downloaded.

Discord tells us an attachment's size, content type and — for voice messages — its duration.
Checking those first answers bad input in milliseconds and never fetches a file we would refuse.
"""

from __future__ import annotations

from pathlib import Path

import discord

from adapters.common.requests import AUDIO_SUFFIXES
from adapters.common.requests import precheck as common_precheck
from core.errors import NotAudio
from core.service import HumService

#: Content types that may hold audio (Discord guesses them from the file name).
_MEDIA_TYPES = ("audio/", "video/", "application/ogg")
#: Content types that say nothing either way; the decoder decides.
_UNKNOWN_TYPES = ("application/octet-stream", "binary/octet-stream")


def looks_like_audio(att: discord.Attachment) -> bool:
    """A voice message, or an attachment whose type or extension says audio/video."""
    if att.is_voice_message():
        return True
    ctype = (att.content_type or "").lower()
    return ctype.startswith(_MEDIA_TYPES) or Path(att.filename).suffix.lower() in AUDIO_SUFFIXES


def pick_audio(message: discord.Message) -> discord.Attachment | None:
    """The recording in a message: its voice message, else its first audio/video attachment."""
    if message.flags.voice and message.attachments:
        return message.attachments[0]
    voice = next((a for a in message.attachments if a.is_voice_message()), None)
    return voice or next((a for a in message.attachments if looks_like_audio(a)), None)


def precheck(att: discord.Attachment, service: HumService, *, query: bool = True) -> None:
    """Refuse what can be refused from metadata alone (raises a :class:`core.errors.HumbotError`).

    - a type that is clearly not media (an image, a PDF) → NotAudio;
    - over the service's upload limit → TooLarge; for a query (not an admin's song), a voice
      message whose announced duration is too short → TooShort (the shared rules of
      :func:`adapters.common.requests.precheck`).
    """
    ctype = (att.content_type or "").split(";")[0].strip().lower()
    if (
        ctype
        and not ctype.startswith(_MEDIA_TYPES)
        and ctype not in _UNKNOWN_TYPES
        and Path(att.filename).suffix.lower() not in AUDIO_SUFFIXES
    ):
        raise NotAudio()
    if query:
        common_precheck(service, size_bytes=att.size, duration_s=att.duration)
    else:
        service.check_upload_size(att.size)
