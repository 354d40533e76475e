"""Picking the reply language from what the platform says about the user."""

from __future__ import annotations

from core.i18n import DEFAULT_LANG, normalize_lang


def pick_lang(code: str | None, default: str = DEFAULT_LANG) -> str:
    """The catalogue language (``"en"``, ``"zh_CN"``, ``"zh_TW"``) for a platform language code
    (Telegram ``language_code``, a Discord locale such as ``"zh-TW"``); ``default``
    (``config.language``) when the platform tells none. Both go through the one rule,
    :func:`core.i18n.normalize_lang`: a language without a translation is English."""
    return normalize_lang(code or default)
