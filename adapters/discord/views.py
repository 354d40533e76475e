"""Embeds and buttons.

Buttons carry their whole meaning in their custom id — the shared payloads of
:mod:`adapters.common.actions` (``p:<song>:<offset>``, ``n:<query>:<song>``, ``s:<page>``,
``k:<held upload>``) — and
are handled by one :class:`discord.ui.DynamicItem`, registered once per client. So a button
keeps working after a restart: nothing about it lives in memory.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.utils import MISSING, escape_markdown

from adapters.common import actions, formatting
from adapters.discord import texts
from adapters.discord.replies import clip_file, send
from core.service import ServiceStats
from core.types import SearchResponse

if TYPE_CHECKING:
    from adapters.discord.client import HumClient
    from adapters.discord.context import BotContext

#: Play buttons under a result (a message holds 25 components; one more is "Not it").
MAX_PLAY_BUTTONS = 9
COLOUR_MATCH = discord.Colour.green()
COLOUR_NO_MATCH = discord.Colour.light_grey()


def _ctx(interaction: discord.Interaction) -> BotContext:
    return cast("HumClient", interaction.client).ctx  # the only client that registers these items


def escape(text: str) -> str:
    """Titles and artists are typed by admins: shown literally, never as Discord markdown."""
    return escape_markdown(text, as_needed=True)


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"[pnsk]:[^ ]{1,62}"):
    """Any humbot button: play a clip, "not it", turn a page of the admin song list, or keep a
    duplicate upload as a version."""

    def __init__(
        self,
        action: actions.Action | None,
        *,
        custom_id: str | None = None,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        self.action = action
        custom_id = custom_id or actions.encode(action)  # type: ignore[arg-type]
        super().__init__(
            discord.ui.Button(label=label[:80] or None, style=style, disabled=disabled, custom_id=custom_id)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        # decode() is None for a payload this version does not know: answered "expired".
        return cls(actions.decode(match.string), custom_id=match.string)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await _ctx(interaction).accepting(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        ctx = _ctx(interaction)
        async with ctx.handling(interaction):
            lang = ctx.lang(interaction)
            action = self.action
            if isinstance(action, actions.Play):
                if not await ctx.throttled(interaction):
                    await _play(ctx, interaction, action, lang)
            elif isinstance(action, actions.NotIt):
                await ctx.service.feedback(
                    action.query_id, action.song_id, correct=False, user=f"discord:{interaction.user.id}"
                )
                await send(interaction, texts.t("feedback_thanks", lang), ephemeral=True)
            elif isinstance(action, actions.SongsPage):
                ctx.require_admin(interaction)  # checked on every press, not only on /songs
                embed, view = await songs_page(ctx, action.page, lang)
                await interaction.response.edit_message(embed=embed, view=view)
            elif isinstance(action, actions.KeepVersion):
                ctx.require_admin(interaction)
                await interaction.response.defer(thinking=True, ephemeral=True)  # embedding takes seconds
                result = await ctx.service.add_held(action.key)
                await interaction.followup.send(formatting.version_text(result, lang), ephemeral=True)
            else:
                await send(interaction, texts.t("button_expired", lang), ephemeral=True)


async def _play(ctx: BotContext, interaction: discord.Interaction, action: actions.Play, lang: str) -> None:
    """Post the clip of one result as a new message (Discord plays it inline)."""
    await interaction.response.defer(thinking=True)
    clip = await ctx.service.clip(action.song_id, action.offset_s)
    name = escape(formatting.shorten(clip.title))
    if clip.artist:
        name += f" — {escape(formatting.shorten(clip.artist))}"
    content = texts.t(
        "discord_clip",
        lang,
        name=name,
        start=formatting.format_offset(clip.start_s),
        end=formatting.format_offset(clip.start_s + clip.duration_s),
    )
    file = clip_file(clip, interaction.filesize_limit)
    await interaction.followup.send(
        content, file=MISSING if file is None else file
    )  # absent: MISSING, not None


DYNAMIC_ITEMS = (ActionButton,)


# -- search results ---------------------------------------------------------------------------
def results_embed(response: SearchResponse, lang: str, *, max_query_seconds: float) -> discord.Embed:
    """The numbered results (or the honest "no confident match" with the closest candidates)."""
    text = formatting.format_response(response, lang, max_query_seconds=max_query_seconds, escape=escape)
    return discord.Embed(description=text, colour=COLOUR_MATCH if response.match else COLOUR_NO_MATCH)


def results_view(response: SearchResponse, lang: str) -> discord.ui.View | None:
    """▶ buttons for the results after the first (whose clip is attached), then "Not it"."""
    if not response.results:
        return None
    view = discord.ui.View(timeout=None)
    for rank, result in enumerate(response.results[1 : MAX_PLAY_BUTTONS + 1], 2):
        label = f"{texts.t('play_button', lang, rank=rank)}. {formatting.shorten(result.song.title, 40)}"
        view.add_item(
            ActionButton(
                actions.Play(result.song.song_id, int(result.offset_s)),
                label=label,
                style=discord.ButtonStyle.primary,
            )
        )
    top = response.results[0]
    view.add_item(
        ActionButton(actions.NotIt(response.query_id, top.song.song_id), label=texts.t("not_it_button", lang))
    )
    return view


# -- admin ------------------------------------------------------------------------------------
def keep_version_view(key: str, lang: str) -> discord.ui.View:
    """ "Keep as a version" under an upload that was not added (the same recording as a catalog song)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        ActionButton(
            actions.KeepVersion(key),
            label=texts.t("keep_version_button", lang),
            style=discord.ButtonStyle.primary,
        )
    )
    return view


async def songs_page(ctx: BotContext, page: int, lang: str) -> tuple[discord.Embed, discord.ui.View | None]:
    """One page of the catalog, and ◀ ▶ buttons when there is more than one."""
    size = formatting.SONGS_PAGE_SIZE
    total = await ctx.service.count_songs()
    if total == 0:
        return discord.Embed(description=texts.t("discord_songs_empty", lang)), None
    page = formatting.clamp_page(page, total, size)
    songs = await ctx.service.list_songs(page * size, size)
    text = formatting.format_songs_page(songs, offset=page * size, total=total, lang=lang, escape=escape)
    embed = discord.Embed(description=text[:4096])
    pages = formatting.page_count(total, size)
    if pages == 1:
        return embed, None
    embed.set_footer(text=f"{page + 1}/{pages}")
    view = discord.ui.View(timeout=None)
    # Distinct custom ids: with two or more pages, page-1 (floored) and page+1 (capped) never meet.
    view.add_item(
        ActionButton(
            actions.SongsPage(max(0, page - 1)), label=texts.t("page_prev", lang), disabled=page == 0
        )
    )
    view.add_item(
        ActionButton(
            actions.SongsPage(min(pages - 1, page + 1)),
            label=texts.t("page_next", lang),
            disabled=page >= pages - 1,
        )
    )
    return embed, view


def stats_embed(stats: ServiceStats, lang: str) -> discord.Embed:
    return discord.Embed(description=formatting.format_stats(stats, lang)[:4096])
