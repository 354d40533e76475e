"""Discord's languages: command metadata localised through the tree translator, for both Chineses."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from adapters.discord.i18n import CatalogueTranslator, text


@pytest.mark.parametrize(("locale", "expected"), [
    (discord.Locale.chinese, "识别这首歌"),  # zh-CN
    (discord.Locale.taiwan_chinese, "辨識這首歌"),  # zh-TW
    (discord.Locale.american_english, None),  # English: Discord shows the default text
    (discord.Locale.german, None),  # no translation: the default (English) text too
])
async def test_translator_localises_command_metadata(locale: discord.Locale, expected: str | None) -> None:
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.other, None)
    translated = await CatalogueTranslator().translate(text("discord_menu_find", "Find this song"), locale, context)
    assert translated == expected


async def test_strings_without_a_key_are_left_to_discord() -> None:
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.other, None)
    plain = app_commands.locale_str("hum")
    assert await CatalogueTranslator().translate(plain, discord.Locale.taiwan_chinese, context) is None
