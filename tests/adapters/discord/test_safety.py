"""Input and load that must not hurt the bot: titles that look like mentions, floods of ▶ presses,
and bursts of recordings that would otherwise all be downloaded at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from audio_fixtures import encode, tune
from discord_support import FaultyIndex, voice_note
from fake_discord import (
    ADMIN_USER,
    Call,
    FakeDiscord,
    attachment,
    button_click,
    interact,
    is_answer,
    message,
    message_menu,
    new_user_id,
    slash,
)

from adapters.common import actions
from adapters.common import texts as common_texts
from adapters.discord import DiscordAdapter
from core import messages
from core.service import HumService

EPHEMERAL = 64


def _with_play_button(custom_id: str) -> dict[str, Any]:
    """A message of the bot's with one ▶ button, as Discord sends it back when it is pressed."""
    msg = message([])
    msg["components"] = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "▶ 2",
                                                     "custom_id": custom_id}]}]
    return msg


def _body(call: Call) -> dict[str, Any]:
    body = call.json or {}
    return body.get("data") or {} if call.kind == "callback" else body


async def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``predicate`` (the fake's CDN downloads have no event to wait on); the timeout only
    keeps a broken test from hanging."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_titles_that_look_like_mentions_never_ping_anyone(fake: FakeDiscord, adapter: DiscordAdapter,
                                                                service: HumService) -> None:
    title, artist = "@everyone <@123>", "<@&456> @here"
    start = len(fake.calls)
    song = attachment(fake, "tune6.flac", encode(tune(6), "flac"), "audio/flac")
    added = await interact(fake, slash("addsong", user_id=ADMIN_USER, attachments={"file": song},
                                       options={"title": title, "artist": artist}))
    song_id = added.text().split("(id ")[1].rstrip(").")
    try:
        assert f"“{title}”" in added.text()
        play = actions.encode(actions.Play(song_id, 0))
        posted = await interact(fake, button_click(_with_play_button(play), play, user_id=new_user_id()))
        assert f"{title} — {artist}" in posted.text() and posted.files
        await interact(fake, slash("help", user_id=new_user_id()))  # an answer that is not a follow-up
    finally:
        await service.remove_song(song_id)
    answers = [c for c in fake.calls[start:] if is_answer(c)]
    assert {c.kind for c in answers} == {"callback", "followup"}
    # Discord pings whoever a message's text mentions unless allowed_mentions says otherwise.
    assert all(_body(c).get("allowed_mentions") == {"parse": []} for c in answers), answers


async def test_play_buttons_are_rate_limited_per_user(fake: FakeDiscord, adapter: DiscordAdapter,
                                                      service: HumService) -> None:
    song = (await service.list_songs())[0]
    play = actions.encode(actions.Play(song.song_id, 0))
    pressed = _with_play_button(play)
    user = new_user_id()
    for _ in range(service.limits.user_requests_per_minute):
        posted = await interact(fake, button_click(pressed, play, user_id=user))
        assert posted.kind == "followup" and posted.files
    refused = await interact(fake, button_click(pressed, play, user_id=user))
    assert refused.kind == "callback" and refused.flags & EPHEMERAL  # only the presser sees it
    assert refused.text().startswith("Slow down a little — you can send another recording in ")
    assert not refused.files
    # Another user, and an admin, are not held back by this one's presses.
    assert (await interact(fake, button_click(pressed, play, user_id=new_user_id()))).files
    assert (await interact(fake, button_click(pressed, play, user_id=ADMIN_USER))).files


async def test_searches_and_play_presses_share_one_limit(fake: FakeDiscord, adapter: DiscordAdapter,
                                                         service: HumService) -> None:
    """The one limiter of adapters.common.ratelimit, as on Telegram: ▶ presses, /hum and "Find
    this song" fill one bucket per user, each refusal gets the one "slow down" text, and admins
    are not held back."""
    song = (await service.list_songs())[0]
    play = actions.encode(actions.Play(song.song_id, 0))
    pressed = _with_play_button(play)
    big = attachment(fake, "big.ogg", b"OggS", "audio/ogg", size=30 * 1024 * 1024)  # refused cheaply
    user = new_user_id()
    assert (await interact(fake, button_click(pressed, play, user_id=user))).files
    for _ in range(service.limits.user_requests_per_minute - 1):
        reply = await interact(fake, slash("hum", user_id=user, attachments={"recording": big}))
        assert reply.text().startswith("That file is 30.0 MB")
    slow = common_texts.t("rate_limited", "en", seconds=60).split(" in ")[0]
    for refused in [
        await interact(fake, slash("hum", user_id=user, attachments={"recording": big})),
        await interact(fake, message_menu("Find this song", message([big]), user_id=user)),
        await interact(fake, button_click(pressed, play, user_id=user)),
    ]:
        assert refused.kind == "callback" and refused.flags & EPHEMERAL
        assert refused.text().startswith(slow + " in ") and not refused.files
    for _ in range(service.limits.user_requests_per_minute + 1):  # admins: never "slow down"
        reply = await interact(fake, slash("hum", user_id=ADMIN_USER, attachments={"recording": big}))
        assert reply.text().startswith("That file is 30.0 MB")


async def test_a_burst_from_one_user_is_refused_before_anything_is_downloaded(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService, faulty: FaultyIndex) -> None:
    user = new_user_id()
    gate = asyncio.Event()
    faulty.gate = gate  # searches wait here, so the first requests stay in flight
    try:
        first = [slash("hum", user_id=user, attachments={"recording": attachment(
            fake, "voice-message.ogg", voice_note(1, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)})
            for _ in range(service.limits.max_in_flight_per_user)]
        for payload in first:
            await fake.dispatch_interaction(payload)
        urls = [p["data"]["resolved"]["attachments"][p["data"]["options"][0]["value"]]["url"] for p in first]
        await _until(lambda: all(fake.was_downloaded(u) for u in urls))
        extra = attachment(fake, "voice-message.ogg", voice_note(2, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
        refused = await interact(fake, slash("hum", user_id=user, attachments={"recording": extra}))
        assert refused.kind == "callback" and refused.flags & EPHEMERAL  # answered at once, not deferred
        assert refused.text() == messages.t("busy_yours", "en")
        assert not fake.was_downloaded(extra["url"])
    finally:
        faulty.gate = None
        gate.set()
    for payload in first:
        answer = await fake.wait_for(lambda c, t=payload["token"]: c.token == t and c.kind == "followup")
        assert "1. Tune 1 — Artist 1 · " in answer.text()
    assert await adapter.ctx.work.drain(30)  # every handler has returned...
    assert adapter.ctx.admission.in_flight == 0  # ...and given its place back
