"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1) that the real PTB code talks to.

It speaks the real wire format — ``POST /bot<token>/<method>`` with form-encoded or multipart
parameters, ``{"ok": true, "result": …}`` replies, ``{"ok": false, "error_code": 400, …}``
errors, ``GET /file/bot<token>/<path>`` downloads — and keeps the state a test needs to check what
the bot did: the chats' messages (with edits), uploaded files, answered callback queries, the
registered command menus. Tests push updates (messages, button presses) that ``getUpdates``
hands out, honouring ``offset`` and ``timeout`` like Telegram does.

It is strict where Telegram is strict, so adapter bugs surface as the errors users would see:
unknown chats, replies to missing messages, edits that change nothing ("message is not
modified"), callback queries answered twice or never, files over the 20 MB download cap, and
text that does not parse in its ``parse_mode`` ("can't parse entities": an unescaped ``<`` or
``&`` in HTML, a reserved character in MarkdownV2).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-fake-token"
DOWNLOAD_CAP = 20 * 1024 * 1024  # the Bot API's getFile limit
_JSON_FIELDS = {"reply_markup", "reply_parameters", "commands", "scope", "allowed_updates", "entities",
                "caption_entities", "link_preview_options"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "timeout", "limit", "duration", "cache_time"}
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
              "code", "pre", "blockquote"}
_HTML_TOKEN = re.compile(r"<(/?)([a-z-]+)(?:\s[^<>]*)?>|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);|[<>&]")
_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def check_markup(text: str, parse_mode: str | None) -> None:
    """Raise Telegram's "can't parse entities" for ``text`` that is not valid in ``parse_mode``.

    Not a full parser: it catches what unescaped user text breaks — a stray ``<``/``&`` or an
    unknown or unclosed tag in HTML; an unescaped reserved character in MarkdownV2; an unclosed
    bold, italic or code marker in legacy Markdown.
    """
    if not parse_mode:
        return
    mode = parse_mode.lower()
    if mode == "html":
        open_tags: list[str] = []
        for m in _HTML_TOKEN.finditer(text):
            token = m.group(0)
            if m.group(2) is None and token in "<>&":
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag or bad "
                                    f"character {token!r} at byte offset {m.start()}")
            if m.group(2) is None:
                continue  # an entity such as &amp;
            if m.group(2) not in _HTML_TAGS:
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag \"{m.group(2)}\"")
            if m.group(1):
                if not open_tags or open_tags.pop() != m.group(2):
                    raise ApiError(400, f"Bad Request: can't parse entities: unexpected end tag \"{m.group(2)}\"")
            else:
                open_tags.append(m.group(2))
        if open_tags:
            raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag corresponding to start "
                                f"tag \"{open_tags[-1]}\"")
    elif mode == "markdownv2":
        unescaped = re.sub(r"\\.", "", text, flags=re.S)
        for ch in unescaped:
            if ch in _MD2_RESERVED - set("_*~`|[]()"):
                raise ApiError(400, f"Bad Request: can't parse entities: character '{ch}' is reserved and must be "
                                    "escaped with the preceding '\\'")
        for marker in ("*", "_", "~", "`", "||"):
            if unescaped.count(marker) % 2:
                raise ApiError(400, "Bad Request: can't parse entities: can't find end of the entity")
    elif mode == "markdown":
        unescaped = re.sub(r"\\.", "", text, flags=re.S)
        for marker in ("*", "_", "`"):
            if unescaped.count(marker) % 2:
                raise ApiError(400, "Bad Request: can't parse entities: can't find end of the entity")
    else:
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiCall:
    method: str  # as the client spelt it, e.g. "sendMessage"
    params: dict[str, Any]
    files: dict[str, Upload] = field(default_factory=dict)
    ok: bool = True
    result: Any = None  # the result, or the error description
    error_code: int | None = None

    @property
    def name(self) -> str:
        return self.method.lower()

    @property
    def chat_id(self) -> int | None:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


