"""Users: /hum, "Find this song" and the result buttons, end to end through discord.py.

Each test sends what Discord would send (an INTERACTION_CREATE over the gateway) and asserts on
what the bot sent back to the fake Discord: the deferral, the follow-up's embed, its attached
clip and its buttons.
"""

from __future__ import annotations

import pytest
from audio_fixtures import encode, siren, tune
from discord_support import voice_note
from fake_discord import (
    Call,
    FakeDiscord,
    attachment,
    button_click,
    interact,
    message,
    message_menu,
    new_user_id,
    slash,
)

from adapters.common import actions
from adapters.discord import DiscordAdapter
from core.service import HumService

EPHEMERAL = 64


def _callbacks(fake: FakeDiscord, token: str) -> list[int]:
    return [c.json["type"] for c in fake.calls_for(token) if c.kind == "callback"]


def _actions(answer: Call) -> list[actions.Action | None]:
    return [actions.decode(b["custom_id"]) for b in answer.buttons()]


@pytest.fixture(scope="module")
async def hum_answer(fake: FakeDiscord, adapter: DiscordAdapter) -> tuple[dict, Call]:
    """/hum with a voice message humming 8 s of "Tune 3" from 0:08."""
    att = attachment(fake, "voice-message.ogg", voice_note(3, 8.0, 8.0), "audio/ogg", voice_seconds=8.0)
    payload = slash("hum", user_id=new_user_id(), attachments={"recording": att})
    return payload, await interact(fake, payload)


async def test_hum_with_a_voice_message_names_the_song_and_attaches_its_clip(
        fake: FakeDiscord, service: HumService, hum_answer: tuple[dict, Call]) -> None:
    payload, answer = hum_answer
    # Deferred with "thinking" first (Discord's 3-second rule), then one follow-up.
    assert _callbacks(fake, payload["token"]) == [5]
    assert answer.kind == "followup"
    lines = answer.text().splitlines()
    assert lines[0] == "Best matches:"
    assert lines[1].startswith("1. Tune 3 — Artist 3 · ") and lines[1].endswith("at 0:08")
    [clip] = answer.files
    assert clip.filename == "Tune 3.ogg" and clip.data[:4] == b"OggS" and clip.size > 10_000
    # ▶ buttons for the other results, then "Not it" for the top one.
    songs = {s.song_id: s.title for s in await service.list_songs()}
    *plays, not_it = _actions(answer)
    assert plays and all(isinstance(p, actions.Play) for p in plays)
    assert {songs[p.song_id] for p in plays} <= {"Tune 1", "Tune 2"}  # type: ignore[union-attr]
    assert isinstance(not_it, actions.NotIt) and songs[not_it.song_id] == "Tune 3"


async def test_a_result_button_posts_that_results_clip(
        fake: FakeDiscord, service: HumService, hum_answer: tuple[dict, Call]) -> None:
    _, answer = hum_answer
    first_play = answer.buttons()[0]
    play = actions.decode(first_play["custom_id"])
    assert isinstance(play, actions.Play)
    other = await service.get_song(play.song_id)
    # Pressed on the message exactly as the fake stored it (components included).
    click = button_click(answer.reply, first_play["custom_id"], user_id=new_user_id())
    posted = await interact(fake, click)
    assert _callbacks(fake, click["token"]) == [5]
    assert posted.kind == "followup" and other.title in posted.text()
    [clip] = posted.files
    assert clip.filename == f"{other.title}.ogg" and clip.data[:4] == b"OggS"
    assert clip.data != answer.files[0].data


async def test_not_it_stores_negative_feedback(fake: FakeDiscord, service: HumService,
                                               hum_answer: tuple[dict, Call]) -> None:
    _, answer = hum_answer
    before = (await service.stats()).feedback_wrong
    not_it = answer.buttons()[-1]
    reply = await interact(fake, button_click(answer.reply, not_it["custom_id"], user_id=new_user_id()))
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert "Thanks" in reply.text()
    assert (await service.stats()).feedback_wrong == before + 1


