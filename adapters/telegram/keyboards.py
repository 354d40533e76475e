"""Inline keyboards. Their ``callback_data`` is self-contained (:mod:`adapters.common.actions`),
so buttons keep working after a restart and across the bot's instances."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from adapters.common import actions
from adapters.common.formatting import SONGS_PAGE_SIZE, page_count
from adapters.telegram import texts
from core.types import SearchResponse

_ROW = 5  # play buttons per row (top_k is 5 by default: one row)


def _play(rank: int, song_id: str, offset_s: float, lang: str) -> InlineKeyboardButton:
    data = actions.encode(actions.Play(song_id, int(offset_s)))
    return InlineKeyboardButton(texts.t("play_button", lang, rank=rank), callback_data=data)


def results_keyboard(
    response: SearchResponse, lang: str, *, first_rank: int = 1, not_it: bool = False
) -> InlineKeyboardMarkup | None:
    """▶ buttons for results ``first_rank``… and, after a confident answer, "✗ Not it"."""
    buttons = [
        _play(i, r.song.song_id, r.offset_s, lang)
        for i, r in enumerate(response.results, 1)
        if i >= first_rank
    ]
    rows = [buttons[i : i + _ROW] for i in range(0, len(buttons), _ROW)]
    if not_it and response.best is not None:
        data = actions.encode(actions.NotIt(response.query_id, response.best.song.song_id))
        rows.append([InlineKeyboardButton(texts.t("not_it_button", lang), callback_data=data)])
    return InlineKeyboardMarkup(rows) if rows else None


def songs_keyboard(page: int, total: int, lang: str) -> InlineKeyboardMarkup | None:
    """◀ / ▶ between pages of the admin song list (none when everything fits one page)."""
    pages = page_count(total, SONGS_PAGE_SIZE)
    row = []
    if page > 0:
        row.append(
            InlineKeyboardButton(
                texts.t("page_prev", lang), callback_data=actions.encode(actions.SongsPage(page - 1))
            )
        )
    if page + 1 < pages:
        row.append(
            InlineKeyboardButton(
                texts.t("page_next", lang), callback_data=actions.encode(actions.SongsPage(page + 1))
            )
        )
    return InlineKeyboardMarkup([row]) if row else None


def keep_version_keyboard(key: str, lang: str) -> InlineKeyboardMarkup:
    """ "Keep as a version" under an upload that was not added (the same recording as a catalog song)."""
    data = actions.encode(actions.KeepVersion(key))
    button = InlineKeyboardButton(texts.t("keep_version_button", lang), callback_data=data)
    return InlineKeyboardMarkup([[button]])
