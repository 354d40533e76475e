"""Sending replies, and turning failures into friendly ones.

An interaction is answered once (``response``); everything after that is a follow-up. These
helpers pick the right one, so a handler can fail at any point and the user still gets a message.
"""

from __future__ import annotations

import io
import logging
import math

import discord
from discord import app_commands

from adapters.common.errors import error_text as common_error_text
from adapters.discord import texts
from core.errors import NotAudio
from core.types import Clip

log = logging.getLogger(__name__)


class NotAdmin(app_commands.CheckFailure):
    """Raised by the admin check; answered with the "only admins" message."""


class AttachmentUnavailable(Exception):
    """The attachment could not be fetched from Discord's CDN (deleted, expired link)."""


class NoAudioInMessage(NotAudio):
    """A "Find this song" on a message without a recording: a user's input error, in Discord's
    words (its text is in Discord's catalogue, not core's)."""

    key = "discord_no_audio"

    def user_message(self, lang: str | None = "en") -> str:
        return texts.t(self.key, lang, **self.params)


def error_text(error: BaseException, lang: str) -> str:
    """What to tell the user about ``error`` (Discord's own failures first, then the shared mapping,
    which logs unexpected errors with their traceback)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.CommandOnCooldown):
        return texts.t("rate_limited", lang, seconds=math.ceil(error.retry_after))
    if isinstance(error, NotAdmin):
        return texts.t("not_admin", lang)
    if isinstance(error, AttachmentUnavailable):
        log.info("attachment download failed: %s", error.__cause__)
        return texts.t("discord_download_failed", lang)
    return common_error_text(error, lang, logger=log, what="discord interaction")


async def send(interaction: discord.Interaction, content: str, *, ephemeral: bool = False) -> None:
    """Answer the interaction with a text, or follow up when it was already answered (e.g. deferred)."""
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(content, ephemeral=ephemeral)


async def reply_error(interaction: discord.Interaction, error: BaseException, lang: str) -> None:
    text = error_text(error, lang)
    try:
        await send(interaction, text, ephemeral=True)
    except discord.HTTPException:
        # The interaction token expired (15 min) or Discord is down: nothing left to tell anyone.
        log.warning("could not deliver an error reply to interaction %s", interaction.id, exc_info=True)


async def download(att: discord.Attachment) -> bytes:
    """The attachment's bytes; a CDN refusal becomes :class:`AttachmentUnavailable`."""
    try:
        return await att.read()
    except (discord.NotFound, discord.Forbidden) as e:
        raise AttachmentUnavailable(att.filename) from e


def clip_file(clip: Clip | None, size_limit: int) -> discord.File | None:
    """The clip as an upload, or None when it would exceed what this channel accepts."""
    if clip is None:
        return None
    if len(clip.data) > size_limit:
        log.warning(
            "clip %r is %d bytes, over this channel's %d-byte upload limit: not attached",
            clip.filename,
            len(clip.data),
            size_limit,
        )
        return None
    return discord.File(io.BytesIO(clip.data), filename=clip.filename)
