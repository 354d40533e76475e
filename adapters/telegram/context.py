"""What every Telegram handler needs: the service, who is an admin, languages, and reply helpers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, BaseHandler, ContextTypes

from adapters.common import format_offset, pick_lang, song_name
from adapters.common.admission import Admission
from adapters.common.formatting import visible
from adapters.common.ratelimit import UserRateLimiter
from adapters.telegram import texts
from core.service import HumService
from core.types import Clip, Song

log = logging.getLogger("adapters.telegram")

#: sendAudio shows MP3/M4A in the music player (with title and performer); other formats are not
#: displayed properly, whatever ``search.clip_format`` says for other platforms.
CLIP_FORMAT = "mp3"
#: Chat actions expire after about 5 s on the client; repeat a little sooner.
CHAT_ACTION_EVERY_S = 4.0
CAPTION_LIMIT = 1024

Context = ContextTypes.DEFAULT_TYPE
#: The Application humbot builds (its bot, context and data types are PTB's defaults; the
#: parameters say nothing humbot relies on).
App = Application[Any, Any, Any, Any, Any, Any]
#: A handler of humbot's: an update in, a coroutine returning nothing.
Handler = BaseHandler[Update, Context, None]


@dataclass(frozen=True)
class BotDeps:
    service: HumService
    admins: frozenset[int]
    default_lang: str
    limiter: UserRateLimiter
    admission: Admission  # taken before a recording is downloaded, given back once it is answered

    def lang_of(self, update: Update) -> str:
        user = update.effective_user
        return pick_lang(user.language_code if user else None, self.default_lang)

    def is_admin(self, user: User | None) -> bool:
        return user is not None and user.id in self.admins


def source_of(user: User | None) -> str:
    """Who did something, as stored with songs and feedback (``telegram:<user id>``)."""
    return f"telegram:{user.id}" if user else "telegram"


def message_of(update: Update) -> Message:
    """The message a command or message handler runs for: its filters let only updates with one
    through, so a missing one is a routing bug."""
    if update.effective_message is None:
        raise TypeError(f"update {update.update_id} reached a message handler without a message")
    return update.effective_message


def callback_of(update: Update) -> CallbackQuery:
    """The button press a ``CallbackQueryHandler`` runs for (it lets only those through)."""
    if update.callback_query is None:
        raise TypeError(f"update {update.update_id} reached the button handler without a callback query")
    return update.callback_query


async def reply(message: Message, text: str, *, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer ``message`` as a reply (quoted), even if it was deleted meanwhile. Plain text:
    titles typed by admins are never parsed as markup."""
    return await message.reply_text(
        text, do_quote=True, allow_sending_without_reply=True, reply_markup=markup
    )


def command_args(text: str | None, command: str, bot_username: str | None) -> str | None:
    """The arguments of ``/command`` or ``/command@bot`` at the start of ``text`` (a caption,
    which PTB's CommandHandler does not parse); ``None`` when it is not that command, or is
    addressed to another bot."""
    m = re.match(rf"^/{command}(?:@(\w+))?(?:\s+(.*))?$", (text or "").strip(), re.S | re.I)
    if m is None:
        return None
    if m.group(1) and bot_username and m.group(1).lower() != bot_username.lower():
        return None
    return (m.group(2) or "").strip()


@contextlib.asynccontextmanager
async def chat_action(bot: Bot, chat: Chat, action: str = ChatAction.TYPING) -> AsyncIterator[None]:
    """Show "typing…" (or another action) until the block ends — in private chats only.

    In groups the "🎧 listening…" message is the progress sign: every request to a group counts
    against Telegram's 20-messages-a-minute group limit (AIORateLimiter enforces it).
    """
    if chat.type != Chat.PRIVATE:
        yield
        return

    async def keep_alive() -> None:
        while True:
            try:
                await bot.send_chat_action(chat.id, action)
            except TelegramError as e:  # cosmetic: never fail the request for it
                log.debug("chat action failed: %s", e)
            await asyncio.sleep(CHAT_ACTION_EVERY_S)

    task = asyncio.create_task(keep_alive())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def clip_caption(song: Song | None, clip: Clip, lang: str) -> str:
    name = song_name(song) if song else clip.title
    end = clip.start_s + clip.duration_s
    text = texts.t("clip_caption", lang, name=name, start=format_offset(clip.start_s), end=format_offset(end))
    return text[:CAPTION_LIMIT]


async def send_clip(
    bot: Bot,
    chat_id: int,
    clip: Clip,
    *,
    caption: str,
    reply_to: int | None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """The clip as a music-player audio message with title and performer set."""
    return await bot.send_audio(
        chat_id,
        audio=InputFile(clip.data, filename=clip.filename),
        title=visible(clip.title),  # shown by the music player: no bidi tricks from an old catalog
        performer=visible(clip.artist) if clip.artist else None,
        duration=dtm.timedelta(seconds=round(clip.duration_s)),
        caption=caption,
        reply_markup=markup,
        reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
    )
