"""Admin commands: grow the catalog from the chat (/add), /remove, /songs (paged), /stats.

An upload that is the same recording as a catalog song is not added: the reply says which song,
under a "Keep as a version" button (the upload waits in the service's pending area).

Admins are the Telegram user ids in ``telegram.admins``. Everyone else gets a polite refusal
*before* anything is downloaded or stored.
"""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest

from adapters.common import (
    actions,
    clamp_page,
    error_text,
    format_songs_page,
    format_stats,
    parse_title_artist,
    version_text,
)
from adapters.common.formatting import SONGS_PAGE_SIZE, added_text, visible
from adapters.telegram import texts
from adapters.telegram.context import (
    BotDeps,
    Context,
    chat_action,
    command_args,
    log,
    message_of,
    reply,
    source_of,
)
from adapters.telegram.keyboards import keep_version_keyboard, songs_keyboard
from adapters.telegram.media import Attachment, download, find_attachment
from core.errors import HumbotError
from core.types import Upload


class AdminHandlers:
    def __init__(self, deps: BotDeps) -> None:
        self.deps = deps

    async def _refuse_non_admin(self, update: Update, key: str = "admin_only") -> bool:
        if self.deps.is_admin(update.effective_user):
            return False
        log.info(
            "refused %s from non-admin %s", key, update.effective_user.id if update.effective_user else None
        )
        await reply(message_of(update), texts.t(key, self.deps.lang_of(update)))
        return True

    async def _refuse_non_admin_press(self, query: CallbackQuery, key: str, lang: str) -> bool:
        """An admin's button pressed by someone else: say so in an alert (the query is answered)."""
        if self.deps.is_admin(query.from_user):
            return False
        await query.answer(texts.t(key, lang), show_alert=True)
        return True

    # -- /add -----------------------------------------------------------------------------
    async def add_caption(self, update: Update, context: Context) -> None:
        """An audio file sent with the caption ``/add Title - Artist``."""
        message = message_of(update)
        args = command_args(message.caption, "add", context.bot.username)
        if args is None:  # "/add@other_bot": not for us
            return
        await self._add(update, context, request=message, recording=message, args=args)

    async def add_command(self, update: Update, context: Context) -> None:
        """``/add Title - Artist`` replying to an audio message."""
        message = message_of(update)
        args = command_args(message.text, "add", context.bot.username) or ""
        await self._add(update, context, request=message, recording=message.reply_to_message, args=args)

    async def _add(
        self, update: Update, context: Context, *, request: Message, recording: Message | None, args: str
    ) -> None:
        if await self._refuse_non_admin(update, "not_admin"):
            return
        lang = self.deps.lang_of(update)
        attachment = find_attachment(recording)
        if attachment is None:
            await reply(request, texts.t("telegram_add_usage", lang))
            return
        title, artist = parse_title_artist(args)
        if title is None:  # no caption text: the file's own tags, else its name
            title, artist = attachment.title, artist or attachment.performer
        try:
            self.deps.service.check_upload_size(attachment.file_size)
            # Admins are trusted with many uploads at once (no per-user limit), but each one holds
            # its file in memory like a search does: they count towards the global limit.
            ticket = self.deps.admission.enter(None)
        except HumbotError as e:
            await reply(request, error_text(e, lang, logger=log, what="add"))
            return
        with ticket:
            await self._download_and_add(
                update, context, request=request, attachment=attachment, title=title, artist=artist, lang=lang
            )

    async def _download_and_add(
        self,
        update: Update,
        context: Context,
        *,
        request: Message,
        attachment: Attachment,
        title: str | None,
        artist: str | None,
        lang: str,
    ) -> None:
        status = await reply(request, texts.t("adding", lang))
        upload = Upload(
            filename=attachment.filename,
            title=title,
            artist=artist,
            added_by=source_of(update.effective_user),
        )
        try:
            async with chat_action(context.bot, request.chat, ChatAction.TYPING):
                data = await download(
                    context.bot, attachment, limit_mb=self.deps.service.limits.max_upload_mb
                )
                result = await self.deps.service.add_song(data, **upload)
        except Exception as e:
            await status.edit_text(error_text(e, lang, logger=log, what="add"))
            return
        song = result.song
        if not result.created and result.duplicate_of is not None:  # the same recording: ask
            try:
                held = await self.deps.service.hold_upload(data, **upload)
            except Exception:  # noqa: BLE001 - the answer matters more than the button
                log.exception("could not hold %s for a version", attachment.filename)
                held = None
            text = texts.t("song_duplicate", lang, title=visible(song.title), song_id=song.song_id)
            await status.edit_text(text, reply_markup=keep_version_keyboard(held, lang) if held else None)
            return
        await status.edit_text(added_text(result, lang))

    async def keep_version(
        self, update: Update, context: Context, query: CallbackQuery, action: actions.KeepVersion, lang: str
    ) -> None:
        """ "Keep as a version" under a duplicate: add the held upload as a version of its song."""
        if await self._refuse_non_admin_press(query, "not_admin", lang):
            return
        await query.answer(texts.t("adding", lang))
        try:
            result = await self.deps.service.add_held(action.key)
        except Exception as e:
            text = error_text(e, lang, logger=log, what="keep version")
        else:
            text = version_text(result, lang)
        if isinstance(query.message, Message):
            await query.message.edit_text(text, reply_markup=None)  # the button is spent
        else:
            await context.bot.send_message(query.from_user.id, text)

    # -- /remove, /stats ------------------------------------------------------------------
    async def remove(self, update: Update, context: Context) -> None:
        if await self._refuse_non_admin(update, "not_admin"):
            return
        lang = self.deps.lang_of(update)
        if len(context.args or []) != 1:
            await reply(message_of(update), texts.t("remove_usage", lang))
            return
        try:
            song = await self.deps.service.remove_song((context.args or [])[0].strip())
        except Exception as e:
            await reply(message_of(update), error_text(e, lang, logger=log, what="remove"))
            return
        await reply(message_of(update), texts.t("song_removed", lang, song_id=song.song_id))

    async def stats(self, update: Update, context: Context) -> None:
        if await self._refuse_non_admin(update):
            return
        lang = self.deps.lang_of(update)
        try:
            text = format_stats(await self.deps.service.stats(), lang)
        except Exception as e:
            text = error_text(e, lang, logger=log, what="stats")
        await reply(message_of(update), text)

    # -- /songs, paged --------------------------------------------------------------------
    async def _page(self, page: int, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
        total = await self.deps.service.count_songs()
        page = clamp_page(page, total)
        songs = await self.deps.service.list_songs(page * SONGS_PAGE_SIZE, SONGS_PAGE_SIZE)
        text = format_songs_page(songs, offset=page * SONGS_PAGE_SIZE, total=total, lang=lang)
        return text, songs_keyboard(page, total, lang)

    async def songs(self, update: Update, context: Context) -> None:
        if await self._refuse_non_admin(update):
            return
        text, markup = await self._page(0, self.deps.lang_of(update))
        await reply(message_of(update), text, markup=markup)

    async def page(
        self, update: Update, context: Context, query: CallbackQuery, action: actions.SongsPage, lang: str
    ) -> None:
        """A ◀ / ▶ button under a song list: edit the list in place."""
        if await self._refuse_non_admin_press(query, "admin_only", lang):
            return
        text, markup = await self._page(action.page, lang)
        await query.answer()
        if isinstance(query.message, Message):
            try:
                await query.message.edit_text(text, reply_markup=markup)
            except BadRequest as e:  # pressed twice: the page is already shown
                if "not modified" not in e.message.lower():
                    raise
