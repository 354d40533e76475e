"""Admins curate the catalog from Discord; everyone else is refused server-side.

``default_permissions`` only hides commands in Discord's UI (server admins can change it), so the
tests send admin commands as members who *could* see them — even ones with every permission —
and check that only the configured users and roles get through.
"""

from __future__ import annotations

import pytest
from audio_fixtures import encode, tune
from discord_support import voice_note
from fake_discord import (
    ADMIN_PERMISSIONS,
    ADMIN_ROLE,
    ADMIN_USER,
    FakeDiscord,
    attachment,
    button_click,
    interact,
    new_user_id,
    slash,
)

from adapters.common import actions
from adapters.discord import DiscordAdapter
from core.service import HumService

EPHEMERAL = 64
NOT_ADMIN = "Sorry, only admins can change the catalog."


async def test_addsong_by_an_admin_role_stores_and_indexes_a_song_that_hum_then_finds(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService) -> None:
    member = new_user_id()
    song = attachment(fake, "tune4.mp3", encode(tune(4), "mp3"), "audio/mpeg")
    add = slash("addsong", user_id=member, roles=(ADMIN_ROLE,), attachments={"file": song},
                options={"title": "Tune 4", "artist": "Artist 4"})
    added = await interact(fake, add)
    assert added.kind == "followup" and added.flags & EPHEMERAL
    assert added.text().startswith("Added “Tune 4” (id ")
    song_id = added.text().split("(id ")[1].rstrip(").")
    stored = await service.get_song(song_id)
    assert (stored.title, stored.artist, stored.added_by) == ("Tune 4", "Artist 4", f"discord:{member}")

    hummed = attachment(fake, "voice-message.ogg", voice_note(4, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
    found = await interact(fake, slash("hum", user_id=new_user_id(), attachments={"recording": hummed}))
    assert "1. Tune 4 — Artist 4 · " in found.text()
    assert found.files[0].filename == "Tune 4.ogg"

    # A listed user (no role needed) removes it again.
    removed = await interact(fake, slash("removesong", user_id=ADMIN_USER, options={"id": song_id}))
    assert removed.text() == f"Removed song {song_id}."
    assert song_id not in {s.song_id for s in await service.list_songs()}


async def test_addsong_by_a_member_without_the_role_is_refused_and_stores_nothing(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService) -> None:
    before = [s.song_id for s in await service.list_songs()]
    song = attachment(fake, "tune5.mp3", encode(tune(5), "mp3"), "audio/mpeg")
    # Every Discord permission (a server admin) and another role: still not on humbot's list.
    reply = await interact(fake, slash("addsong", user_id=new_user_id(), roles=(123,),
                                       permissions=ADMIN_PERMISSIONS, attachments={"file": song},
                                       options={"title": "Tune 5"}))
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert reply.text() == NOT_ADMIN
    assert not fake.was_downloaded(song["url"])
    assert [s.song_id for s in await service.list_songs()] == before


@pytest.mark.parametrize(("command", "options"),
                         [("removesong", {"id": "anything"}), ("songs", {}), ("stats", {})])
async def test_other_admin_commands_are_refused_to_members(fake: FakeDiscord, adapter: DiscordAdapter,
                                                           service: HumService, command: str,
                                                           options: dict) -> None:
    count = await service.count_songs()
    reply = await interact(fake, slash(command, user_id=new_user_id(), options=options))
    assert reply.text() == NOT_ADMIN
    assert await service.count_songs() == count


async def test_removesong_of_an_unknown_id_says_so(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    reply = await interact(fake, slash("removesong", user_id=ADMIN_USER, options={"id": "deadbeef0000"}))
    assert reply.text() == "There is no song with id deadbeef0000."


async def test_songs_is_paged_and_its_buttons_check_admin_rights_again(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService) -> None:
    extra = [(await service.add_song(encode(tune(100 + i, notes=10), "flac"), filename=f"short{i}.flac",
                                     title=f"Short {i}")).song.song_id for i in range(9)]
    try:
        total = await service.count_songs()
        assert total > 10
        first = await interact(fake, slash("songs", user_id=ADMIN_USER))
        assert first.flags & EPHEMERAL
        assert first.text().startswith(f"Songs 1–10 of {total}:")
        prev, nxt = first.buttons()
        assert prev["disabled"] and not nxt["disabled"]
        assert actions.decode(nxt["custom_id"]) == actions.SongsPage(1)

        turned = await interact(fake, button_click(first.reply, nxt["custom_id"], user_id=ADMIN_USER))
        assert turned.kind == "callback" and turned.json["type"] == 7  # the message is edited in place
        assert turned.text().startswith(f"Songs 11–{total} of {total}:")

        # A copied or forwarded button is no way around the check.
        refused = await interact(fake, button_click(first.reply, nxt["custom_id"], user_id=new_user_id()))
        assert refused.text() == NOT_ADMIN
    finally:
        for song_id in extra:
            await service.remove_song(song_id)


async def test_stats_for_a_listed_user_even_in_a_direct_message(fake: FakeDiscord, adapter: DiscordAdapter,
                                                                service: HumService) -> None:
    stats = await service.stats()
    reply = await interact(fake, slash("stats", user_id=ADMIN_USER, guild=False))
    text = reply.text()
    assert text.startswith(f"Songs in the catalog: {stats.songs}\n")
    assert "Queries served: " in text and "Index: local, healthy" in text


async def test_a_copy_of_a_catalog_song_is_not_added_until_an_admin_keeps_it_as_a_version(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService) -> None:
    import re

    import numpy as np
    from audio_fixtures import SR

    original = next(s for s in await service.list_songs() if s.title == "Tune 2")
    before = await service.count_songs()
    copy = encode(np.concatenate([np.zeros(SR, np.float32), 0.5 * tune(2)]), "mp3")  # −6 dB, 1 s of silence
    song = attachment(fake, "tune2-album.mp3", copy, "audio/mpeg")
    answer = await interact(fake, slash("addsong", user_id=ADMIN_USER, attachments={"file": song},
                                        options={"title": "Tune 2 (album)", "artist": "Artist 2"}))
    assert answer.flags & EPHEMERAL
    assert answer.text() == f"Looks like the same recording as “Tune 2” (id {original.song_id}) — not added."
    assert await service.count_songs() == before
    [button] = answer.buttons()
    assert button["label"] == "Keep as a version"
    assert isinstance(actions.decode(button["custom_id"]), actions.KeepVersion)

    refused = await interact(fake, button_click(answer.reply, button["custom_id"], user_id=new_user_id()))
    assert refused.text() == NOT_ADMIN
    assert await service.count_songs() == before

    kept = await interact(fake, button_click(answer.reply, button["custom_id"], user_id=ADMIN_USER))
    new_id = None
    try:
        assert kept.flags & EPHEMERAL
        m = re.fullmatch(rf"Kept as a version of “Tune 2” \(id {original.song_id}\): “Tune 2 \(album\)” "
                         r"\(id ([0-9a-f]+)\)\.", kept.text())
        assert m, kept.text()
        new_id = m.group(1)
        assert (await service.get_song(new_id)).version_of == original.song_id
        again = await interact(fake, button_click(answer.reply, button["custom_id"], user_id=ADMIN_USER))
        assert again.text().startswith("That upload is no longer waiting")
    finally:  # the package's catalog is shared with the search tests
        if new_id is not None:
            await service.remove_song(new_id)
