"""A local stand-in for Discord: REST API, gateway websocket and CDN on one aiohttp server.

The real discord.py client talks to it over HTTP exactly as it talks to Discord once
``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` point here
(:meth:`FakeDiscord.patch_discord` does both and :meth:`FakeDiscord.close` restores them).
Every REST call is recorded as a :class:`Call` (with uploaded files); tests wait for the calls
they expect with :meth:`FakeDiscord.wait_for`.

Wire details that matter (see /work/shared/notes/bots.md §4):
- JSON replies carry ``Content-Type: application/json`` *exactly*: discord.py parses nothing else.
- The interaction callback answers ``{"interaction": {...}}`` because discord.py asks
  ``with_response=1``.
- ``applications/@me`` includes an ``owner``, which ``login()`` reads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import WSMsgType, web

APP_ID = 900000000000000001
BOT_ID = 900000000000000001  # a bot user shares its application's id
OWNER_ID = 900000000000000002
GUILD_ID = 910000000000000001
CHANNEL_ID = 920000000000000001
ADMIN_USER = 940000000000000001  # the tests' config lists this user in admin_user_ids
ADMIN_ROLE = 950000000000000001  # ... and this role in admin_role_ids

# Discord snowflakes: milliseconds since 2015-01-01 in the top bits. Interaction ids must be
# realistic because discord.py derives ``interaction.created_at`` (and cooldowns) from them.
_ids = itertools.count(1)
_users = itertools.count(1)


def new_user_id() -> int:
    """A fresh user per test keeps per-user cooldowns of one test out of the others."""
    return 930000000000000000 + next(_users)


def snowflake() -> int:
    return discord.utils.time_snowflake(datetime.now(UTC)) + next(_ids) % 4096


def _json(data: Any, status: int = 200) -> web.Response:
    # Not web.json_response: it appends "; charset=utf-8" and discord.py would then treat the
    # body as text.
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def bot_user() -> dict[str, Any]:
    return {"id": str(BOT_ID), "username": "humbot", "discriminator": "0", "global_name": "humbot",
            "avatar": None, "bot": True, "flags": 0, "mfa_enabled": False, "verified": True}


def user_payload(user_id: int, name: str = "someone") -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None}


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[Upload] = field(default_factory=list)
    reply: Any = field(default=None, repr=False)  # what the fake answered (a message for webhook calls)

    @property
    def kind(self) -> str:
        """'callback', 'followup', 'edit', 'sync' or 'other' — the calls tests care about."""
        parts = self.path.split("/")
        if self.path.endswith("/callback"):
            return "callback"
        if parts[3:4] == ["webhooks"] and self.method == "POST":
            return "followup"
        if parts[3:4] == ["webhooks"] and self.method == "PATCH":
            return "edit"
        if self.path.endswith("/commands") and self.method == "PUT":
            return "sync"
        return "other"

    @property
    def token(self) -> str | None:
        """The interaction token of a callback, follow-up or edit."""
        parts = self.path.split("/")
        if self.kind == "callback":
            return parts[5]
        if self.kind in ("followup", "edit"):
            return parts[5]
        return None

    @property
    def content(self) -> str | None:
        body = self.json or {}
        if self.kind == "callback":
            body = body.get("data") or {}
        return body.get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        body = self.json or {}
        if self.kind == "callback":
            body = body.get("data") or {}
        return body.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        body = self.json or {}
        if self.kind == "callback":
            body = body.get("data") or {}
        return body.get("components") or []

    @property
    def flags(self) -> int:
        body = self.json or {}
        if self.kind == "callback":
            body = body.get("data") or {}
        return int(body.get("flags") or 0)

    def text(self) -> str:
        """Everything a user would read: content plus embed titles, descriptions, fields, footers."""
        out = [self.content or ""]
        for e in self.embeds:
            out += [e.get("title") or "", e.get("description") or ""]
            out += [f"{f.get('name')} {f.get('value')}" for f in e.get("fields") or []]
            out.append((e.get("footer") or {}).get("text") or "")
        return "\n".join(s for s in out if s)

    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.components for c in row.get("components", []) if c.get("type") == 2]


class FakeDiscord:
    """REST + gateway + CDN on 127.0.0.1. Start with ``await fake.start()``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # CDN paths fetched
        self.unknown: list[str] = []  # routes the fake does not implement (a test bug or a new call)
        self._cdn: dict[str, tuple[bytes, str]] = {}
        self._messages: dict[int, dict[str, Any]] = {}
        self._changed = asyncio.Condition()
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self.identified = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self.reject_token: str | None = None  # login with this token gets 401 Unauthorized

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{name:.+}", self._cdn_get)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def patch_discord(self) -> None:
        """Point discord.py's REST base and gateway at this server (undone by :meth:`close`)."""
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = f"{self.url}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")

    async def close(self) -> None:
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- CDN ---------------------------------------------------------------------------
    def host_file(self, filename: str, data: bytes, content_type: str | None) -> str:
        """Serve ``data`` on the fake CDN; returns its URL (what an attachment's ``url`` holds)."""
        name = f"{secrets.token_hex(4)}/{filename}"
        self._cdn[name] = (data, content_type or "application/octet-stream")
        return f"{self.url}/cdn/{name}"

    def forget_file(self, url: str) -> None:
        """Make a hosted file disappear (a deleted message's attachment): its URL answers 404."""
        self._cdn.pop(url.split("/cdn/", 1)[1], None)

    def was_downloaded(self, url: str) -> bool:
        return url.split("/cdn/", 1)[1] in self.downloads

    async def _cdn_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.downloads.append(name)
        if name not in self._cdn:
            return web.Response(status=404)
        data, ctype = self._cdn[name]
        return web.Response(body=data, content_type=ctype)

    # -- gateway -----------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.identified.clear()  # a new session (the bot restarted): wait for its IDENTIFY
        # Plain-text JSON frames: the client only decompresses binary frames.
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:  # heartbeat
                await ws.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2:  # identify
                await self._send_dispatch("READY", {
                    "v": 10, "user": bot_user(), "guilds": [], "session_id": secrets.token_hex(8),
                    "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                    "application": {"id": str(APP_ID), "flags": 0}, "shard": [0, 1],
                })  # fmt: skip
                self.identified.set()
        return ws

    async def _send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None, "the bot is not connected to the fake gateway"
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "s": self._seq, "t": event, "d": data}))

    async def dispatch_interaction(self, payload: dict[str, Any]) -> None:
        """Deliver INTERACTION_CREATE over the gateway, as Discord does."""
        await self.identified.wait()
        await self._send_dispatch("INTERACTION_CREATE", payload)

    # -- REST --------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        path = request.path
        body: Any = None
        files: list[Upload] = []
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files.append(Upload(name, value.filename, value.content_type, value.file.read()))
                elif name == "payload_json":
                    body = json.loads(value)
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        call = Call(request.method, path, dict(request.query), body, files)
        response = self._route(call, request)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return response

    def _route(self, call: Call, request: web.Request) -> web.Response:
        parts = call.path.split("/")[3:]  # after /api/v10
        m = call.method
        if self.reject_token and request.headers.get("Authorization") == f"Bot {self.reject_token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if m == "GET" and parts == ["users", "@me"]:
            return _json(bot_user())
        if m == "GET" and parts == ["oauth2", "applications", "@me"]:
            return _json({
                "id": str(APP_ID), "name": "humbot", "icon": None, "description": "", "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
                "owner": user_payload(OWNER_ID, "owner"), "team": None, "flags": 0,
                "interactions_endpoint_url": None, "summary": "",
            })  # fmt: skip
        if m == "PUT" and parts[-1] == "commands":
            guild = parts[3] if len(parts) > 4 else None
            # Discord answers with the stored commands; context menus get an empty description.
            out = [{"description": "", **c, "id": str(snowflake()), "application_id": str(APP_ID),
                    "version": str(snowflake()), **({"guild_id": guild} if guild else {})} for c in call.json]
            return _json(out)
        if m == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return _json(self._callback(int(parts[1]), call))
        if parts[0] == "webhooks" and m == "POST":
            msg = self._message(call)
            call.reply = msg
            return _json(msg)
        if parts[0] == "webhooks" and m == "PATCH" and parts[3] == "messages":
            msg = self._message(call, message_id=None if parts[4] == "@original" else int(parts[4]))
            call.reply = msg
            return _json(msg)
        if parts[0] == "webhooks" and m == "DELETE":
            return web.Response(status=204)
        self.unknown.append(f"{m} {call.path}")
        return _json({"message": "Unknown route in the fake", "code": 0}, status=404)

    def _callback(self, interaction_id: int, call: Call) -> dict[str, Any]:
        rtype = call.json["type"]
        data = call.json.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        out: dict[str, Any] = {"interaction": {
            "id": str(interaction_id), "type": 2,
            "response_message_loading": rtype == 5, "response_message_ephemeral": ephemeral,
        }}  # fmt: skip
        if rtype in (4, 7):  # a message was created or updated
            msg = self._message(call)
            call.reply = msg
            out["interaction"]["response_message_id"] = msg["id"]
            out["resource"] = {"type": rtype, "message": msg}
        return out

    def _message(self, call: Call, message_id: int | None = None) -> dict[str, Any]:
        body = call.json or {}
        if call.kind == "callback":
            body = body.get("data") or {}
        mid = message_id or snowflake()
        prev = self._messages.get(mid, {})
        msg = {
            "id": str(mid), "channel_id": str(CHANNEL_ID), "type": 20 if not prev else prev["type"],
            "author": bot_user(), "content": body.get("content", prev.get("content", "")),
            "embeds": body.get("embeds", prev.get("embeds", [])),
            "components": body.get("components", prev.get("components", [])),
            "attachments": [
                {"id": str(snowflake()), "filename": f.filename, "size": len(f.data),
                 "content_type": f.content_type, "url": self.host_file(f.filename, f.data, f.content_type),
                 "proxy_url": ""}
                for f in call.files
            ] or prev.get("attachments", []),
            "mentions": [], "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
            "timestamp": datetime.now(UTC).isoformat(), "edited_timestamp": None,
            "flags": int(body.get("flags") or 0), "webhook_id": str(APP_ID), "application_id": str(APP_ID),
        }  # fmt: skip
        self._messages[mid] = msg
        return msg

    # -- assertions --------------------------------------------------------------------
    async def wait_for(self, pred: Callable[[Call], bool], *, after: int = 0, timeout: float = 30.0) -> Call:
        """The first call from index ``after`` on that satisfies ``pred``.

        ``timeout`` only guards against a hang (a test fails rather than blocks); it is not a
        speed assertion.
        """

        def find() -> Call | None:
            return next((c for c in self.calls[after:] if pred(c)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: find() is not None), timeout)
        found = find()
        assert found is not None
        return found

    def calls_for(self, token: str) -> list[Call]:
        return [c for c in self.calls if c.token == token]


