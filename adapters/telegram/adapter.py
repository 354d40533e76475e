"""The Telegram adapter: python-telegram-bot's Application driven by humbot's own lifecycle.

``humbot serve`` runs every adapter in one event loop, so this does not call ``run_polling()``
(which takes over the loop and its signals): :meth:`TelegramAdapter.start` performs
``initialize → start → updater.start_polling`` (or starts the webhook server), and
:meth:`TelegramAdapter.stop` stops fetching first, then lets in-flight searches finish
(``Application.stop`` awaits every running update task), then shuts down.

Updates are processed concurrently (each in its own task); the service's bounded work queue,
not the adapter, decides when to answer "busy, try again in a moment".
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlparse

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder

from adapters.common import UserRateLimiter, pick_lang
from adapters.common.admission import Admission
from adapters.telegram import texts
from adapters.telegram.config import TelegramConfig
from adapters.telegram.context import App, BotDeps
from adapters.telegram.routing import Router
from adapters.telegram.webhook import WebhookServer
from core.errors import ConfigError
from core.i18n import DEFAULT_LANG, LANGS, normalize_lang
from core.service import HumService

log = logging.getLogger("adapters.telegram")

USER_COMMANDS = ("start", "help", "hum")
ADMIN_COMMANDS = ("add", "remove", "songs", "stats")
#: Telegram's menu languages (``language_code``: ISO 639-1, two letters; None: the default menu,
#: English) → the catalogue language of their texts. Menus cannot tell zh-TW from zh-CN, so "zh"
#: is Simplified (``normalize_lang("zh")``); replies still follow each user's own language.
MENU_LANGS: dict[str | None, str] = {None: DEFAULT_LANG} | {
    lang.split("_")[0]: normalize_lang(lang.split("_")[0]) for lang in LANGS if lang != DEFAULT_LANG
}
#: Updates handled at once. High on purpose: waiting happens in the service's queue, which
#: answers "busy" when full instead of leaving users without a reply.
CONCURRENT_UPDATES = 256
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
#: What Telegram accepts as a webhook's ``secret_token`` (setWebhook).
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramAdapter:
    name = "telegram"

    def __init__(self, config: TelegramConfig, service: HumService, *, default_lang: str = "en") -> None:
        self.config = config
        self.service = service
        self.deps = BotDeps(
            service=service,
            admins=frozenset(config.admins),
            default_lang=pick_lang(None, default_lang),
            limiter=UserRateLimiter.from_limits(service.limits),
            admission=Admission.from_limits(service.limits),
        )
        self.app: App | None = None
        self._webhook: WebhookServer | None = None

    # -- building -------------------------------------------------------------------------
    def build_application(self) -> App:
        token = self.config.token.get_secret_value() if self.config.token else ""
        if not token:
            raise ConfigError(
                detail="telegram.token is not set (BotFather's token, e.g. via ${TELEGRAM_TOKEN})"
            )
        if self.config.mode == "webhook":
            self._webhook_secret()  # refused before anything connects
        builder = (
            ApplicationBuilder()
            .token(token)
            # Outgoing flood control: Telegram's 30 messages/s and 20/min per group, with retries
            # after a 429 "retry after".
            .rate_limiter(AIORateLimiter(max_retries=3))
            .concurrent_updates(CONCURRENT_UPDATES)
        )
        if self.config.base_url:
            builder = builder.base_url(self.config.base_url)
        if self.config.base_file_url:
            builder = builder.base_file_url(self.config.base_file_url)
        if self.config.mode == "webhook":
            builder = builder.updater(None)  # our aiohttp server feeds update_queue instead
        app = builder.build()
        Router(self.deps).install(app)
        return app

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self.app is not None:
            raise RuntimeError("the Telegram adapter is already running")
        app = self.build_application()
        try:
            await app.initialize()  # getMe: checks the token
        except BaseException as e:
            await app.bot.shutdown()  # close the HTTP clients initialize() opened
            if isinstance(e, InvalidToken):  # PTB's message would contain the token: never log it
                raise ConfigError(
                    detail="telegram.token was rejected by Telegram (check BotFather's token)"
                ) from None
            raise
        try:
            await self._register_commands(app)
            await app.start()
            if self.config.mode == "webhook":
                await self._start_webhook(app)
            else:
                assert app.updater is not None  # built with one in polling mode (build_application)
                await app.updater.start_polling(
                    allowed_updates=ALLOWED_UPDATES, drop_pending_updates=self.config.drop_pending_updates
                )
        except BaseException:
            await self._shutdown(app)
            raise
        self.app = app
        log.info("telegram bot @%s running (%s)", app.bot.username, self.config.mode)

    async def stop(self) -> None:
        """Stop fetching updates, let the searches in flight finish and answer, then disconnect."""
        app, self.app = self.app, None
        if app is not None:
            await self._shutdown(app)

    async def _shutdown(self, app: App) -> None:
        if self._webhook is not None:
            await self._webhook.stop()
            self._webhook = None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()  # waits for the running update tasks (in-flight searches)
        await app.shutdown()

    def _webhook_secret(self) -> str:
        """The secret Telegram sends with every update. Required: without it anyone who finds the
        webhook URL could post fake updates (as any user, admins included)."""
        secret = self.config.webhook_secret.get_secret_value() if self.config.webhook_secret else ""
        if not secret:
            raise ConfigError(
                detail="telegram.webhook_secret is required in webhook mode (otherwise anyone "
                "who finds the URL can post updates): set TELEGRAM_WEBHOOK_SECRET, "
                "which config.yaml reads, to a random string, e.g. `openssl rand -hex 32`"
            )
        if not _WEBHOOK_SECRET.match(secret):
            raise ConfigError(
                detail="telegram.webhook_secret may only hold 1–256 letters, digits, _ and - "
                "(Telegram refuses anything else), e.g. `openssl rand -hex 32`"
            )
        return secret

    async def _start_webhook(self, app: App) -> None:
        cfg = self.config
        secret = self._webhook_secret()
        self._webhook = WebhookServer(
            app,
            listen=cfg.webhook_listen,
            port=cfg.webhook_port,
            path=urlparse(cfg.webhook_url or "").path or "/",
            secret=secret,
        )
        await self._webhook.start()
        await app.bot.set_webhook(
            cfg.webhook_url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=cfg.drop_pending_updates,
        )

    async def _register_commands(self, app: App) -> None:
        """The command menu in every language; admins also see the admin commands.

        Cosmetic, so failures are logged, not fatal (an admin who never opened a chat with the
        bot makes Telegram answer "chat not found").
        """
        bot = app.bot
        for code, lang in MENU_LANGS.items():
            user_cmds = [BotCommand(c, texts.t(f"cmd_{c}", lang)) for c in USER_COMMANDS]
            admin_cmds = user_cmds + [BotCommand(c, texts.t(f"cmd_{c}", lang)) for c in ADMIN_COMMANDS]
            try:
                await bot.set_my_commands(user_cmds, language_code=code)
            except TelegramError as e:
                log.warning("could not register the command menu (%s): %s", lang, e)
            for admin in sorted(self.deps.admins):
                try:
                    await bot.set_my_commands(
                        admin_cmds, scope=BotCommandScopeChat(admin), language_code=code
                    )
                except TelegramError as e:
                    log.warning("could not register admin commands for %s (%s): %s", admin, lang, e)
