"""Lifecycle: log in, run the gateway in a task of *our* event loop, stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from adapters.discord.client import HumClient
from adapters.discord.context import BotContext, InFlight
from adapters.discord.config import DiscordConfig
from core.errors import ConfigError
from core.service import HumService

log = logging.getLogger(__name__)


def _token(config: DiscordConfig) -> str:
    if config.token is None or not config.token.get_secret_value().strip():
        raise ConfigError(detail="discord.token is not set (put ${DISCORD_TOKEN} in the config)")
    return config.token.get_secret_value()


class DiscordAdapter:
    """``humbot serve``'s Discord side (see :class:`adapters.base.Adapter`)."""

    name = "discord"

    def __init__(
        self,
        config: DiscordConfig,
        service: HumService,
        *,
        default_lang: str = "en",
        connect_timeout_s: float = 60.0,
        drain_timeout_s: float = 120.0,
    ) -> None:
        self.config = config
        self.ctx = BotContext(service=service, config=config, default_lang=default_lang)
        self.connect_timeout_s = connect_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.client: HumClient | None = None
        self._gateway: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in (a bad token fails here), sync commands to the test guilds, connect.

        Returns once the gateway session is up, so a broken setup fails ``serve`` at start;
        if the gateway is merely slow, it keeps connecting in the background.
        """
        token = _token(self.config)
        self.ctx.work = InFlight()  # a restarted adapter takes work again
        self.client = client = HumClient(self.ctx, sync_guilds=self.config.test_guilds)
        self._gateway = None
        try:
            await client.login(token)
            self._gateway = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
            connected = asyncio.create_task(client.connected.wait())
            done, _ = await asyncio.wait(
                {self._gateway, connected},
                timeout=self.connect_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            connected.cancel()
            if self._gateway in done:
                self._gateway.result()  # raises what stopped it (disallowed intents, bad token…)
                raise RuntimeError("the Discord gateway closed during start")
        except BaseException:
            await client.close()  # ends a gateway task still connecting, and the HTTP session
            if self._gateway is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._gateway
            self.client = self._gateway = None
            raise
        self._gateway.add_done_callback(self._gateway_done)
        if not done:
            log.warning("discord: gateway not connected after %.0f s; still trying", self.connect_timeout_s)

    def _gateway_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("discord: gateway stopped", exc_info=task.exception())

    async def stop(self) -> None:
        """Refuse new work, let in-flight searches finish (up to ``drain_timeout_s``), disconnect."""
        if self.client is None:
            return
        self.ctx.work.closing = True
        if not await self.ctx.work.drain(self.drain_timeout_s):
            log.warning(
                "discord: %d handlers still running after %.0f s; closing anyway",
                self.ctx.work.count,
                self.drain_timeout_s,
            )
        await self.client.close()
        if self._gateway is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._gateway
        self.client = None


async def sync_global_commands(config: DiscordConfig, service: HumService) -> list[str]:
    """Register the commands globally (``humbot discord sync``). Global commands take up to an
    hour to reach every client, hence an explicit deploy step rather than a sync on every boot."""
    client = HumClient(BotContext(service=service, config=config), sync_guilds=())
    async with client:
        await client.login(_token(config))
        synced = await client.tree.sync()
    names = [c.name for c in synced]
    log.info("discord: synced %d global commands: %s", len(names), ", ".join(names))
    return names