# -- payloads a user's actions produce ---------------------------------------------------------
DEFAULT_PERMISSIONS = str(discord.Permissions(send_messages=True, view_channel=True, attach_files=True).value)
ADMIN_PERMISSIONS = str(discord.Permissions.all().value)


def attachment(fake: FakeDiscord, filename: str, data: bytes, content_type: str | None, *,
               size: int | None = None, voice_seconds: float | None = None) -> dict[str, Any]:
    """An attachment hosted on the fake CDN. ``voice_seconds`` makes it a voice message
    (Discord sends ``duration_secs`` and a ``waveform`` for those); ``size`` lets a test announce
    another size than the bytes (an oversized upload without shipping megabytes)."""
    out: dict[str, Any] = {
        "id": str(snowflake()), "filename": filename, "size": len(data) if size is None else size,
        "url": fake.host_file(filename, data, content_type), "proxy_url": "", "flags": 0,
    }  # fmt: skip
    if content_type:
        out["content_type"] = content_type
    if voice_seconds is not None:
        out["duration_secs"] = voice_seconds
        out["waveform"] = "AAAAAAAA"  # base64 of 6 zero bytes
    return out


def message(attachments: list[dict[str, Any]], *, author_id: int = 930000000000000009, content: str = "",
            voice: bool = False) -> dict[str, Any]:
    """A user's message in the test channel; ``voice=True`` sets the voice-message flag (8192)."""
    return {
        "id": str(snowflake()), "channel_id": str(CHANNEL_ID), "type": 0, "content": content,
        "author": user_payload(author_id, "hummer"), "attachments": attachments, "embeds": [],
        "components": [],
        "mentions": [], "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
        "timestamp": datetime.now(UTC).isoformat(), "edited_timestamp": None, "flags": 8192 if voice else 0,
    }  # fmt: skip


