"""Lifecycle: graceful stop, restarts (buttons keep working, queued updates answered), webhook
mode, a rejected token, and command menus that Telegram refuses for one admin."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from fake_bot_api import FakeBotAPI
from tg_support import ADMIN_ID, clip_reply, final_reply, hum, make_service, telegram_config

from adapters.telegram import TelegramAdapter
from bot.config import parse_config
from core.errors import ConfigError
from core.service import HumService


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory):
    svc = await make_service(tmp_path_factory.mktemp("tg-life"), [1, 2, 4])
    yield svc
    await svc.close()


async def test_stop_lets_a_search_in_flight_finish_and_answer(bot: TelegramAdapter, fake: FakeBotAPI,
                                                               service: HumService,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Hold the search at the index until stop() is under way, so it is surely in flight.
    gate, reached = asyncio.Event(), asyncio.Event()
    real_search = service.index.search

    async def held_search(*args, **kwargs):
        reached.set()
        await gate.wait()
        return await real_search(*args, **kwargs)

    monkeypatch.setattr(service.index, "search", held_search)
    user = fake.user(8001)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(4, 0.0), duration=10))
    await asyncio.wait_for(reached.wait(), 60)
    stopping = asyncio.create_task(bot.stop())
    await asyncio.sleep(0.5)
    assert not stopping.done(), "stop() must wait for the search in flight"
    gate.set()
    await asyncio.wait_for(stopping, 120)
    answer = fake.replies_to(request)
    assert answer[0]["text"].splitlines()[1].startswith("1. Tune 4 — Artist 4")
    assert answer[1]["audio"]["title"] == "Tune 4"


async def test_buttons_and_queued_messages_survive_a_restart(fake: FakeBotAPI, service: HumService) -> None:
    user = fake.user(8101)
    chat = fake.private_chat(user)
    fake.private_chat(fake.user(ADMIN_ID))
    first = TelegramAdapter(telegram_config(fake), service)
    await first.start()
    request = fake.push_message(chat, user, fake.voice(hum(1, 1.0), duration=10))
    clip = (await clip_reply(fake, request))[0]
    second_title = (await final_reply(fake, request))["text"].splitlines()[2].split(" — ")[0][3:]
    await first.stop()

    # While the bot is down: a button press and a new voice note wait at Telegram.
    fake.press(clip, user, "▶ 2")
    later = fake.push_message(chat, user, fake.voice(hum(2, 0.0), duration=10))
    restarted = TelegramAdapter(telegram_config(fake), service)
    await restarted.start()
    try:
        replayed = (await clip_reply(fake, clip))[0]
        assert replayed["audio"]["title"] == second_title
        assert (await final_reply(fake, later))["text"].splitlines()[1].startswith("1. Tune 2 — Artist 2")
    finally:
        await restarted.stop()
    assert fake.unanswered_callbacks() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_accepts_telegram_posts_with_the_secret_only(fake: FakeBotAPI,
                                                                        service: HumService) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    cfg = telegram_config(fake, mode="webhook", webhook_url=url, webhook_listen="127.0.0.1", webhook_port=port,
                          webhook_secret="s3cret-token")
    adapter = TelegramAdapter(cfg, service)
    await adapter.start()
    user = fake.user(8201)
    chat = fake.private_chat(user)
    update = {"update_id": 1, "message": {"message_id": 501, "date": 1700000000, "chat": chat, "from": user,
                                          "text": "/start",
                                          "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    fake.messages[(chat["id"], 501)] = update["message"]
    try:
        assert fake.webhook["url"] == url and fake.webhook["secret_token"] == "s3cret-token"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403
            async with http.post(url, data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token",
                                                                   "Content-Type": "application/json"}) as r:
                assert r.status == 400
            async with http.post(url, data=json.dumps(update),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token",
                                          "Content-Type": "application/json"}) as r:
                assert r.status == 200
        assert (await final_reply(fake, update["message"]))["text"].startswith("Hi! I find songs")
        assert len(fake.replies_to(update["message"])) == 1  # the refused POST did nothing
    finally:
        await adapter.stop()
    assert fake.calls_of("getUpdates") == []
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(url, json=update)


async def test_a_rejected_token_is_a_config_error(fake: FakeBotAPI, service: HumService) -> None:
    adapter = TelegramAdapter(telegram_config(fake, token="999:not-the-token"), service)
    with pytest.raises(ConfigError, match="telegram.token was rejected"):
        await adapter.start()
    assert adapter.app is None


async def test_an_admin_menu_telegram_refuses_does_not_stop_the_bot(fake: FakeBotAPI, service: HumService) -> None:
    fake.expected_errors.add("chat not found")
    adapter = TelegramAdapter(telegram_config(fake, admins=[13]), service)  # never opened a chat with the bot
    await adapter.start()
    try:
        assert [c.error_code for c in fake.errors] == [400, 400]  # en and zh admin menus
        user = fake.user(8301)
        chat = fake.private_chat(user)
        request = fake.push_message(chat, user, text="/start")
        assert (await final_reply(fake, request))["text"].startswith("Hi!")
    finally:
        await adapter.stop()


def test_webhook_mode_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="telegram.webhook_url is required"):
        parse_config({"telegram": {"mode": "webhook"}})


@pytest.mark.parametrize(("secret", "expected"), [
    (None, "telegram.webhook_secret is required in webhook mode.*set TELEGRAM_WEBHOOK_SECRET"),
    ("not a valid secret!", "telegram.webhook_secret may only hold 1–256 letters, digits, _ and -"),
])
async def test_webhook_mode_refuses_to_start_without_a_usable_secret(fake: FakeBotAPI, service: HumService,
                                                                     secret: str | None, expected: str) -> None:
    # Without the secret, anyone who finds the URL could post updates as any user (admins too).
    cfg = telegram_config(fake, mode="webhook", webhook_url="https://bot.example.org/hook", webhook_secret=secret)
    adapter = TelegramAdapter(cfg, service)
    with pytest.raises(ConfigError, match=expected):
        await adapter.start()
    assert adapter.app is None
    assert fake.calls == [] and fake.webhook is None  # refused before anything connected
