"""What every handler needs, passed in (never global): the service, the config, in-flight work.

The client holds one :class:`BotContext`; command callbacks close over it and button callbacks
reach it through ``interaction.client.ctx``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import discord

from adapters.common.admission import Admission
from adapters.common.ratelimit import UserRateLimiter
from adapters.discord import i18n, texts
from adapters.discord.config import DiscordConfig
from adapters.discord.replies import NotAdmin, reply_error, send
from core.service import HumService

log = logging.getLogger(__name__)


class InFlight:
    """Counts handlers at work so that shutdown can wait for them (searches are not cut off)."""

    def __init__(self) -> None:
        self.closing = False
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is in flight; False when ``timeout_s`` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            return False


@dataclass
class BotContext:
    service: HumService
    config: DiscordConfig
    default_lang: str = "en"
    work: InFlight = field(default_factory=InFlight)
    #: Searches and ▶ presses per user and minute, in one bucket: the shared limiter Telegram's
    #: recordings and buttons go through too.
    limiter: UserRateLimiter = field(init=False)
    #: Taken before an attachment is downloaded, given back once the request is answered.
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = UserRateLimiter.from_limits(self.service.limits)
        self.admission = Admission.from_limits(self.service.limits)

    def lang(self, interaction: discord.Interaction) -> str:
        return i18n.reply_lang(interaction, self.default_lang)

    def is_admin(self, interaction: discord.Interaction) -> bool:
        """Allowed to change the catalog: a listed user, or a member holding a listed role.

        Role ids come from the member object inside the interaction itself (``_roles``), so the
        check holds even when the guild is not in the cache. The catalog is shared by every
        server the bot is in, so a server's own admins are *not* trusted unless listed.
        """
        user = interaction.user
        if user.id in self.config.admin_user_ids:
            return True
        if not self.config.admin_role_ids or not isinstance(user, discord.Member):
            return False
        role_ids = set(getattr(user, "_roles", ())) or {r.id for r in user.roles}
        return bool(role_ids & set(self.config.admin_role_ids))

    def require_admin(self, interaction: discord.Interaction) -> None:
        if not self.is_admin(interaction):
            log.info("refused admin action by user %s", interaction.user.id)
            raise NotAdmin()

    async def throttled(self, interaction: discord.Interaction) -> bool:
        """True, and the user told (only they see it), when their searches and ▶ presses (each
        cuts and uploads a clip) exceed ``limits.user_requests_per_minute``. Admins are not limited."""
        if self.is_admin(interaction):
            return False
        decision = self.limiter.hit(interaction.user.id)
        if decision.allowed:
            return False
        log.info("rate-limited user %s (retry in %.0f s)", interaction.user.id, decision.retry_after_s)
        # Every press is answered (Discord shows "interaction failed" otherwise), and ephemeral
        # answers cannot flood the channel.
        text = texts.t("rate_limited", self.lang(interaction), seconds=max(1.0, decision.retry_after_s))
        await send(interaction, text, ephemeral=True)
        return True

    async def accepting(self, interaction: discord.Interaction) -> bool:
        """False (and the user told to retry) once shutdown has begun."""
        if not self.work.closing:
            return True
        try:
            await send(interaction, texts.t("discord_restarting", self.lang(interaction)), ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell interaction %s that we are restarting", interaction.id)
        return False

    @asynccontextmanager
    async def handling(self, interaction: discord.Interaction) -> AsyncIterator[None]:
        """Around every handler body: counted as in-flight work, and any failure becomes a
        friendly reply (HumbotErrors in the user's language; anything else is logged with its
        traceback and answered with a generic message)."""
        async with self.work.track():
            try:
                yield
            except Exception as e:  # noqa: BLE001 - every failure gets an answer, none a traceback
                await reply_error(interaction, e, self.lang(interaction))