def _interaction(itype: int, data: dict[str, Any], *, user_id: int, roles: tuple[int, ...] = (),
                 permissions: str = DEFAULT_PERMISSIONS, locale: str = "en-US",
                 size_limit: int = 10 * 1024 * 1024, guild: bool = True,
                 message: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(snowflake()), "application_id": str(APP_ID), "type": itype,
        "token": secrets.token_urlsafe(24), "version": 1, "data": data, "locale": locale,
        "app_permissions": ADMIN_PERMISSIONS, "attachment_size_limit": size_limit, "entitlements": [],
        "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "name": "general", "guild_id": str(GUILD_ID),
                    "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                    "topic": None},
    }  # fmt: skip
    if guild:
        out["guild_id"] = str(GUILD_ID)
        out["guild_locale"] = "en-US"
        out["guild"] = {"id": str(GUILD_ID), "locale": "en-US", "features": []}
        out["member"] = {
            "user": user_payload(user_id), "roles": [str(r) for r in roles], "permissions": permissions,
            "joined_at": datetime.now(UTC).isoformat(), "deaf": False, "mute": False, "flags": 0,
            "nick": None, "avatar": None, "premium_since": None, "pending": False,
        }  # fmt: skip
        out["context"] = 0
    else:
        out["user"] = user_payload(user_id)
        out["context"] = 1
        out["channel"] = {"id": str(CHANNEL_ID), "type": 1, "recipients": [user_payload(user_id)]}
    if message is not None:
        out["message"] = message
    return out


