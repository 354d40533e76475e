"""Limits and errors: each bad input gets its own friendly message, checked before heavy work;
backend down, busy, rate limits, flood control and bugs are handled without losing anyone."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from audio_fixtures import SR, encode, tune
from fake_bot_api import FakeBotAPI
from tg_support import ADMIN_ID, final_reply, hum, melody_config, settle, silence, song

from adapters.telegram import TelegramAdapter
from bot.wiring import build_embedders
from core.catalog import Catalog
from core.errors import BackendUnavailable, Busy
from core.index.local import LocalIndex
from core.service import HumService

MB = 1024 * 1024


class SwitchableIndex(LocalIndex):
    """The embedded index with fault switches: ``down`` fails searches the way an unreachable
    cluster does (BackendUnavailable); ``broken`` fails them like a bug would."""

    down = False
    broken = False

    async def search(self, *args, **kwargs):
        if self.down:
            raise BackendUnavailable()
        if self.broken:
            raise RuntimeError("injected fault: the index blew up")
        return await super().search(*args, **kwargs)


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("tg-limits")
    # Three searches a minute per user; one worker and room for two jobs, so "busy" is reachable.
    cfg = melody_config(data_dir, limits={"user_requests_per_minute": 3, "workers": 1, "max_queued": 2})
    embedders, _ = build_embedders(cfg)
    svc = HumService(catalog=Catalog(data_dir), index=SwitchableIndex(data_dir / "index"), embedders=embedders,
                     search=cfg.search, limits=cfg.limits)
    await svc.start()
    for seed in (1, 2):
        await svc.add_song(song(seed), filename=f"tune{seed}.flac", title=f"Tune {seed}", artist=f"Artist {seed}")
    yield svc
    await svc.close()


def _private(fake: FakeBotAPI, user_id: int) -> tuple[dict, dict]:
    user = fake.user(user_id)
    return user, fake.private_chat(user)


async def test_oversized_file_is_refused_from_its_announced_size_without_downloading(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user, chat = _private(fake, 6001)
    big = fake.push_message(chat, user, fake.audio(hum(1), duration=10, file_name="concert.mp3", size=25 * MB))
    text = (await final_reply(fake, big))["text"]
    assert text.startswith("That file is 25.0 MB; the limit is 20 MB.")
    assert fake.calls_of("getFile") == [] and fake.downloads == []


async def test_file_too_big_for_the_bot_api_without_an_announced_size(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user, chat = _private(fake, 6002)
    fake.expected_errors.add("file is too big")  # Telegram's answer to getFile; the user gets ours
    doc = fake.push_message(chat, user, fake.document(hum(1), file_name="long.ogg", mime="audio/ogg",
                                                      size=21 * MB, announced=False))
    text = (await final_reply(fake, doc))["text"]
    assert "larger than the 20 MB limit" in text and "20.0 MB" not in text  # its size was never known
    assert fake.downloads == []


@pytest.mark.parametrize(("what", "expected"), [
    ("corrupt", "I couldn't decode that recording — the file seems damaged."),
    ("one-second voice", "That recording is only 1.0 s long. Please hum or sing at least 2 seconds"),
    ("one-second file", "Please hum or sing at least 2 seconds"),
    ("silent", "I couldn't hear anything in that recording."),
    ("not audio", "That doesn't look like audio."),
])
async def test_bad_recordings_each_get_their_message(bot: TelegramAdapter, fake: FakeBotAPI, what: str,
                                                     expected: str) -> None:
    user, chat = _private(fake, 6100)
    one_second = encode(tune(1, notes=32, voice=True)[: SR], "ogg")
    content = {
        "corrupt": lambda: fake.voice(b"OggS" + bytes(range(256)) * 40, duration=5),
        "one-second voice": lambda: fake.voice(one_second, duration=1),
        "one-second file": lambda: fake.document(one_second, file_name="short.ogg", mime="audio/ogg"),
        "silent": lambda: fake.voice(silence(6.0), duration=6),
        "not audio": lambda: fake.document(b"just some text, no sound", file_name="notes.mp3", mime="audio/mpeg"),
    }[what]()
    request = fake.push_message(chat, user, content)
    text = (await final_reply(fake, request))["text"]
    assert expected in text, text
    if what == "one-second voice":  # Telegram said 1 s: refused before downloading
        assert fake.downloads == []


async def test_backend_down_says_temporarily_unavailable_then_recovers(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    user, chat = _private(fake, 6200)
    service.index.down = True
    try:
        first = fake.push_message(chat, user, fake.voice(hum(1), duration=10))
        text = (await final_reply(fake, first))["text"]
        assert text == "Search is temporarily unavailable. Please try again in a few minutes."
    finally:
        service.index.down = False
    again = fake.push_message(chat, user, fake.voice(hum(1), duration=10))
    assert (await final_reply(fake, again))["text"].splitlines()[1].startswith("1. Tune 1 — Artist 1")


async def test_a_bug_gets_a_generic_apology_and_its_traceback_goes_to_the_log(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService, caplog: pytest.LogCaptureFixture) -> None:
    user, chat = _private(fake, 6300)
    caplog.set_level(logging.ERROR, logger="adapters.telegram")
    service.index.broken = True
    try:
        request = fake.push_message(chat, user, fake.voice(hum(2), duration=10))
        text = (await final_reply(fake, request))["text"]
    finally:
        service.index.broken = False
    assert text == "Something went wrong on my side. Please try again."
    assert "injected fault" not in text
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]
    assert logged and logged[0].name == "adapters.telegram"


async def test_busy_service_says_try_again_in_a_moment_and_nothing_is_lost(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    user, chat = _private(fake, 6400)
    release = threading.Event()
    # Fill the service's work queue (one worker, two slots) the way long jobs would, with every
    # slot held by a blocker: a job an earlier test's search left (its clip, sent after the text)
    # can take a slot meanwhile and free it while this voice note downloads, which then gets in
    # (seen in the full suite). A blocker refused as Busy is dropped and another tried.
    blockers: list[asyncio.Future] = []
    slots = service.admission.limits.max_queued

    async def fill() -> None:
        # First the service idle for a while: a job of an earlier test's search that queues behind
        # a blocker would hold its slot until the blockers are released.
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while loop.time() - quiet_since < 0.5:
            if service.admission.waiting:
                quiet_since = loop.time()
            await asyncio.sleep(0.01)
        while True:
            for b in [b for b in blockers if b.done()]:
                assert isinstance(b.exception(), Busy)  # release.wait cannot end before release
                blockers.remove(b)
            if service.admission.waiting == len(blockers) == slots:
                return
            if service.admission.waiting < slots:
                blockers.append(asyncio.ensure_future(service.admission.run(release.wait, 60)))
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(fill(), 30)
        busy = fake.push_message(chat, user, fake.voice(hum(1), duration=10))
        text = (await final_reply(fake, busy))["text"]
        assert text == "I'm busy with other songs right now — please try again in a moment."
    finally:
        release.set()
        await asyncio.gather(*blockers)
    later = fake.push_message(chat, user, fake.voice(hum(1), duration=10))
    assert (await final_reply(fake, later))["text"].splitlines()[1].startswith("1. Tune 1 — Artist 1")


async def test_per_user_rate_limit_explains_once_and_spares_others_and_admins(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    one_second = encode(tune(2, notes=32, voice=True)[: SR], "ogg")  # cheap: refused before any work
    user, chat = _private(fake, 6500)
    other, other_chat = _private(fake, 6501)
    admin = fake.user(ADMIN_ID)
    admin_chat = fake.chats[ADMIN_ID]
    mine = [fake.push_message(chat, user, fake.voice(one_second, duration=1)) for _ in range(5)]
    theirs = fake.push_message(other_chat, other, fake.voice(one_second, duration=1))
    admins = [fake.push_message(admin_chat, admin, fake.voice(one_second, duration=1)) for _ in range(5)]
    hint = fake.push_message(chat, user, text="/help")  # not work: never limited
    await final_reply(fake, hint)
    await settle(bot, fake)

    texts = [[m["text"] for m in fake.replies_to(r)] for r in mine]
    assert sum(t == [] for t in texts) == 1  # refused quietly after the first explanation
    flat = [t[0] for t in texts if t]
    assert sum(t.startswith("That recording is only") for t in flat) == 3
    assert sum(t.startswith("Slow down a little — you can send another recording in ") for t in flat) == 1
    assert fake.replies_to(theirs)[0]["text"].startswith("That recording is only")
    assert all(fake.replies_to(r)[0]["text"].startswith("That recording is only") for r in admins)


async def test_play_presses_count_in_the_same_limit_as_recordings(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    """The one limiter of adapters.common.ratelimit, as on Discord: a search and ▶ presses fill one
    bucket per user (3 a minute here); past it a recording and a press both get "slow down"."""
    user, chat = _private(fake, 6550)
    request = fake.push_message(chat, user, fake.voice(hum(1), duration=10))  # 1
    await final_reply(fake, request)

    def with_play() -> dict | None:
        return next((m for m in fake.replies_to(request) if "▶ 2" in str(m.get("reply_markup"))), None)

    buttons = await fake.wait_for(with_play)
    for _ in range(2):  # 2, 3
        qid = fake.press(buttons, user, "▶ 2")
        await fake.wait_for(lambda: fake.callbacks[qid]["answered"] or None)
        assert not fake.callbacks[qid]["show_alert"]
    refused = fake.push_message(chat, user, fake.voice(hum(1), duration=10))
    assert (await final_reply(fake, refused))["text"].startswith(
        "Slow down a little — you can send another recording in ")
    qid = fake.press(buttons, user, "▶ 2")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered"] or None)
    assert fake.callbacks[qid]["show_alert"]
    assert fake.callbacks[qid]["text"].startswith("Slow down a little — you can send another recording in ")


# PTB 22.8's own RetryAfter constructor reads its deprecated int ``retry_after``.
@pytest.mark.filterwarnings("ignore:.*retry_after.*")
async def test_telegram_flood_control_is_retried_and_the_answer_still_arrives(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user, chat = _private(fake, 6600)
    fake.expected_errors.add("Too Many Requests")
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    request = fake.push_message(chat, user, text="/start")
    assert (await final_reply(fake, request))["text"].startswith("Hi!")
    assert [c.error_code for c in fake.errors] == [429]
