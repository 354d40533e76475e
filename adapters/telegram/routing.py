"""Which update goes to which handler, the per-user gate in front of them, and the error handler.

Privacy in groups: the bot only acts on ``/hum`` (or ``/hum@bot``) replying to a recording and on
recordings that reply to the bot itself. Other group audio is never downloaded — no handler
matches it. (With BotFather's privacy mode on, Telegram does not even deliver it.)
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters.common import actions
from adapters.common.requests import AUDIO_SUFFIXES
from adapters.telegram import texts
from adapters.telegram.admin import AdminHandlers
from adapters.telegram.context import App, BotDeps, Context, Handler, log, reply
from adapters.telegram.user import UserHandlers


# New messages only: an *edited* voice note or command must not trigger a second search.
NEW = filters.UpdateType.MESSAGE
AUDIO_DOCUMENT: filters.BaseFilter = filters.Document.AUDIO
for _suffix in sorted(AUDIO_SUFFIXES):
    AUDIO_DOCUMENT = AUDIO_DOCUMENT | filters.Document.FileExtension(_suffix[1:])
RECORDING = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | AUDIO_DOCUMENT
ADD_CAPTION = filters.CaptionRegex(r"(?i)^/add(@\w+)?(\s|$)")


class _ReplyToBot(filters.MessageFilter):
    """Messages that reply to one of this bot's own messages."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.id == message.get_bot().id)


REPLY_TO_BOT = _ReplyToBot(name="ReplyToBot")


class Router:
    """Builds the handler table; the gate asks the work handlers whether an update is work."""

    def __init__(self, deps: BotDeps) -> None:
        self.deps = deps
        self.admin = AdminHandlers(deps)
        self.user = UserHandlers(deps, self.admin)
        u, a = self.user, self.admin
        # Handlers that make the bot download and search (or store): these are rate-limited.
        self.work: list[Handler] = [
            CommandHandler("hum", u.hum, filters=NEW),
            MessageHandler(NEW & ADD_CAPTION & (RECORDING | filters.VIDEO), a.add_caption),
            MessageHandler(NEW & filters.ChatType.PRIVATE & (RECORDING | filters.VIDEO), u.recording),
            MessageHandler(NEW & filters.ChatType.GROUPS & RECORDING & REPLY_TO_BOT, u.recording),
        ]
        self.handlers: list[Handler] = [
            CommandHandler("start", u.start, filters=NEW),
            CommandHandler("help", u.help, filters=NEW),
            CommandHandler("add", a.add_command, filters=NEW),
            CommandHandler("remove", a.remove, filters=NEW),
            CommandHandler("songs", a.songs, filters=NEW),
            CommandHandler("stats", a.stats, filters=NEW),
            *self.work,
            # Anything else in a private chat (text, photos, stickers…) gets a hint, not silence.
            MessageHandler(NEW & filters.ChatType.PRIVATE, u.hint),
            CallbackQueryHandler(u.button),
        ]

    def install(self, app: App) -> None:
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handlers(self.handlers, group=0)
        app.add_error_handler(self.on_error)

    # -- the per-user gate (group -1) -----------------------------------------------------
    def _is_work(self, update: Update) -> bool:
        if update.callback_query is not None:  # ▶ buttons cut and send a clip
            return isinstance(actions.decode(update.callback_query.data), actions.Play)
        return any(h.check_update(update) for h in self.work)

    async def gate(self, update: Update, context: Context) -> None:
        """Refuse a user's work beyond ``limits.user_requests_per_minute`` — before any handler runs.

        The first refusal of a streak is explained ("slow down…"); the rest are dropped quietly so
        a flood does not turn into a flood of replies. Admins are not limited.
        """
        user = update.effective_user
        if user is None or self.deps.is_admin(user) or not self._is_work(update):
            return
        decision = self.deps.limiter.hit(user.id)
        if decision.allowed:
            return
        log.info("rate-limited user %s (retry in %.0f s)", user.id, decision.retry_after_s)
        text = texts.t("rate_limited", self.deps.lang_of(update), seconds=max(1.0, decision.retry_after_s))
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)  # every query is answered
        elif decision.notify and update.effective_message is not None:
            await reply(update.effective_message, text)
        raise ApplicationHandlerStop

    # -- errors ---------------------------------------------------------------------------
    async def on_error(self, update: object, context: Context) -> None:
        """Whatever escaped a handler: the traceback to the log, a generic apology to the user."""
        log.error("error while handling an update (%s)", _describe(update), exc_info=context.error)
        if not isinstance(update, Update):
            return
        text = texts.t("error_internal", self.deps.lang_of(update))
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(text, show_alert=True)
            elif (
                update.effective_message is not None
                and update.effective_chat is not None
                and update.effective_chat.type == "private"
            ):
                await reply(update.effective_message, text)
        except TelegramError as e:  # e.g. the network is what failed; the log has it
            log.warning("could not tell the user about the error: %s", e)


def _describe(update: object) -> str:
    if isinstance(update, Update):
        user = update.effective_user
        chat = update.effective_chat
        return f"update {update.update_id}, user {user.id if user else '-'}, chat {chat.id if chat else '-'}"
    return repr(update)[:200]
