"""Start, command sync, graceful stop and restart-safe buttons."""

from __future__ import annotations

import asyncio

import discord
from discord_support import FaultyIndex, voice_note
from fake_discord import (
    APP_ID,
    GUILD_ID,
    FakeDiscord,
    attachment,
    button_click,
    interact,
    new_user_id,
    slash,
)

from adapters.discord import DiscordAdapter, sync_global_commands
from adapters.discord.config import DiscordConfig
from core.service import HumService

COMMANDS = {"hum", "help", "addsong", "removesong", "songs", "stats", "Find this song"}


def _synced(fake: FakeDiscord, path: str) -> list[dict]:
    calls = [c for c in fake.calls if c.kind == "sync" and c.path == path]
    assert calls, f"no sync to {path}"
    return calls[-1].json


async def test_start_syncs_localised_commands_to_the_test_guilds_only(fake: FakeDiscord,
                                                                      adapter: DiscordAdapter) -> None:
    guild_path = f"/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    commands = {c["name"]: c for c in _synced(fake, guild_path)}
    assert set(commands) == COMMANDS
    # No global sync on start: that is `humbot discord sync`.
    assert not [c for c in fake.calls if c.path == f"/api/v10/applications/{APP_ID}/commands"]

    hum = commands["hum"]
    assert hum["description_localizations"]["zh-CN"] == "根据哼唱、演唱或播放的录音识别歌曲"
    assert hum["description_localizations"]["zh-TW"] == "從哼唱、演唱或播放的錄音辨識歌曲"
    [recording] = hum["options"]
    assert (recording["name"], recording["type"], recording["required"]) == ("recording", 11, True)
    menu = commands["Find this song"]
    assert menu["type"] == 3 and menu["name_localizations"]["zh-CN"] == "识别这首歌"
    assert menu["name_localizations"]["zh-TW"] == "辨識這首歌"
    manage_guild = discord.Permissions(manage_guild=True).value
    for name in ("addsong", "removesong", "songs", "stats"):
        assert int(commands[name]["default_member_permissions"]) == manage_guild  # the UI hint
    assert commands["hum"]["default_member_permissions"] is None


async def test_sync_global_commands_is_an_explicit_step(fake: FakeDiscord, service: HumService,
                                                        discord_config: DiscordConfig) -> None:
    names = await sync_global_commands(discord_config, service)
    assert set(names) == COMMANDS
    assert {c["name"] for c in _synced(fake, f"/api/v10/applications/{APP_ID}/commands")} == COMMANDS


async def test_stop_lets_an_in_flight_search_finish_and_buttons_survive_a_restart(
        fake: FakeDiscord, adapter: DiscordAdapter, faulty: FaultyIndex) -> None:
    gate = asyncio.Event()
    faulty.gate = gate  # searches wait here: one search is "in flight" while we stop
    try:
        voice = attachment(fake, "voice-message.ogg", voice_note(1, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
        first = slash("hum", user_id=new_user_id(), attachments={"recording": voice})
        await fake.dispatch_interaction(first)
        await fake.wait_for(lambda c: c.token == first["token"] and c.kind == "callback")  # deferred

        stopping = asyncio.create_task(adapter.stop())
        while not adapter.ctx.work.closing:
            await asyncio.sleep(0)
        # New work during shutdown is turned away politely...
        late = await interact(fake, slash("help", user_id=new_user_id()))
        assert late.text() == "I'm restarting — please try again in a minute."
        # ...while the search in flight holds the shutdown until it has answered.
        assert not stopping.done()
        gate.set()
        await stopping
        [answer] = [c for c in fake.calls_for(first["token"]) if c.kind == "followup"]
        assert "1. Tune 1 — Artist 1 · " in answer.text()
    finally:
        faulty.gate = None
        gate.set()

    # A new process: a button on a message from before the restart still plays its clip.
    await adapter.start()
    play = answer.buttons()[0]
    posted = await interact(fake, button_click(answer.reply, play["custom_id"], user_id=new_user_id()))
    assert posted.files and posted.files[0].data[:4] == b"OggS"


async def test_a_bad_token_fails_start_cleanly(fake: FakeDiscord, service: HumService) -> None:
    fake.reject_token = "wrong-token"
    try:
        adapter = DiscordAdapter(DiscordConfig(enabled=True, token="wrong-token"), service)
        try:
            await adapter.start()
        except discord.LoginFailure:
            pass
        else:
            raise AssertionError("start() accepted a token Discord refused")
        assert adapter.client is None
    finally:
        fake.reject_token = None
