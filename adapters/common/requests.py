"""Checks and parsing of what users send, before any heavy work.

* :func:`precheck` refuses an upload from what the platform *announces* (size, duration), so a
  50 MB file is never downloaded and a 1-second note never decoded.
* :func:`parse_title_artist` reads the ``Title - Artist`` argument of an admin's add command.
"""

from __future__ import annotations

import re

from core.audio import AUDIO_SUFFIXES
from core.errors import TooShort
from core.service import HumService

__all__ = ["AUDIO_SUFFIXES", "parse_title_artist", "precheck"]

# "Title - Artist": a dash with spaces around it (hyphenated words such as "Ob-La-Di" stay whole).
_SEPARATOR = re.compile(r"\s+[-–—]\s+")


def precheck(service: HumService, *, size_bytes: int | None, duration_s: float | None) -> None:
    """Raise :class:`core.errors.TooLarge` / :class:`core.errors.TooShort` from announced metadata.

    Unknown values (``None``) pass: the service checks the real bytes and samples again anyway.
    A too-long recording is not refused — the service uses its first ``max_query_seconds`` and
    flags the response ``truncated`` so the reply can say so.
    """
    service.check_upload_size(size_bytes)
    min_s = service.limits.min_query_seconds
    # Platforms round durations to whole seconds: only refuse what is short beyond doubt.
    if duration_s is not None and 0 < duration_s < min_s - 0.5:
        raise TooShort(seconds=duration_s, min_seconds=min_s)


def parse_title_artist(text: str | None) -> tuple[str | None, str | None]:
    """``"Title - Artist"`` → ``("Title", "Artist")``; ``"Title"`` → ``("Title", None)``; blank → ``(None, None)``.

    Splits at the *last* spaced dash, since titles ("Song - Live Version - Band") are likelier
    than artists to contain one.
    """
    text = " ".join((text or "").split())
    if not text:
        return None, None
    parts = _SEPARATOR.split(text)
    if len(parts) == 1:
        return text, None
    title = " - ".join(p for p in parts[:-1] if p).strip() or None
    artist = parts[-1].strip() or None
    return title, artist
