"""Picking the reply language from what the platform says about the user."""

from __future__ import annotations

from core import messages


def pick_lang(code: str | None, default: str = messages.DEFAULT_LANG) -> str:
    """The catalogue language for a platform language code (Telegram ``language_code``, a Discord
    locale such as ``"zh-CN"``); ``default`` (``config.language``) when the platform tells none.
    A language without a translation falls back to English, as :func:`core.messages.t` does."""
    return messages.normalize_lang(code) if code else messages.normalize_lang(default)
