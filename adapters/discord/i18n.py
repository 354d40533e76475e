"""Languages on Discord: the reply language of an interaction, and localised command metadata.

Replies follow the user's client language (``interaction.locale``); command names and
descriptions are localised when commands are synced, through a tree :class:`CatalogueTranslator`
that reads Discord's message catalogue (:mod:`adapters.discord.texts`) like every other text.
"""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.common.i18n import pick_lang
from adapters.discord import texts
from core.i18n import DEFAULT_LANG, normalize_lang


def reply_lang(interaction: discord.Interaction, default_lang: str) -> str:
    """The user's client language (Discord always sends one), by the shared rule."""
    return pick_lang(interaction.locale.value if interaction.locale else None, default_lang)


def text(key: str, english: str) -> app_commands.locale_str:
    """A command-metadata string: shown as ``english`` and translated by its catalogue ``key``."""
    return app_commands.locale_str(english, key=key)


class CatalogueTranslator(app_commands.Translator):
    """Translates ``locale_str`` values that carry a catalogue ``key`` (see :func:`text`), for
    every Discord locale the catalogues cover (``zh-CN`` and ``zh-TW``)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = string.extras.get("key")
        lang = normalize_lang(locale.value)
        if key is None or lang == DEFAULT_LANG:
            return None  # Discord shows the default (English) text, also for untranslated locales
        return texts.t(key, lang)