class FakeBotAPI:
    def __init__(self, *, token: str = TOKEN, bot_id: int = 777000111, username: str = "humbot_test_bot") -> None:
        self.token = token
        self.me = {"id": bot_id, "is_bot": True, "first_name": "humbot", "username": username,
                   "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[ApiCall] = []
        self.errors: list[ApiCall] = []  # every error reply we gave
        self.expected_errors: set[str] = set()  # substrings of errors a test provokes on purpose
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) → message, edits applied
        self.files: dict[str, dict] = {}  # file_id → {"data", "size", "path", "unique"}
        self.downloads: list[str] = []  # file ids whose bytes were fetched
        self.callbacks: dict[str, dict] = {}  # callback query id → {"answered": bool, "text", "show_alert"}
        self.commands: dict[tuple[str, str], list[dict]] = {}  # (scope json, language) → commands
        self.webhook: dict[str, Any] | None = None
        self.failures: dict[str, list[ApiError]] = {}
        self._updates: list[dict] = []  # not yet confirmed by a getUpdates offset
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- server ---------------------------------------------------------------------------
    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_post("/{bot_token}/{method}", self._api)
        app.router.add_get("/file/{bot_token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port the OS picked
        return self

    async def close(self) -> None:
        self._closing = True  # end long polls now instead of after their timeout
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def fail_next(self, method: str, code: int, description: str, *, retry_after: int | None = None,
                  times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail (e.g. a 429 flood-control reply)."""
        self.failures.setdefault(method.lower(), []).extend(
            ApiError(code, description, retry_after) for _ in range(times))

    # -- building what users send ---------------------------------------------------------
    def user(self, user_id: int, *, lang: str | None = "en", name: str | None = None) -> dict:
        u = {"id": user_id, "is_bot": False, "first_name": name or f"User{user_id}"}
        if lang:
            u["language_code"] = lang
        return u

    def private_chat(self, user: dict) -> dict:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        self.chats[chat["id"]] = chat
        return chat

    def group(self, chat_id: int = -1001234567890, title: str = "Humming club") -> dict:
        chat = {"id": chat_id, "type": "supergroup", "title": title}
        self.chats[chat_id] = chat
        return chat

    def _file(self, data: bytes, folder: str, suffix: str, size: int | None, announced: bool = True) -> dict:
        """Store a file. ``size`` overrides its real size (Telegram's idea of it); ``announced=False``
        leaves ``file_size`` out of the message, as Telegram sometimes does."""
        n = next(self._file_ids)
        file_id, unique = f"FILE{n:04d}x{'A' * 20}", f"U{n:04d}"
        self.files[file_id] = {"data": data, "size": len(data) if size is None else size,
                               "path": f"{folder}/file_{n}{suffix}", "unique": unique}
        info = {"file_id": file_id, "file_unique_id": unique}
        if announced:
            info["file_size"] = self.files[file_id]["size"]
        return info

    def voice(self, data: bytes, *, duration: int, size: int | None = None) -> dict:
        return {"voice": {**self._file(data, "voice", ".oga", size), "duration": duration, "mime_type": "audio/ogg"}}

    def audio(self, data: bytes, *, duration: int, file_name: str, mime: str = "audio/mpeg",
              title: str | None = None, performer: str | None = None, size: int | None = None) -> dict:
        info = {**self._file(data, "music", "." + file_name.rsplit(".", 1)[-1], size), "duration": duration,
                "file_name": file_name, "mime_type": mime}
        if title:
            info["title"] = title
        if performer:
            info["performer"] = performer
        return {"audio": info}

    def document(self, data: bytes, *, file_name: str, mime: str, size: int | None = None,
                 announced: bool = True) -> dict:
        return {"document": {**self._file(data, "documents", "." + file_name.rsplit(".", 1)[-1], size, announced),
                             "file_name": file_name, "mime_type": mime}}

    def video_note(self, data: bytes, *, duration: int, size: int | None = None) -> dict:
        return {"video_note": {**self._file(data, "video_notes", ".mp4", size), "duration": duration, "length": 240}}

    @staticmethod
    def _command_entities(text: str) -> list[dict]:
        if not text.startswith("/"):
            return []
        return [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]

    def push_message(self, chat: dict, user: dict, content: dict | None = None, *, text: str | None = None,
                     caption: str | None = None, reply_to: dict | None = None, forwarded: bool = False) -> dict:
        """A message from ``user`` in ``chat``, handed out by the next getUpdates."""
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                               "from": user, **(content or {})}
        if text is not None:
            msg["text"] = text
            if ents := self._command_entities(text):
                msg["entities"] = ents
        if caption is not None:
            msg["caption"] = caption
            if ents := self._command_entities(caption):
                msg["caption_entities"] = ents
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        if forwarded:
            msg["forward_origin"] = {"type": "hidden_user", "date": msg["date"] - 60, "sender_user_name": "Someone"}
        self.messages[(chat["id"], msg["message_id"])] = msg
        self._push({"message": msg})
        return msg

    def press(self, message: dict, user: dict, button_text: str) -> str:
        """Press the inline button labelled ``button_text`` under one of the bot's messages."""
        current = self.messages[(message["chat"]["id"], message["message_id"])]
        rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
        data = [b["callback_data"] for row in rows for b in row if b.get("text") == button_text]
        assert data, f"no button {button_text!r} under message {message['message_id']}: {rows}"
        qid = f"cbq{next(self._callback_ids)}"
        self.callbacks[qid] = {"answered": False, "text": None, "show_alert": None, "data": data[0]}
        self._push({"callback_query": {"id": qid, "from": user, "message": current, "chat_instance": "ci1",
                                       "data": data[0]}})
        return qid

    def push_raw(self, update: dict) -> int:
        return self._push(update)

    def _push(self, update: dict) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._notify()
        return update_id

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(wake())

    # -- reading what the bot did ---------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[ApiCall]:
        return [c for c in self.calls if c.name == method.lower() and c.ok
                and (chat_id is None or c.chat_id == chat_id)]

    def bot_messages(self, chat_id: int) -> list[dict]:
        """The bot's messages in a chat, in order, with edits applied."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id and m["from"]["id"] == self.me["id"]]

    def replies_to(self, message: dict) -> list[dict]:
        chat_id = message["chat"]["id"]
        return [m for m in self.bot_messages(chat_id)
                if (m.get("reply_to_message") or {}).get("message_id") == message["message_id"]]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    def unanswered_callbacks(self) -> list[str]:
        return [qid for qid, q in self.callbacks.items() if not q["answered"]]

    async def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 30.0) -> Any:
        """Wait until ``predicate()`` is truthy (checked after every API call); return its value.

        The timeout only keeps a broken test from hanging; nothing asserts on time.
        """
        async def poll() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError("gave up waiting; the bot's last calls:\n" + self.summary()) from None

    def summary(self, last: int = 40) -> str:
        """The last API calls, one line each (for failure messages)."""
        calls = [c for c in self.calls if c.name != "getupdates"][-last:]
        return "\n".join(f"{c.method} chat={c.chat_id} ok={c.ok} {c.text[:80]!r} {c.result if not c.ok else ''}"
                         for c in calls)

    async def wait_call(self, method: str, *, chat_id: int | None = None,
                        where: Callable[[ApiCall], bool] = lambda c: True, count: int = 1) -> list[ApiCall]:
        def found() -> list[ApiCall] | None:
            hits = [c for c in self.calls_of(method, chat_id) if where(c)]
            return hits if len(hits) >= count else None

        return await self.wait_for(found)

    # -- the API --------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["bot_token"] != f"bot{self.token}":
            return self._error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params, files = await self._parse(request)
        call = ApiCall(method, params, files)
        try:
            if queued := self.failures.get(method.lower()):
                raise queued.pop(0)
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params, files) if asyncio.iscoroutinefunction(handler) else handler(params, files)
        except ApiError as e:
            call.ok, call.result, call.error_code = False, e.description, e.code
            self._record(call)
            self.errors.append(call)
            return self._error_response(e)
        call.result = result
        self._record(call)
        return web.Response(body=json.dumps({"ok": True, "result": result}), content_type="application/json")

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self._notify()

    @staticmethod
    def _error_response(e: ApiError) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": e.code, "description": e.description}
        if e.retry_after is not None:
            body["parameters"] = {"retry_after": e.retry_after}
        return web.Response(status=e.code, body=json.dumps(body), content_type="application/json")

    @staticmethod
    async def _parse(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = Upload(key, value.filename, value.content_type, value.file.read())
                else:
                    params[key] = value
        for key, value in list(params.items()):
            if key in _JSON_FIELDS and isinstance(value, str):
                params[key] = json.loads(value)
            elif key in _INT_FIELDS and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                params[key] = int(value)
        return params, files

    def _chat(self, params: dict) -> dict:
        chat = self.chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _new_bot_message(self, params: dict, **content: Any) -> dict:
        chat = self._chat(params)
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                               "from": {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")}}
        reply = params.get("reply_parameters")
        if reply:
            target = self.messages.get((chat["id"], reply["message_id"]))
            if target is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if target is not None:
                msg["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        if params.get("reply_markup"):
            self._check_markup(params["reply_markup"])
            msg["reply_markup"] = params["reply_markup"]
        msg.update(content)
        self.messages[(chat["id"], msg["message_id"])] = msg
        return msg

    @staticmethod
    def _check_markup(markup: dict) -> None:
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _m_getme(self, params: dict, files: dict) -> dict:
        return self.me

    def _m_deletewebhook(self, params: dict, files: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") in ("true", True):
            self._updates.clear()
        return True

    def _m_setwebhook(self, params: dict, files: dict) -> bool:
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: invalid URL")
        self.webhook = params
        return True

    async def _m_getupdates(self, params: dict, files: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset") or 0
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed: forgotten
        limit = params.get("limit") or 100
        # Long polling: wait for an update, but at most 1 s so a stopping client is never held up.
        wait = min(float(params.get("timeout") or 0), 1.0)
        deadline = asyncio.get_running_loop().time() + wait
        async with self._changed:
            while not self._updates and not self._closing and (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
        return self._updates[:limit]

    def _m_getfile(self, params: dict, files: dict) -> dict:
        f = self.files.get(params.get("file_id", ""))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if f["size"] > DOWNLOAD_CAP:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": params["file_id"], "file_unique_id": f["unique"], "file_size": f["size"],
                "file_path": f["path"]}

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["bot_token"] != f"bot{self.token}":
            return web.Response(status=401)
        path = request.match_info["path"]
        for file_id, f in self.files.items():
            if f["path"] == path:
                self.downloads.append(file_id)
                return web.Response(body=f["data"], content_type="application/octet-stream")
        return web.Response(status=404)

    def _m_sendmessage(self, params: dict, files: dict) -> dict:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        check_markup(text, params.get("parse_mode"))
        return self._new_bot_message(params, text=text)

    def _m_editmessagetext(self, params: dict, files: dict) -> dict:
        chat = self._chat(params)
        msg = self.messages.get((chat["id"], params.get("message_id")))
        if msg is None or msg["from"]["id"] != self.me["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        check_markup(text, params.get("parse_mode"))
        markup = params.get("reply_markup")
        if text == msg.get("text") and markup == msg.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        if markup:
            self._check_markup(markup)
        msg["text"] = text
        msg["edit_date"] = int(time.time())
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        return msg

    def _media(self, kind: str, params: dict, files: dict) -> dict:
        upload = files.get(kind)
        if upload is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        check_markup(caption, params.get("parse_mode"))
        info = self._file(upload.data, kind, "", None)
        info.update({"duration": params.get("duration") or 0, "mime_type": upload.content_type})
        for key in ("title", "performer"):
            if params.get(key):
                info[key] = params[key]
        content: dict[str, Any] = {kind: info}
        if caption:
            content["caption"] = caption
        return self._new_bot_message(params, **content)

    def _m_sendaudio(self, params: dict, files: dict) -> dict:
        return self._media("audio", params, files)

    def _m_sendvoice(self, params: dict, files: dict) -> dict:
        return self._media("voice", params, files)

    def _m_sendchataction(self, params: dict, files: dict) -> bool:
        self._chat(params)
        if params.get("action") not in {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                                         "upload_voice", "upload_document", "choose_sticker", "find_location"}:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _m_answercallbackquery(self, params: dict, files: dict) -> bool:
        q = self.callbacks.get(params.get("callback_query_id", ""))
        if q is None or q["answered"]:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        q.update(answered=True, text=params.get("text"), show_alert=params.get("show_alert") in ("true", True))
        return True

    def _m_setmycommands(self, params: dict, files: dict) -> bool:
        commands = params.get("commands") or []
        for c in commands:
            if not _COMMAND.match(c.get("command", "")) or not 1 <= len(c.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat" and scope.get("chat_id") not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        self.commands[(json.dumps(scope, sort_keys=True), params.get("language_code") or "")] = commands
        return True
