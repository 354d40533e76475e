"""Bad input, limits and failures: each gets its own friendly message, and nothing heavy runs
for what metadata alone can refuse (the fake CDN records every download)."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import SR, encode, tune
from discord_support import FaultyIndex, voice_note
from fake_discord import FakeDiscord, attachment, interact, new_user_id, slash

from adapters.discord import DiscordAdapter
from core.service import HumService

EPHEMERAL = 64
MB = 1024 * 1024


async def _hum(fake: FakeDiscord, att: dict, **kw: object):  # type: ignore[no-untyped-def]
    return await interact(fake, slash("hum", user_id=new_user_id(), attachments={"recording": att}, **kw))


async def test_oversized_attachment_is_refused_before_download(fake: FakeDiscord,
                                                                adapter: DiscordAdapter) -> None:
    att = attachment(fake, "concert.ogg", b"OggS" + bytes(1000), "audio/ogg", size=25 * MB)
    reply = await _hum(fake, att)
    assert reply.kind == "callback" and reply.flags & EPHEMERAL  # answered at once, no deferral
    assert reply.text().startswith("That file is 25.0 MB; the limit is 20 MB.")
    assert not fake.was_downloaded(att["url"])


async def test_corrupt_recording_gets_the_decode_message(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    junk = b"OggS" + np.random.default_rng(0).bytes(40_000)
    reply = await _hum(fake, attachment(fake, "voice-message.ogg", junk, "audio/ogg", voice_seconds=9.0))
    assert reply.kind == "followup"  # found out only by decoding, after the deferral
    assert reply.text() == ("I couldn't decode that recording — the file seems damaged. "
                            "Could you record it again?")


async def test_too_short_voice_message_is_refused_from_its_announced_duration(
        fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    att = attachment(fake, "voice-message.ogg", voice_note(1, 0.0, 1.0), "audio/ogg", voice_seconds=1.0)
    reply = await _hum(fake, att)
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert reply.text().startswith("That recording is only 1.0 s long. Please hum or sing at least 2 seconds")
    assert not fake.was_downloaded(att["url"])


async def test_too_short_audio_file_is_refused_after_decoding(fake: FakeDiscord,
                                                               adapter: DiscordAdapter) -> None:
    # An audio file (not a voice message) announces no duration: only decoding finds it too short.
    att = attachment(fake, "blip.mp3", encode(tune(1, voice=True)[:SR], "mp3"), "audio/mpeg")
    reply = await _hum(fake, att)
    assert reply.kind == "followup" and fake.was_downloaded(att["url"])
    assert reply.text().startswith("That recording is only ") and "at least 2 seconds" in reply.text()


async def test_too_long_recording_is_cut_and_the_user_told(fake: FakeDiscord, adapter: DiscordAdapter,
                                                           service: HumService) -> None:
    hum = np.concatenate([tune(1, voice=True)] * 2)  # ~1 min, twice the 30 s that are used
    assert len(hum) / SR > service.limits.max_query_seconds + 5
    att = attachment(fake, "long.ogg", encode(hum, "ogg"), "audio/ogg", voice_seconds=len(hum) / SR)
    reply = await _hum(fake, att)
    assert "1. Tune 1 — Artist 1 · " in reply.text()
    assert reply.text().endswith("Only the first 30 seconds were used.")


async def test_silent_recording_gets_the_silence_message(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    silence = encode(np.zeros(SR * 5, np.float32), "ogg")
    reply = await _hum(fake, attachment(fake, "voice-message.ogg", silence, "audio/ogg", voice_seconds=5.0))
    assert reply.text().startswith("I couldn't hear anything in that recording.")


async def test_a_picture_is_not_audio(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    att = attachment(fake, "cat.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    reply = await _hum(fake, att)
    assert reply.kind == "callback" and reply.text().startswith("That doesn't look like audio.")
    assert not fake.was_downloaded(att["url"])


async def test_deleted_attachment_gets_the_download_message(fake: FakeDiscord,
                                                             adapter: DiscordAdapter) -> None:
    att = attachment(fake, "voice-message.ogg", voice_note(1, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
    fake.forget_file(att["url"])
    reply = await _hum(fake, att)
    assert reply.text().startswith("I couldn't fetch that file from Discord")


async def test_backend_failure_says_temporarily_unavailable(fake: FakeDiscord, adapter: DiscordAdapter,
                                                            faulty: FaultyIndex) -> None:
    att = attachment(fake, "voice-message.ogg", voice_note(2, 0.0, 8.0), "audio/ogg", voice_seconds=8.0)
    faulty.down = True
    try:
        reply = await _hum(fake, att)
    finally:
        faulty.down = False
    assert reply.text() == "Search is temporarily unavailable. Please try again in a few minutes."
    # Recovered: the same recording finds its song once the backend is back.
    again = await _hum(fake, attachment(fake, "voice-message.ogg", voice_note(2, 0.0, 8.0), "audio/ogg"))
    assert "1. Tune 2 — Artist 2 · " in again.text()


async def test_full_work_queue_says_busy(fake: FakeDiscord, adapter: DiscordAdapter,
                                         service: HumService) -> None:
    limits = service.limits
    service.admission.limits = limits.model_copy(update={"max_queued": 0})  # every job finds the queue full
    try:
        reply = await _hum(fake, attachment(fake, "voice-message.ogg", voice_note(1, 0.0, 8.0), "audio/ogg"))
    finally:
        service.admission.limits = limits
    assert reply.text() == "I'm busy with other songs right now — please try again in a moment."


async def test_per_user_limit_is_answered_with_slow_down(
        fake: FakeDiscord, adapter: DiscordAdapter, service: HumService) -> None:
    user = new_user_id()
    big = attachment(fake, "big.ogg", b"OggS", "audio/ogg", size=30 * MB)  # refused cheaply, still counted
    for _ in range(service.limits.user_requests_per_minute):
        reply = await interact(fake, slash("hum", user_id=user, attachments={"recording": big}))
        assert reply.text().startswith("That file is 30.0 MB")
    reply = await interact(fake, slash("hum", user_id=user, attachments={"recording": big}))
    assert reply.kind == "callback" and reply.flags & EPHEMERAL
    assert reply.text().startswith("Slow down a little — you can send another recording in ")
    # The limit is per user: someone else is served.
    other = await interact(fake, slash("help", user_id=new_user_id()))
    assert "`/hum`" in other.text()


@pytest.mark.parametrize(("locale", "text"), [("zh-CN", "文件大小为 25.0 MB，上限是 20 MB。"),
                                             ("zh-TW", "檔案大小為 25.0 MB，上限是 20 MB。")])
async def test_errors_are_localised(fake: FakeDiscord, adapter: DiscordAdapter, locale: str, text: str) -> None:
    att = attachment(fake, "concert.ogg", b"OggS", "audio/ogg", size=25 * MB)
    reply = await _hum(fake, att, locale=locale)
    assert reply.text().startswith(text)
