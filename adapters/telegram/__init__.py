"""Telegram adapter (python-telegram-bot 22): hum a voice note, get the song.

Modules: :mod:`.adapter` (lifecycle), :mod:`.routing` (handlers, per-user gate, error handler),
:mod:`.user` (/start, /help, searches, buttons), :mod:`.admin` (/add, /remove, /songs, /stats),
:mod:`.media` (recordings in messages, downloads), :mod:`.keyboards`, :mod:`.webhook`.
"""

from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
