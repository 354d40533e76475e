"""Input and load that must not hurt the bot: markup in catalog titles, and bursts of voice notes
that would otherwise all be downloaded at once."""

from __future__ import annotations

import asyncio

import pytest
from audio_fixtures import encode, tune
from fake_bot_api import FakeBotAPI, check_markup
from tg_support import ADMIN_ID, NOTES, clip_reply, final_reply, hum, make_service, settle

from adapters.telegram import TelegramAdapter
from core import messages
from core.service import HumService

TITLE = "<b>Bold</b> & Co_*[x](y)` \\"
ARTIST = "*Star* <i>&amp;"


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory):
    svc = await make_service(tmp_path_factory.mktemp("tg-safety"), [1, 2])
    await svc.add_song(encode(tune(3, notes=NOTES), "flac"), filename="tune3.flac", title=TITLE, artist=ARTIST)
    yield svc
    await svc.close()


def test_the_fake_refuses_what_telegram_cannot_parse() -> None:
    check_markup(TITLE, None)  # plain text: anything goes
    check_markup("<b>x</b> &amp; y", "HTML")
    for text, mode in [(TITLE, "HTML"), ("a & b", "HTML"), (TITLE, "MarkdownV2"), ("v1.0", "MarkdownV2"),
                       ("Co_x", "Markdown")]:
        with pytest.raises(Exception, match="can't parse entities"):
            check_markup(text, mode)


async def test_titles_with_markup_are_shown_literally(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(9001)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(3, 1.0), duration=10))
    answer = (await final_reply(fake, request))["text"]
    assert answer.splitlines()[1].startswith(f"1. {TITLE} — {ARTIST} · ")
    [clip] = await clip_reply(fake, request)
    assert clip["audio"]["title"] == TITLE and clip["audio"]["performer"] == ARTIST
    assert f"{TITLE} — {ARTIST}" in clip["caption"]
    admin = fake.user(ADMIN_ID)
    listing = fake.push_message(fake.chats[ADMIN_ID], admin, text="/songs")
    assert f" · {TITLE} — {ARTIST} · " in (await final_reply(fake, listing))["text"]
    # Sent as plain text (no parse_mode): nothing a title holds can be taken as markup. Were a
    # parse mode ever set, the fake would refuse the unescaped title (and the fixture would fail).
    sent = [c for c in fake.calls if c.name in ("sendmessage", "editmessagetext", "sendaudio")]
    assert sent and all(not c.params.get("parse_mode") for c in sent)


async def test_a_burst_from_one_user_is_refused_before_anything_is_downloaded(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = service.limits.max_in_flight_per_user
    # Hold searches at the index, so the first requests stay in flight (downloaded, searching).
    gate = asyncio.Event()
    real_search = service.index.search

    async def held_search(*args, **kwargs):
        await gate.wait()
        return await real_search(*args, **kwargs)

    monkeypatch.setattr(service.index, "search", held_search)
    user = fake.user(9101)
    chat = fake.private_chat(user)
    try:
        first = [fake.push_message(chat, user, fake.voice(hum(1, 0.0), duration=10)) for _ in range(limit)]
        await fake.wait_for(lambda: all(r["voice"]["file_id"] in fake.downloads for r in first))
        extra = fake.push_message(chat, user, fake.voice(hum(2, 0.0), duration=10))
        assert (await final_reply(fake, extra, timeout=15))["text"] == messages.t("busy_yours", "en")
        file_id = extra["voice"]["file_id"]
        assert file_id not in [c.params.get("file_id") for c in fake.calls_of("getFile")]
        assert file_id not in fake.downloads
        assert bot.deps.admission.in_flight_of(user["id"]) == limit
        # Someone else is not held up by this user's burst.
        other = fake.user(9102)
        theirs = fake.push_message(fake.private_chat(other), other, fake.voice(hum(2, 0.0), duration=10))
        await fake.wait_for(lambda: theirs["voice"]["file_id"] in fake.downloads)
    finally:
        gate.set()  # a failed check must not leave searches held (stopping the bot would wait forever)
    for request in [*first, theirs]:
        assert (await final_reply(fake, request))["text"].startswith("Best matches:")
    await settle(bot, fake)  # every handler has returned: their places are given back
    assert bot.deps.admission.in_flight == 0


async def test_a_failed_request_gives_its_place_back(bot: TelegramAdapter, fake: FakeBotAPI,
                                                     service: HumService) -> None:
    user = fake.user(9201)
    chat = fake.private_chat(user)
    broken = [fake.push_message(chat, user, fake.voice(b"OggS" + bytes(range(256)) * 40, duration=5))
              for _ in range(service.limits.max_in_flight_per_user + 1)]
    texts = [(await final_reply(fake, r))["text"] for r in broken]
    assert texts.count(messages.t("audio_corrupt", "en")) >= service.limits.max_in_flight_per_user
    await settle(bot, fake)
    assert bot.deps.admission.in_flight == 0