def slash(name: str, *, user_id: int, options: dict[str, Any] | None = None,
          attachments: dict[str, dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """``/name`` with string/int ``options`` and attachment options (name → attachment payload)."""
    opts: list[dict[str, Any]] = []
    for key, value in (options or {}).items():
        opts.append({"name": key, "type": 4 if isinstance(value, int) else 3, "value": value})
    resolved: dict[str, Any] = {}
    for key, att in (attachments or {}).items():
        opts.append({"name": key, "type": 11, "value": att["id"]})
        resolved.setdefault("attachments", {})[att["id"]] = att
    data = {"id": str(snowflake()), "name": name, "type": 1, "options": opts, "resolved": resolved}
    return _interaction(2, data, user_id=user_id, **kw)


def message_menu(name: str, target: dict[str, Any], *, user_id: int, **kw: Any) -> dict[str, Any]:
    """A message context-menu command (right-click → Apps → ``name``) on ``target``."""
    data = {"id": str(snowflake()), "name": name, "type": 3, "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}}}
    return _interaction(2, data, user_id=user_id, **kw)


def button_click(message_payload: dict[str, Any], custom_id: str, *, user_id: int,
                 **kw: Any) -> dict[str, Any]:
    """A press of the button ``custom_id`` on a message the bot posted (as the fake stored it)."""
    data = {"custom_id": custom_id, "component_type": 2}
    return _interaction(3, data, user_id=user_id, message=message_payload, **kw)


def is_answer(call: Call) -> bool:
    """A call that shows the user something: a message callback, a follow-up or an edit."""
    return (call.kind == "callback" and call.json["type"] in (4, 7)) or call.kind in ("followup", "edit")


async def interact(fake: FakeDiscord, payload: dict[str, Any]) -> Call:
    """Deliver an interaction over the gateway and return the bot's answer to it."""
    start = len(fake.calls)
    await fake.dispatch_interaction(payload)
    return await fake.wait_for(lambda c: c.token == payload["token"] and is_answer(c), after=start)
