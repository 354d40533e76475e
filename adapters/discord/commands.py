"""The app commands: ``/hum``, "Find this song" (message menu), ``/help`` and the admin set.

Commands are built per client by :func:`build_commands` — closures over one
:class:`~adapters.discord.context.BotContext`, so two clients (a test and a ``sync`` run) never
share state. Every search answers within Discord's 3 s by deferring, then follows up with the
results embed, the top clip and buttons.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.utils import MISSING

from adapters.common.formatting import added_text, visible
from adapters.discord import texts, views
from adapters.discord.audio_input import pick_audio, precheck
from adapters.discord.context import BotContext
from adapters.discord.i18n import text
from adapters.discord.replies import NoAudioInMessage, clip_file, download, send
from core.types import Upload

log = logging.getLogger(__name__)
Command = app_commands.Command[Any, ..., Any] | app_commands.ContextMenu


async def search_attachment(
    ctx: BotContext, interaction: discord.Interaction, att: discord.Attachment
) -> None:
    """Vet, take a place (:mod:`adapters.common.admission`), defer, download, search, answer."""
    precheck(att, ctx.service)
    # A place before the download (refused → "busy", answered by ctx.handling), given back once answered.
    with ctx.admission.enter(interaction.user.id):
        await _search_and_answer(ctx, interaction, att)


async def _search_and_answer(
    ctx: BotContext, interaction: discord.Interaction, att: discord.Attachment
) -> None:
    lang = ctx.lang(interaction)
    await interaction.response.defer(thinking=True)
    data = await download(att)
    # The clip is cut apart from the search: if it fails (busy, encoder), the answer still goes out.
    response = await ctx.service.search(data, filename=att.filename, source="discord", with_clip=False)
    embed = views.results_embed(response, lang, max_query_seconds=ctx.service.limits.max_query_seconds)
    view = views.results_view(response, lang)
    clip = None
    if response.results and response.heard_tune:
        top = response.results[0]
        try:
            clip = await ctx.service.clip(top.song.song_id, top.offset_s)
        except Exception:  # noqa: BLE001 - the results matter more than the clip
            log.exception("clip of %s failed; answering without it", top.song.song_id)
    file = clip_file(clip, interaction.filesize_limit)
    # discord.py reads an absent part as MISSING, not None (None would be sent as a part).
    await interaction.followup.send(
        embed=embed, view=MISSING if view is None else view, file=MISSING if file is None else file
    )


def build_commands(ctx: BotContext) -> list[Command]:
    limits = ctx.service.limits

    def _admin(interaction: discord.Interaction) -> bool:
        ctx.require_admin(interaction)  # raises NotAdmin, answered by the tree's error handler
        return True

    admin_only = app_commands.check(_admin)
    # Only a UI hint (server admins can change it); the real gate is ``admin_only``.
    admin_hint = app_commands.default_permissions(manage_guild=True)

    # -- users ------------------------------------------------------------------------------
    @app_commands.command(
        name="hum", description=text("discord_cmd_hum", "Find a song from a hummed, sung or played recording")
    )
    @app_commands.describe(
        recording=text(
            "discord_opt_recording", "A voice message or audio file (10–20 s of the tune works best)"
        )
    )
    async def hum(interaction: discord.Interaction, recording: discord.Attachment) -> None:
        async with ctx.handling(interaction):
            # The one per-user limiter (adapters.common.ratelimit) that ▶ buttons and Telegram use
            # too, not app_commands' cooldown: that one counts admins, cannot see buttons, and
            # would be a second bucket with its own rounding of the wait.
            if await ctx.throttled(interaction):
                return
            await search_attachment(ctx, interaction, recording)

    @app_commands.context_menu(name=text("discord_menu_find", "Find this song"))
    async def find_this_song(interaction: discord.Interaction, message: discord.Message) -> None:
        async with ctx.handling(interaction):
            if await ctx.throttled(interaction):  # the same limiter as /hum's
                return
            att = pick_audio(message)
            if att is None:
                raise NoAudioInMessage()
            await search_attachment(ctx, interaction, att)

    @app_commands.command(name="help", description=text("discord_cmd_help", "How to use humbot"))
    async def help_(interaction: discord.Interaction) -> None:
        async with ctx.handling(interaction):
            lang = ctx.lang(interaction)
            await send(
                interaction,
                texts.t(
                    "discord_help",
                    lang,
                    min_seconds=limits.min_query_seconds,
                    max_seconds=limits.max_query_seconds,
                ),
                ephemeral=True,
            )

    # -- admins -----------------------------------------------------------------------------
    @app_commands.command(
        name="addsong", description=text("discord_cmd_addsong", "Admin: add a song to the catalog")
    )
    @app_commands.describe(
        file=text("discord_opt_file", "The song's audio file"),
        title=text("discord_opt_title", "Song title"),
        artist=text("discord_opt_artist", "Artist"),
    )
    @admin_hint
    @admin_only
    async def addsong(
        interaction: discord.Interaction,
        file: discord.Attachment,
        title: app_commands.Range[str, 1, 200],
        artist: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        async with ctx.handling(interaction):
            precheck(file, ctx.service, query=False)
            # Admins may add many songs at once (no per-user limit), but each file counts in all.
            with ctx.admission.enter(None):
                await interaction.response.defer(thinking=True, ephemeral=True)
                data = await download(file)
                upload = Upload(
                    filename=file.filename,
                    title=title,
                    artist=artist,
                    added_by=f"discord:{interaction.user.id}",
                )
                result = await ctx.service.add_song(data, **upload)
                lang = ctx.lang(interaction)
                name = visible(result.song.title)  # an old catalog's title may hold bidi controls
                if not result.created and result.duplicate_of is not None:  # the same recording: ask
                    held = await ctx.service.hold_upload(data, **upload)
                    await interaction.followup.send(
                        texts.t("song_duplicate", lang, title=name, song_id=result.song.song_id),
                        view=views.keep_version_view(held, lang),
                        ephemeral=True,
                    )
                    return
                await interaction.followup.send(added_text(result, lang), ephemeral=True)

    @app_commands.command(
        name="removesong", description=text("discord_cmd_removesong", "Admin: remove a song from the catalog")
    )
    @app_commands.rename(song_id="id")
    @app_commands.describe(song_id=text("discord_opt_song_id", "The song's id (see /songs)"))
    @admin_hint
    @admin_only
    async def removesong(interaction: discord.Interaction, song_id: app_commands.Range[str, 1, 64]) -> None:
        async with ctx.handling(interaction):
            await interaction.response.defer(thinking=True, ephemeral=True)
            song = await ctx.service.remove_song(song_id.strip())
            text_ = texts.t("song_removed", ctx.lang(interaction), song_id=song.song_id)
            await interaction.followup.send(text_, ephemeral=True)

    @app_commands.command(name="songs", description=text("discord_cmd_songs", "Admin: list the catalog"))
    @app_commands.describe(page=text("discord_opt_page", "Page number"))
    @admin_hint
    @admin_only
    async def songs(interaction: discord.Interaction, page: app_commands.Range[int, 1, 100000] = 1) -> None:
        async with ctx.handling(interaction):
            await interaction.response.defer(thinking=True, ephemeral=True)
            embed, view = await views.songs_page(ctx, page - 1, ctx.lang(interaction))
            await interaction.followup.send(
                embed=embed, ephemeral=True, view=MISSING if view is None else view
            )

    @app_commands.command(
        name="stats", description=text("discord_cmd_stats", "Admin: catalog size, queries served, hit rate")
    )
    @admin_hint
    @admin_only
    async def stats(interaction: discord.Interaction) -> None:
        async with ctx.handling(interaction):
            await interaction.response.defer(thinking=True, ephemeral=True)
            embed = views.stats_embed(await ctx.service.stats(), ctx.lang(interaction))
            await interaction.followup.send(embed=embed, ephemeral=True)

    return [hum, find_this_song, help_, addsong, removesong, songs, stats]