async def test_find_this_song_on_a_voice_message(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    voice = attachment(fake, "voice-message.ogg", voice_note(1, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
    target = message([voice], voice=True)
    payload = message_menu("Find this song", target, user_id=new_user_id())
    answer = await interact(fake, payload)
    assert _callbacks(fake, payload["token"]) == [5]
    assert "1. Tune 1 — Artist 1 · " in answer.text()
    assert [f.filename for f in answer.files] == ["Tune 1.ogg"]
    assert any(isinstance(a, actions.NotIt) for a in _actions(answer))


async def test_find_this_song_takes_the_audio_file_among_other_attachments(
        fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    photo = attachment(fake, "cat.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    song = attachment(fake, "humming.mp3", encode(tune(2, voice=True)[: 32000 * 8], "mp3"), "audio/mpeg")
    menu = message_menu("Find this song", message([photo, song]), user_id=new_user_id())
    answer = await interact(fake, menu)
    assert "1. Tune 2 — Artist 2 · " in answer.text()
    assert fake.was_downloaded(song["url"]) and not fake.was_downloaded(photo["url"])


async def test_find_this_song_on_a_message_without_audio_says_so(fake: FakeDiscord,
                                                                 adapter: DiscordAdapter) -> None:
    photo = attachment(fake, "cat.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    reply = await interact(fake, message_menu("Find this song", message([photo], content="look"),
                                              user_id=new_user_id()))
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert reply.text().startswith("That message has no voice message or audio file.")
    assert not fake.was_downloaded(photo["url"])


async def test_out_of_catalog_humming_is_an_honest_no_match(fake: FakeDiscord,
                                                            adapter: DiscordAdapter) -> None:
    att = attachment(fake, "voice-message.ogg", voice_note(42, 0.0, 10.0), "audio/ogg", voice_seconds=10.0)
    answer = await interact(fake, slash("hum", user_id=new_user_id(), attachments={"recording": att}))
    text = answer.text()
    assert text.startswith("No confident match. The closest songs in the catalog:")
    assert "\n1. Tune " in text and "Tips: hum 10–20 s of the chorus" in text


async def test_a_siren_is_told_it_is_too_little_melody_in_the_users_language(fake: FakeDiscord,
                                                                             adapter: DiscordAdapter) -> None:
    att = attachment(fake, "voice-message.ogg", encode(siren(), "ogg"), "audio/ogg", voice_seconds=8.0)
    answer = await interact(fake, slash("hum", user_id=new_user_id(), locale="zh-CN",
                                        attachments={"recording": att}))
    assert answer.text().startswith("我只听到几个音来回重复")
    assert not answer.files  # no clip: nothing was found


async def test_replies_and_buttons_follow_the_users_language(fake: FakeDiscord,
                                                             adapter: DiscordAdapter) -> None:
    att = attachment(fake, "voice-message.ogg", voice_note(1, 4.0, 8.0), "audio/ogg", voice_seconds=8.0)
    answer = await interact(fake, slash("hum", user_id=new_user_id(), locale="zh-CN",
                                        attachments={"recording": att}))
    assert answer.text().startswith("最佳匹配：\n1. Tune 1 — Artist 1 · ")
    assert answer.buttons()[-1]["label"] == "✗ 不是这首"
    help_zh = await interact(fake, slash("help", user_id=new_user_id(), locale="zh-CN"))
    assert help_zh.text().startswith("**humbot 使用方法**") and help_zh.flags & EPHEMERAL


async def test_help_explains_both_ways_to_ask(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    reply = await interact(fake, slash("help", user_id=new_user_id(), locale="en-GB"))
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert "`/hum`" in reply.text() and "**Find this song**" in reply.text()


async def test_hum_works_in_a_direct_message(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    att = attachment(fake, "hum.ogg", encode(tune(3, voice=True)[32000 * 8 : 32000 * 16], "ogg"), "audio/ogg")
    answer = await interact(fake, slash("hum", user_id=new_user_id(), guild=False,
                                        attachments={"recording": att}))
    assert "1. Tune 3 — Artist 3 · " in answer.text()

