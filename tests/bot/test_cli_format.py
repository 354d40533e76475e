"""``humbot search``'s text: the chat reply's words (adapters.common.formatting), laid out for a terminal."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from adapters.common.formatting import format_response as reply_text
from bot.cli import format_response
from core.types import SearchResponse, SearchResult, Song


def _song(n: int, artist: str | None = "Artist") -> Song:
    return Song(f"{n:012x}", f"Song {n}", artist, 200.0 + n, f"s{n}.mp3", f"{n:064x}", ".mp3", None,
                datetime(2024, 1, 1, tzinfo=UTC))


def _response(confidences: list[float], *, match: bool, truncated: bool = False,
              reason: str | None = None) -> SearchResponse:
    results = [SearchResult(_song(i, None if i == 2 else "Artist"), 0.9 - i / 10, c, 83.4)
               for i, c in enumerate(confidences, 1)]
    return SearchResponse("q" * 12, results, match, 40.0, truncated, None, reason=reason)


def test_a_match_prints_the_chat_lines_with_song_ids_and_the_clip() -> None:
    text = format_response("q.ogg", _response([0.87, 0.05], match=True), Path("clips/q.ogg"))
    assert text.splitlines() == [
        "q.ogg: Best matches:",
        "  1. Song 1 — Artist · 87 % · at 1:23  [000000000001]",
        "  2. Song 2 · 5 % · at 1:23  [000000000002]",
        "  clip: clips/q.ogg",
    ]


def test_the_words_are_the_chat_replys_so_the_two_cannot_drift() -> None:
    for response in (_response([0.2, 0.1], match=False, truncated=True),
                     _response([0.3], match=False, reason="one_note"),
                     _response([], match=False)):
        chat = reply_text(response, "en", max_query_seconds=30)
        cli = format_response("q.ogg", response, None, max_query_seconds=30)
        without_ids = [re.sub(r"  \[[0-9a-f]+\]$", "", line.strip()) for line in cli.splitlines()]
        assert without_ids == [("q.ogg: " if i == 0 else "") + line for i, line in enumerate(chat.splitlines())]
        cli_ids = [line.rsplit("  [", 1)[1] for line in cli.splitlines() if line.endswith("]")]
        assert cli_ids == [f"{r.song.song_id}]" for r in response.results]


def test_a_cut_query_names_the_limit_not_the_query_length() -> None:
    text = format_response("long.ogg", _response([0.2], match=False, truncated=True), None, max_query_seconds=30)
    assert text.splitlines()[-1] == "  Only the first 30 seconds were used."
    assert "40" not in text


def test_an_empty_catalog_says_so() -> None:
    assert format_response("q.ogg", _response([], match=False), None) == (
        "q.ogg: The catalog is empty — an admin has to add songs first.")
