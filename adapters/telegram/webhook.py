"""Webhook mode: a small aiohttp server that feeds Telegram's POSTs into the Application.

PTB's own webhook server needs tornado (the ``[webhooks]`` extra); aiohttp is already a
dependency, and PTB documents this pattern (``Application`` built with ``updater(None)``, updates
put on ``application.update_queue``). Telegram proves a request is its own by the secret token
header set with ``setWebhook(secret_token=…)``.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update

from adapters.telegram.context import App

log = logging.getLogger("adapters.telegram.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    def __init__(self, app: App, *, listen: str, port: int, path: str, secret: str | None) -> None:
        self.app = app
        self.listen, self.port, self.path = listen, port, path or "/"
        self.secret = secret
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        server = web.Application(client_max_size=2 * 1024 * 1024)  # updates are small JSON documents
        server.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        log.info("webhook listening on %s:%s%s", self.listen, self.port, self.path)

    async def stop(self) -> None:
        """Stop accepting updates (Telegram keeps and re-sends what it could not deliver)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        if self.secret is not None:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                log.warning("webhook request without the right secret from %s", request.remote)
                return web.Response(status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError(f"an update is a JSON object, not {type(data).__name__}")
            update = Update.de_json(data, self.app.bot)
        except (
            json.JSONDecodeError,
            UnicodeDecodeError,
            TypeError,
            KeyError,
            ValueError,
            AttributeError,
        ) as e:
            log.warning("malformed webhook update: %s", e)
            return web.Response(status=400)
        await self.app.update_queue.put(update)
        return web.Response(status=200)
