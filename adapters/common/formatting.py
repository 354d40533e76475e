"""Plain-text renderings of service results, shared by every chat adapter.

Everything returns plain text in the user's language (texts from :mod:`core.messages`
and, for what only chat platforms show, :mod:`adapters.common.texts`). Adapters
that render markup (Discord markdown, Telegram HTML) pass ``escape`` so titles and artists typed
by admins cannot inject formatting; the Telegram adapter sends plain text and needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from adapters.common import texts
from core import messages
from core.service import ServiceStats
from core.text import clean_label, clock
from core.types import AddResult, SearchResponse, SearchResult, Song

Escape = Callable[[str], str]

#: Titles and artists longer than this are shortened in lists (a result list must stay readable
#: and fit one message: Telegram allows 4096 characters, a Discord embed description 4096).
MAX_NAME_CHARS = 80
#: Songs per page of the admin song list.
SONGS_PAGE_SIZE = 10


def _same(text: str) -> str:
    return text


def visible(text: str) -> str:
    """``text`` without control and invisible format characters (bidi overrides such as U+202E
    would reverse how the rest of a reply reads), as one line.

    The core cleans titles as they are stored; this guards replies against catalogs stored before.
    """
    return clean_label(text, limit=len(text) + 1) or ""


def shorten(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut (and only visible characters)."""
    return clean_label(text, limit) or ""


def format_offset(seconds: float) -> str:
    """A position in a song: ``83.4`` → ``"1:23"``, ``3725`` → ``"1:02:05"``."""
    return clock(max(0.0, seconds))


def song_name(song: Song, *, escape: Escape = _same) -> str:
    """``Title — Artist`` (or just ``Title``), shortened and escaped."""
    title = escape(shorten(song.title))
    return f"{title} — {escape(shorten(song.artist))}" if song.artist else title


def versions_note(result: SearchResult, lang: str) -> str:
    """`` (+1 version)`` when the search also found other versions of the result's recording, else ``""``."""
    n = len(result.versions)
    if n == 0:
        return ""
    if n == 1:
        return messages.t("result_versions_one", lang)
    return messages.t("result_versions_many", lang, count=n)


def result_line(
    rank: int, result: SearchResult, lang: str, *, escape: Escape = _same, song_ids: bool = False
) -> str:
    """``1. Title — Artist · 87 % · at 1:23`` (`` (+1 version)`` for a recording kept in versions;
    ``song_ids``: then ``  [song id]``, for the CLI, whose users remove songs by id)."""
    song = result.song
    artist = f" — {escape(shorten(song.artist))}" if song.artist else ""
    tail = versions_note(result, lang) + (f"  [{song.song_id}]" if song_ids else "")
    return (
        messages.t(
            "results_line",
            lang,
            rank=rank,
            title=escape(shorten(song.title)),
            artist=artist,
            confidence=100.0 * result.confidence,
            offset=format_offset(result.offset_s),
        )
        + tail
    )


def format_response(
    response: SearchResponse,
    lang: str,
    *,
    max_query_seconds: float | None = None,
    escape: Escape = _same,
    max_chars: int = 4096,
    song_ids: bool = False,
) -> str:
    """The answer to a search, ready to send (and what ``humbot search`` prints, with ``song_ids``).

    - a confident match: "Best matches:" and the numbered list;
    - a query that carried no tune (``response.reason``: one note, speech, noise…): what was
      missing and what to try, then the closest candidates;
    - otherwise the honest "No confident match", the closest candidates and tips;
    - no results at all (empty catalog): says so;
    - a query longer than ``max_query_seconds`` (``response.truncated``): a note that only the
      first seconds were used.
    Result lines are dropped from the end (never the header, tips or note) to fit ``max_chars``.
    """
    head: list[str] = []
    tail: list[str] = []
    if response.reason in messages.REASON_KEYS:  # the query carried no tune: say what was missing
        head.append(messages.t(messages.REASON_KEYS[response.reason], lang))
        if response.results:
            head += ["", messages.t("closest_songs", lang)]
    elif not response.results:
        head.append(messages.t("catalog_empty", lang))
    elif response.match:
        head.append(messages.t("results_header", lang))
    else:
        head.append(messages.t("no_match", lang))
        tail += ["", messages.t("no_match_tips", lang)]
    if response.truncated and max_query_seconds:
        tail += ["", messages.t("audio_truncated", lang, seconds=max_query_seconds)]
    lines = [
        result_line(i, r, lang, escape=escape, song_ids=song_ids) for i, r in enumerate(response.results, 1)
    ]
    while True:
        text = "\n".join(head + lines + tail)
        if len(text) <= max_chars or not lines:
            return text[:max_chars]
        lines.pop()


