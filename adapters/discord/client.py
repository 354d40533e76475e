"""The discord.py client: one command tree, the dynamic buttons, and sync to test guilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import discord
from discord import app_commands

from adapters.discord.commands import build_commands
from adapters.discord.context import BotContext
from adapters.discord.i18n import CatalogueTranslator
from adapters.discord.replies import reply_error
from adapters.discord.views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Slash commands and message menus need no privileged intent (the menu's target message,
    content and attachments included, arrives inside the interaction). ``guilds`` keeps guild
    and role data cached."""
    return discord.Intents(guilds=True)


class HumTree(app_commands.CommandTree["HumClient"]):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await self.client.ctx.accepting(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Failed checks (cooldown, not an admin) and anything a handler let through."""
        await reply_error(interaction, error, self.client.ctx.lang(interaction))


class HumClient(discord.Client):
    def __init__(self, ctx: BotContext, *, sync_guilds: Sequence[int] = ()) -> None:
        # Replies echo titles and artists typed by admins: "@everyone" or "<@123>" in one must
        # never ping anyone. Set once here, it covers every send, follow-up and edit.
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.ctx = ctx
        self.sync_guilds = list(sync_guilds)
        self.connected = asyncio.Event()
        self.tree = HumTree(self)
        for command in build_commands(ctx):
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        """Runs inside ``login()``, before the gateway connects."""
        await self.tree.set_translator(CatalogueTranslator())
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for guild_id in self.sync_guilds:
            await sync_to_guild(self.tree, guild_id)

    async def on_connect(self) -> None:
        self.connected.set()

    async def on_ready(self) -> None:
        log.info(
            "discord: logged in as %s (%s), in %d guilds", self.user, self.application_id, len(self.guilds)
        )


async def sync_to_guild(tree: app_commands.CommandTree, guild_id: int) -> None:
    """Register the commands in one guild (instant, unlike global commands). A guild the bot
    cannot sync to is logged, not fatal: the other guilds and the bot keep working."""
    guild = discord.Object(id=guild_id)
    tree.copy_global_to(guild=guild)
    try:
        synced = await tree.sync(guild=guild)
    except discord.HTTPException as e:
        log.error(
            "discord: could not sync commands to guild %s (is the bot in it, with the "
            "applications.commands scope?): %s",
            guild_id,
            e,
        )
        return
    log.info("discord: synced %d commands to guild %s", len(synced), guild_id)
