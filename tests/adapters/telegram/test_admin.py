"""Admins grow the catalog from the chat; everyone else is refused and nothing is stored."""

from __future__ import annotations

import re

import pytest
from audio_fixtures import encode, tune
from fake_bot_api import FakeBotAPI
from tg_support import ADMIN_ID, final_reply, hum, make_service, settle, song

from adapters.telegram import TelegramAdapter
from core.errors import SongNotFound
from core.service import HumService


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory):
    svc = await make_service(tmp_path_factory.mktemp("tg-admin"), [1, 2])
    yield svc
    await svc.close()


def _song_id(text: str) -> str:
    m = re.search(r"\(id ([0-9a-f]+)\)", text)
    assert m, text
    return m.group(1)


def _admin(fake: FakeBotAPI) -> tuple[dict, dict]:
    return fake.user(ADMIN_ID), fake.chats[ADMIN_ID]


async def test_admin_adds_a_song_with_a_caption_and_a_voice_note_then_finds_it(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    admin, admin_chat = _admin(fake)
    upload = fake.push_message(admin_chat, admin, fake.audio(song(5, "mp3"), duration=20, file_name="night.mp3"),
                               caption="/add Night Song - The Hummers")
    text = (await final_reply(fake, upload))["text"]
    assert text.startswith("Added “Night Song” (id ")
    stored = await service.get_song(_song_id(text))
    assert (stored.title, stored.artist, stored.added_by) == ("Night Song", "The Hummers", f"telegram:{ADMIN_ID}")
    assert stored.source_name == "night.mp3"

    user = fake.user(7001)
    chat = fake.private_chat(user)
    query = fake.push_message(chat, user, fake.voice(hum(5, 1.0), duration=10))
    assert (await final_reply(fake, query))["text"].splitlines()[1].startswith("1. Night Song — The Hummers · ")

    again = fake.push_message(admin_chat, admin, fake.audio(song(5, "mp3"), duration=20, file_name="copy.mp3"),
                              caption="/add Another Name")
    assert (await final_reply(fake, again))["text"] == f"“Night Song” is already in the catalog (id {stored.song_id})."


async def test_admin_adds_by_replying_add_in_a_group_or_by_tags(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    admin, admin_chat = _admin(fake)
    group = fake.group()
    member = fake.user(7101)
    shared = fake.push_message(group, member, fake.document(song(6), file_name="morning.flac", mime="audio/flac"))
    add = fake.push_message(group, admin, text="/add@humbot_test_bot Morning Tune - Dawn Band", reply_to=shared)
    text = (await final_reply(fake, add))["text"]
    stored = await service.get_song(_song_id(text))
    assert (stored.title, stored.artist) == ("Morning Tune", "Dawn Band")

    tagged = fake.push_message(admin_chat, admin, fake.audio(song(7, "mp3"), duration=20, file_name="x.mp3",
                                                            title="Tagged Title", performer="Tag Artist"),
                               caption="/add")
    stored = await service.get_song(_song_id((await final_reply(fake, tagged))["text"]))
    assert (stored.title, stored.artist) == ("Tagged Title", "Tag Artist")

    bare = fake.push_message(admin_chat, admin, text="/add Title - Artist")  # not a reply to audio
    assert (await final_reply(fake, bare))["text"].startswith("To add a song, send an audio file")


async def test_non_admins_are_refused_and_nothing_is_stored(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    songs_before = [s.song_id for s in await service.list_songs()]
    user = fake.user(7201)
    chat = fake.private_chat(user)
    upload = fake.push_message(chat, user, fake.audio(song(8, "mp3"), duration=20, file_name="mine.mp3"),
                               caption="/add My Song - Me")
    shared = fake.push_message(chat, user, fake.audio(song(8, "mp3"), duration=20, file_name="mine2.mp3"))
    reply_add = fake.push_message(chat, user, text="/add My Song - Me", reply_to=shared)
    remove = fake.push_message(chat, user, text=f"/remove {songs_before[0]}")
    songs_cmd = fake.push_message(chat, user, text="/songs")
    stats = fake.push_message(chat, user, text="/stats")
    for request in (upload, reply_add, remove):
        assert (await final_reply(fake, request))["text"] == "Sorry, only admins can change the catalog."
    for request in (songs_cmd, stats):
        assert (await final_reply(fake, request))["text"] == "Sorry, that command is for admins only."
    await settle(bot, fake)
    assert [s.song_id for s in await service.list_songs()] == songs_before
    assert upload["audio"]["file_id"] not in fake.downloads
    assert not list(service.catalog.stray_files())  # no file written either


async def test_admin_removes_a_song(bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    admin, admin_chat = _admin(fake)
    doomed = (await service.add_song(encode(tune(9, notes=12), "flac"), filename="doomed.flac")).song
    remove = fake.push_message(admin_chat, admin, text=f"/remove {doomed.song_id}")
    assert (await final_reply(fake, remove))["text"] == f"Removed song {doomed.song_id}."
    with pytest.raises(SongNotFound):
        await service.get_song(doomed.song_id)
    again = fake.push_message(admin_chat, admin, text=f"/remove {doomed.song_id}")
    assert (await final_reply(fake, again))["text"] == f"There is no song with id {doomed.song_id}."
    usage = fake.push_message(admin_chat, admin, text="/remove")
    assert (await final_reply(fake, usage))["text"].startswith("Usage: /remove ID")


async def test_song_list_is_paged_with_buttons(bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    seed = 20
    while await service.count_songs() < 12:  # short songs: two pages of the list
        await service.add_song(encode(tune(seed, notes=10), "flac"), filename=f"short{seed}.flac",
                               title=f"Short {seed}")
        seed += 1
    total = await service.count_songs()
    admin, admin_chat = _admin(fake)
    listing = fake.push_message(admin_chat, admin, text="/songs")
    first = await final_reply(fake, listing)
    lines = first["text"].splitlines()
    assert lines[0] == f"Songs 1–10 of {total}:" and len(lines) == 11
    assert re.fullmatch(r"[0-9a-f]{12} · .+ · \d+:\d\d", lines[1])
    buttons = [b["text"] for row in first["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Next ▶"]

    fake.press(first, admin, "Next ▶")
    page2 = await fake.wait_for(lambda: (m := fake.messages[(ADMIN_ID, first["message_id"])])["text"].startswith(
        "Songs 11–") and m)
    assert page2["text"].splitlines()[0] == f"Songs 11–{total} of {total}:"
    assert [b["text"] for row in page2["reply_markup"]["inline_keyboard"] for b in row] == ["◀ Previous"]

    # A non-admin pressing an admin's button (e.g. in a group) is refused in the answer.
    outsider = fake.user(7301)
    qid = fake.press(page2, outsider, "◀ Previous")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered"])
    assert fake.callbacks[qid]["text"] == "Sorry, that command is for admins only."
    assert fake.callbacks[qid]["show_alert"]


async def test_stats_show_catalog_queries_and_hit_rate(bot: TelegramAdapter, fake: FakeBotAPI,
                                                       service: HumService) -> None:
    user = fake.user(7401)
    chat = fake.private_chat(user)
    query = fake.push_message(chat, user, fake.voice(hum(1, 0.0), duration=10))
    await final_reply(fake, query)
    clip = await fake.wait_for(lambda: [m for m in fake.replies_to(query) if "audio" in m])
    qid = fake.press(clip[0], user, "✗ Not it")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered"])

    admin, admin_chat = _admin(fake)
    request = fake.push_message(admin_chat, admin, text="/stats")
    text = (await final_reply(fake, request))["text"]
    st = await service.stats()
    assert f"Songs in the catalog: {st.songs}\n" in text
    assert f"Queries served: {st.queries} ({st.matched} confident matches)" in text
    assert f"Hit rate from feedback: 0 % (0 of {st.feedback_wrong} rated answers)" in text
    assert "Index: local, healthy" in text
    assert st.queries >= 1 and st.feedback_wrong >= 1


async def test_a_copy_of_a_catalog_song_is_not_added_until_the_admin_keeps_it_as_a_version(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    import numpy as np
    from audio_fixtures import SR
    from tg_support import NOTES

    original = next(s for s in await service.list_songs() if s.title == "Tune 1")
    before = await service.count_songs()
    copy = encode(np.concatenate([np.zeros(SR, np.float32), 0.5 * tune(1, notes=NOTES)]), "mp3")  # −6 dB, 1 s pad
    admin, admin_chat = _admin(fake)
    upload = fake.push_message(admin_chat, admin, fake.audio(copy, duration=21, file_name="tune1-album.mp3"),
                               caption="/add Tune 1 (album) - Artist 1")
    answer = await final_reply(fake, upload)
    assert answer["text"] == (f"Looks like the same recording as “Tune 1” (id {original.song_id}) — not added.")
    assert await service.count_songs() == before
    buttons = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["Keep as a version"]
    assert len(buttons[0]["callback_data"].encode()) <= 64

    outsider = fake.user(7501)  # a forwarded or group button is no way around the admin check
    refused = fake.press(answer, outsider, "Keep as a version")
    await fake.wait_for(lambda: fake.callbacks[refused]["answered"])
    assert fake.callbacks[refused]["text"] == "Sorry, only admins can change the catalog."
    assert await service.count_songs() == before

    fake.press(answer, admin, "Keep as a version")
    kept = await fake.wait_for(lambda: (m := fake.messages[(ADMIN_ID, answer["message_id"])])["text"].startswith(
        "Kept as a version") and m)
    new_id = re.search(r"“Tune 1 \(album\)” \(id ([0-9a-f]+)\)", kept["text"]).group(1)
    assert kept["text"].startswith(f"Kept as a version of “Tune 1” (id {original.song_id}): ")
    assert "reply_markup" not in kept  # the button is spent
    stored = await service.get_song(new_id)
    assert (stored.version_of, stored.artist, stored.added_by) == (original.song_id, "Artist 1",
                                                                   f"telegram:{ADMIN_ID}")
    assert await service.count_songs() == before + 1

    user = fake.user(7502)  # a hum of the tune finds one answer, with its version listed
    query = fake.push_message(fake.private_chat(user), user, fake.voice(hum(1, 2.0), duration=10))
    line = (await final_reply(fake, query))["text"].splitlines()[1]
    assert line.startswith("1. Tune ") and line.endswith(" (+1 version)")
