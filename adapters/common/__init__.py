"""What every chat adapter shares, with nothing platform-specific in it.

* :mod:`~adapters.common.formatting` — result lists (``1. Title — Artist · 87 % · at 1:23``), the
  honest "no confident match" with tips, offsets, the admin song list and ``/stats``.
* :mod:`~adapters.common.ratelimit` — the per-user request limit (``limits.user_requests_per_minute``).
* :mod:`~adapters.common.admission` — requests in flight (``limits.max_in_flight``, per user too),
  checked before anything is downloaded.
* :mod:`~adapters.common.requests` — checks before downloading (size, duration) and ``Title - Artist``.
* :mod:`~adapters.common.actions` — button payloads that survive restarts (play, not it, pages,
  keep a duplicate as a version).
* :mod:`~adapters.common.errors` — any exception → user text (tracebacks to the log only).
* :mod:`~adapters.common.i18n` — the reply language from a platform language code.
* :mod:`~adapters.common.texts` — the texts every platform shows (gettext catalogues in
  ``locales/``, English, Simplified and Traditional Chinese), falling back to :mod:`core.messages`.
"""

from adapters.common.actions import KeepVersion, NotIt, Play, SongsPage
from adapters.common.errors import error_text
from adapters.common.formatting import (
    SONGS_PAGE_SIZE,
    clamp_page,
    format_offset,
    format_response,
    format_songs_page,
    format_stats,
    page_count,
    result_line,
    song_name,
    version_text,
    versions_note,
)
from adapters.common.i18n import pick_lang
from adapters.common.ratelimit import RateDecision, UserRateLimiter
from adapters.common.requests import parse_title_artist, precheck

__all__ = [
    "SONGS_PAGE_SIZE",
    "KeepVersion",
    "NotIt",
    "Play",
    "RateDecision",
    "SongsPage",
    "UserRateLimiter",
    "clamp_page",
    "error_text",
    "format_offset",
    "format_response",
    "format_songs_page",
    "format_stats",
    "page_count",
    "parse_title_artist",
    "pick_lang",
    "precheck",
    "result_line",
    "song_name",
    "version_text",
    "versions_note",
]