def format_songs_page(
    songs: Sequence[Song], *, offset: int, total: int, lang: str, escape: Escape = _same
) -> str:
    """One page of the catalog for admins: ``id · Title — Artist · 3:25`` per song."""
    if total == 0 or not songs:
        return texts.t("songs_empty", lang)
    lines = [texts.t("songs_header", lang, first=offset + 1, last=offset + len(songs), total=total)]
    lines += [f"{s.song_id} · {song_name(s, escape=escape)} · {format_offset(s.duration_s)}" for s in songs]
    return "\n".join(lines)


def page_count(total: int, page_size: int = SONGS_PAGE_SIZE) -> int:
    """Pages needed for ``total`` items (at least one, so an empty list still has a page)."""
    return max(1, -(-total // page_size))


def clamp_page(page: int, total: int, page_size: int = SONGS_PAGE_SIZE) -> int:
    """``page`` kept within the pages that exist (the catalog may have shrunk since a button was sent)."""
    return min(max(0, page), page_count(total, page_size) - 1)


def format_stats(stats: ServiceStats, lang: str) -> str:
    """``/stats``: catalog size, queries served, confident matches, hit rate from feedback, index health."""
    rated = stats.feedback_correct + stats.feedback_wrong
    if stats.hit_rate is None:
        hit_rate = texts.t("stats_no_feedback", lang)
    else:
        hit_rate = texts.t(
            "stats_hit_rate",
            lang,
            percent=100.0 * stats.hit_rate,
            correct=stats.feedback_correct,
            rated=rated,
        )
    health = texts.t("stats_healthy" if stats.index.healthy else "stats_unhealthy", lang)
    lines = [
        texts.t(
            "stats",
            lang,
            songs=stats.songs,
            queries=stats.queries,
            matched=stats.matched,
            hit_rate=hit_rate,
            backend=stats.index.backend,
            health=health,
            embedders=", ".join(stats.embedders) or "-",
        )
    ]
    if stats.index.pending:
        lines.append(texts.t("stats_pending", lang, pending=stats.index.pending))
    lines += stats.notes
    return "\n".join(lines)


def truncation_text(result: AddResult, lang: str) -> str | None:
    """What an admin is told of a song longer than ``limits.max_song_seconds`` (else None)."""
    song = result.song
    if not (result.created and result.truncated):
        return None
    return messages.t(
        "song_truncated",
        lang,
        indexed=clock(song.start_s + (song.indexed_s or 0.0)),
        total=clock(song.duration_s),
    )


def added_text(result: AddResult, lang: str) -> str:
    """The answer to an admin's add: added, or already there; and how much of a long song was indexed."""
    song = result.song
    text = messages.t(
        "song_added" if result.created else "song_exists",
        lang,
        title=visible(song.title),
        song_id=song.song_id,
    )
    note = truncation_text(result, lang)
    return f"{text}\n{note}" if note else text


def version_text(result: AddResult, lang: str) -> str:
    """The answer to "Keep as a version": kept as a version of which song, or where it already is."""
    twin = result.duplicate_of
    if result.created and twin is not None:
        return messages.t(
            "song_version_added",
            lang,
            title=visible(twin.title),
            song_id=twin.song_id,
            new_title=visible(result.song.title),
            new_id=result.song.song_id,
        )
    if result.created:  # its twin was removed meanwhile: a song of its own
        return messages.t("song_added", lang, title=visible(result.song.title), song_id=result.song.song_id)
    return messages.t("song_exists", lang, title=visible(result.song.title), song_id=result.song.song_id)
