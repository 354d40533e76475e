"""Telegram adapter (python-telegram-bot 22): hum a voice note, get the song.

Modules: :mod:`.adapter` (lifecycle), :mod:`.routing` (handlers, per-user gate, error handler),
:mod:`.user` (/start, /help, searches, buttons), :mod:`.admin` (/add, /remove, /songs, /stats),
:mod:`.media` (recordings in messages, downloads), :mod:`.keyboards`, :mod:`.webhook`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``bot.config`` imports this package's ``config`` module, and every CLI
    # command reads the config, so importing the package must not load python-telegram-bot.
    if name == "TelegramAdapter":
        from adapters.telegram.adapter import TelegramAdapter

        return TelegramAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
