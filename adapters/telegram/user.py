"""What every user can do: /start, /help, send a recording (or /hum one in a group), press buttons."""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest

from adapters.common import actions, error_text, format_response, precheck
from adapters.telegram import texts
from adapters.telegram.admin import AdminHandlers
from adapters.telegram.context import (
    CLIP_FORMAT,
    BotDeps,
    Context,
    callback_of,
    chat_action,
    clip_caption,
    log,
    message_of,
    reply,
    send_clip,
    source_of,
)
from adapters.telegram.keyboards import results_keyboard
from adapters.telegram.media import Attachment, download, find_attachment
from core.errors import HumbotError
from core.types import Clip, SearchResponse


class UserHandlers:
    def __init__(self, deps: BotDeps, admin: AdminHandlers) -> None:
        self.deps = deps
        self.admin = admin

    # -- commands -------------------------------------------------------------------------
    async def start(self, update: Update, context: Context) -> None:
        await reply(message_of(update), texts.t("start", self.deps.lang_of(update)))

    async def help(self, update: Update, context: Context) -> None:
        lang = self.deps.lang_of(update)
        limits = self.deps.service.limits
        text = texts.t(
            "telegram_help",
            lang,
            min_seconds=limits.min_query_seconds,
            max_seconds=limits.max_query_seconds,
            max_mb=limits.max_upload_mb,
        )
        if self.deps.is_admin(update.effective_user):
            text += "\n\n" + texts.t("telegram_help_admin", lang)
        await reply(message_of(update), text)

    async def hum(self, update: Update, context: Context) -> None:
        """``/hum`` as a reply to a recording (the group gesture; works in private chats too)."""
        message = message_of(update)
        target = message.reply_to_message
        if target is None or find_attachment(target) is None:
            await reply(message, texts.t("telegram_hum_usage", self.deps.lang_of(update)))
            return
        await self.answer_recording(update, context, request=message, recording=target)

    async def recording(self, update: Update, context: Context) -> None:
        """A recording sent in a private chat, or replying to the bot in a group."""
        message = message_of(update)
        await self.answer_recording(update, context, request=message, recording=message)

    async def hint(self, update: Update, context: Context) -> None:
        """Anything else in a private chat: say what to send (every message gets an answer)."""
        message = message_of(update)
        lang = self.deps.lang_of(update)
        has_media = message.effective_attachment is not None
        await reply(message, texts.t("audio_not_audio" if has_media else "send_voice_hint", lang))

    # -- the search -----------------------------------------------------------------------
    async def answer_recording(
        self, update: Update, context: Context, *, request: Message, recording: Message
    ) -> None:
        """Check what Telegram announces and take a place (:mod:`adapters.common.admission`) before
        anything is downloaded; then show "listening…", search, edit the answer in, send the clip."""
        deps = self.deps
        lang = deps.lang_of(update)
        attachment = find_attachment(recording)
        if attachment is None:
            await reply(request, texts.t("audio_not_audio", lang))
            return
        try:  # before downloading anything: size and duration as announced, and room to work
            precheck(deps.service, size_bytes=attachment.file_size, duration_s=attachment.duration_s)
            ticket = deps.admission.enter(update.effective_user.id if update.effective_user else None)
        except HumbotError as e:
            await reply(request, error_text(e, lang, logger=log, what="recording"))
            return
        with ticket:  # given back once the request is answered, or has failed
            await self._search_and_answer(update, context, request=request, attachment=attachment, lang=lang)

    async def _search_and_answer(
        self, update: Update, context: Context, *, request: Message, attachment: Attachment, lang: str
    ) -> None:
        deps, bot = self.deps, context.bot
        status = await reply(request, texts.t("listening", lang))
        try:
            async with chat_action(bot, request.chat, ChatAction.TYPING):
                data = await download(bot, attachment, limit_mb=deps.service.limits.max_upload_mb)
                response = await deps.service.search(
                    data, filename=attachment.filename, with_clip=False, source="telegram"
                )
        except Exception as e:  # HumbotError → its message; anything else → logged, "something went wrong"
            await status.edit_text(error_text(e, lang, logger=log, what="search"))
            return

        text = format_response(response, lang, max_query_seconds=deps.service.limits.max_query_seconds)
        # A confident answer gets its clip (with the other results' buttons); otherwise the list
        # of closest candidates carries ▶ buttons, and nothing is claimed.
        await status.edit_text(
            text, reply_markup=None if response.match else results_keyboard(response, lang)
        )
        if response.match:
            await self._send_top_clip(update, context, response, request=request, lang=lang)

    async def _send_top_clip(
        self, update: Update, context: Context, response: SearchResponse, *, request: Message, lang: str
    ) -> None:
        best = response.best
        if best is None:
            return
        try:
            async with chat_action(context.bot, request.chat, ChatAction.UPLOAD_VOICE):
                clip = await self.deps.service.clip(best.song.song_id, best.offset_s, fmt=CLIP_FORMAT)
                await send_clip(
                    context.bot,
                    request.chat_id,
                    clip,
                    caption=clip_caption(best.song, clip, lang),
                    reply_to=request.message_id,
                    markup=results_keyboard(response, lang, first_rank=2, not_it=True),
                )
        except Exception as e:  # the answer is already there; say why the clip is missing
            await reply(request, error_text(e, lang, logger=log, what="clip"))

    # -- buttons --------------------------------------------------------------------------
    async def button(self, update: Update, context: Context) -> None:
        """Every callback query is answered — with the result, or with why there is none."""
        query = callback_of(update)
        lang = self.deps.lang_of(update)
        action = actions.decode(query.data)
        try:
            if isinstance(action, actions.Play):
                await self._play(query, action, context, lang)
            elif isinstance(action, actions.NotIt):
                await self.deps.service.feedback(
                    action.query_id, action.song_id, correct=False, user=source_of(query.from_user)
                )
                await query.answer(texts.t("feedback_thanks", lang))
            elif isinstance(action, actions.SongsPage):
                await self.admin.page(update, context, query, action, lang)
            elif isinstance(action, actions.KeepVersion):
                await self.admin.keep_version(update, context, query, action, lang)
            else:
                await query.answer(texts.t("button_expired", lang), show_alert=True)
        except Exception as e:
            text = error_text(e, lang, logger=log, what="button")
            try:
                await query.answer(text, show_alert=True)
            except BadRequest:  # already answered: the failure came later, say it in the chat
                if query.message is not None:
                    await context.bot.send_message(query.message.chat.id, text)

    async def _play(self, query: CallbackQuery, action: actions.Play, context: Context, lang: str) -> None:
        try:
            song = await self.deps.service.get_song(action.song_id)
            clip: Clip = await self.deps.service.clip(action.song_id, action.offset_s, fmt=CLIP_FORMAT)
        except HumbotError as e:  # e.g. the song was removed since, or the service is busy
            await query.answer(error_text(e, lang, logger=log, what="play"), show_alert=True)
            return
        await query.answer()
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        reply_to = message.message_id if isinstance(message, Message) else None
        await send_clip(context.bot, chat_id, clip, caption=clip_caption(song, clip, lang), reply_to=reply_to)
