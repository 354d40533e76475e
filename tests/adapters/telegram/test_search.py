"""Users: a voice note finds the song and its clip; buttons; groups; languages; many users at once."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
from audio_fixtures import encode, held_note
from fake_bot_api import FakeBotAPI
from tg_support import clip_reply, final_reply, hum, make_service, settle

from adapters.telegram import TelegramAdapter
from core.audio import decode_bytes
from core.service import HumService


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory):
    # Queries longer than 12 s are cut (and the user is told).
    svc = await make_service(tmp_path_factory.mktemp("tg-search"), [1, 2, 3, 4], limits={"max_query_seconds": 12})
    yield svc
    await svc.close()


def _aiff(wav: bytes, tmp_path: Path) -> bytes:
    """``wav`` re-encoded as AIFF by the real ffmpeg (its muxer seeks back: a file, not a pipe)."""
    src, out = tmp_path / "in.wav", tmp_path / "out.aif"
    src.write_bytes(wav)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", "pcm_s16be", str(out)], check=True)
    return out.read_bytes()


def _offset_s(line: str) -> int:
    m = re.search(r"at (\d+):(\d\d)$", line)
    assert m, line
    return int(m.group(1)) * 60 + int(m.group(2))


def _buttons(message: dict) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def test_voice_note_of_a_known_song_gets_its_name_clip_and_working_buttons(
        bot: TelegramAdapter, fake: FakeBotAPI, service: HumService) -> None:
    user = fake.user(1001)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(2, start_s=3.0), duration=10))

    answer = await final_reply(fake, request)
    lines = answer["text"].splitlines()
    assert lines[0] == "Best matches:"
    assert lines[1].startswith("1. Tune 2 — Artist 2 · ") and " % · at " in lines[1]
    assert abs(_offset_s(lines[1]) - 3) <= 2  # where in the song the hummed passage is
    assert len(lines) == 5  # the whole catalog, ranked
    assert "reply_markup" not in answer  # the buttons go with the clip

    clip = (await clip_reply(fake, request))[0]
    assert clip["audio"]["title"] == "Tune 2" and clip["audio"]["performer"] == "Artist 2"
    start, end = re.search(r"· (\d+:\d\d)–(\d+:\d\d)$", clip["caption"]).groups()
    assert clip["caption"].startswith("Tune 2 — Artist 2 · ")
    upload = fake.calls_of("sendAudio", chat["id"])[0].files["audio"]
    assert upload.filename == "Tune 2.mp3" and upload.content_type == "audio/mpeg"  # the music player's format
    decoded = decode_bytes(upload.data, sample_rate=16000, max_seconds=60, suffix=".mp3")
    assert 12 <= decoded.duration_s <= 16  # search.clip_seconds of the song, around the match
    assert _buttons(clip) == ["▶ 2", "▶ 3", "▶ 4", "✗ Not it"]

    # ▶ 2 sends the clip of the second result.
    second_title = re.match(r"2\. (Tune \d) — ", lines[2]).group(1)
    qid = fake.press(clip, user, "▶ 2")
    clips = await clip_reply(fake, clip)
    assert clips[0]["audio"]["title"] == second_title
    assert fake.callbacks[qid]["answered"]

    # "Not it" is stored as feedback on this query.
    before = (await service.stats()).feedback_wrong
    qid = fake.press(clip, user, "✗ Not it")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered"])
    assert "Thanks" in fake.callbacks[qid]["text"]
    assert (await service.stats()).feedback_wrong == before + 1


async def test_unknown_tune_gets_an_honest_no_match_with_candidates_and_tips(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(1002)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(42, start_s=0.0), duration=10))
    answer = await final_reply(fake, request)
    lines = answer["text"].splitlines()
    assert lines[0] == "No confident match. The closest songs in the catalog:"
    assert all(line.startswith(f"{i}. Tune ") for i, line in enumerate(lines[1:5], 1))
    assert lines[-1].startswith("Tips: hum 10–20 s of the chorus")
    assert _buttons(answer) == ["▶ 1", "▶ 2", "▶ 3", "▶ 4"]  # listen to the candidates
    fake.press(answer, user, "▶ 3")
    clips = await clip_reply(fake, answer)
    assert clips[0]["audio"]["title"] == re.match(r"3\. (Tune \d) — ", lines[3]).group(1)
    await settle(bot, fake)
    assert not [m for m in fake.replies_to(request) if "audio" in m]  # nothing claimed, no clip pushed


async def test_a_held_note_is_told_it_is_one_note_not_given_a_song(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(1003)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(encode(held_note(440.0), "ogg"), duration=8))
    answer = await final_reply(fake, request)
    lines = answer["text"].splitlines()
    assert lines[0] == ("I only heard one note — hum a longer part of the tune (8–15 s), with its ups "
                        "and downs.")
    await settle(bot, fake)
    assert not [m for m in fake.replies_to(request) if "audio" in m]  # no song claimed, no clip


async def test_a_long_note_is_cut_and_the_user_is_told(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(1003)
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(3, start_s=1.0, seconds=17.0), duration=17))
    text = (await final_reply(fake, request))["text"]
    assert text.splitlines()[1].startswith("1. Tune 3 — Artist 3")
    assert text.endswith("Only the first 12 seconds were used.")


@pytest.mark.parametrize("kind", ["audio file", "audio document", "aif document", "video note", "forwarded voice"])
async def test_every_kind_of_recording_is_searched(bot: TelegramAdapter, fake: FakeBotAPI, kind: str,
                                                   tmp_path: Path) -> None:
    user = fake.user(1010)
    chat = fake.private_chat(user)
    if kind == "audio file":
        content = fake.audio(hum(1, 3.0, fmt="mp3"), duration=10, file_name="humming.mp3")
    elif kind == "audio document":
        content = fake.document(hum(1, 3.0, fmt="m4a"), file_name="humming.m4a", mime="audio/mp4")
    elif kind == "aif document":
        # Taken for its suffix alone (core.audio.AUDIO_SUFFIXES, the list `songs import` uses too).
        content = fake.document(_aiff(hum(1, 3.0, fmt="wav"), tmp_path), file_name="humming.aif",
                                mime="application/octet-stream")
    elif kind == "video note":
        content = fake.video_note(hum(1, 3.0, fmt="mp4"), duration=10)
    else:
        content = fake.voice(hum(1, 3.0), duration=10)
    request = fake.push_message(chat, user, content, forwarded=kind == "forwarded voice")
    answer = await final_reply(fake, request)
    assert answer["text"].splitlines()[1].startswith("1. Tune 1 — Artist 1")
    assert (await clip_reply(fake, request))[0]["audio"]["title"] == "Tune 1"


async def test_group_hum_reply_is_answered_and_other_group_audio_is_ignored(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    group = fake.group()
    alice, bob = fake.user(2001), fake.user(2002)
    bare = fake.push_message(group, alice, fake.voice(hum(3, 1.0), duration=10))
    other_bot = fake.push_message(group, bob, text="/hum@some_other_bot", reply_to=bare)
    hum_cmd = fake.push_message(group, bob, text="/hum@humbot_test_bot", reply_to=bare)
    answer = await final_reply(fake, hum_cmd)
    assert answer["text"].splitlines()[1].startswith("1. Tune 3 — Artist 3")
    assert (await clip_reply(fake, hum_cmd))[0]["audio"]["title"] == "Tune 3"

    # A voice note replying to the bot is for the bot; one replying to a person is not.
    to_bot = fake.push_message(group, alice, fake.voice(hum(4, 5.0), duration=10), reply_to=answer)
    to_person = fake.push_message(group, bob, fake.voice(hum(1, 0.0), duration=10), reply_to=bare)
    plain_hum = fake.push_message(group, alice, text="/hum")  # not a reply: explain the gesture
    assert (await final_reply(fake, to_bot))["text"].splitlines()[1].startswith("1. Tune 4 — Artist 4")
    assert "Reply /hum to a voice note" in (await final_reply(fake, plain_hum))["text"]

    await settle(bot, fake)
    for ignored in (bare, other_bot, to_person):
        assert fake.replies_to(ignored) == []
    assert fake.downloads.count(bare["voice"]["file_id"]) == 1  # fetched for /hum only
    assert to_person["voice"]["file_id"] not in fake.downloads
    assert fake.calls_of("sendChatAction", group["id"]) == []  # groups: progress is the message


async def test_twenty_users_sending_at_once_all_get_their_song(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    notes = {seed: [hum(seed, start) for start in (0.0, 1.0, 3.0, 8.0, 9.0)] for seed in (1, 2, 3, 4)}
    requests = []
    for i in range(20):
        seed = i % 4 + 1
        user = fake.user(3000 + i)
        chat = fake.private_chat(user)
        requests.append((seed, fake.push_message(chat, user, fake.voice(notes[seed][i // 4], duration=10))))
    # 20 searches queue behind 2 workers: the hang guard is wider than one answer's (it times nothing).
    answers = await asyncio.gather(*(final_reply(fake, r, timeout=120) for _, r in requests))
    for (seed, _), answer in zip(requests, answers):
        assert answer["text"].splitlines()[1:2] and answer["text"].splitlines()[1].startswith(f"1. Tune {seed} — Artist {seed}"), answer["text"]
    clips = await asyncio.gather(*(clip_reply(fake, r, timeout=120) for _, r in requests))
    assert [c[0]["audio"]["title"] for c in clips] == [f"Tune {seed}" for seed, _ in requests]


async def test_chinese_speakers_get_chinese_and_menus_exist_in_both_languages(
        bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(4001, lang="zh-hans")
    chat = fake.private_chat(user)
    request = fake.push_message(chat, user, fake.voice(hum(2, 6.0), duration=10))
    await fake.wait_call("sendMessage", chat_id=chat["id"], where=lambda c: c.text == "🎧 正在聆听…")
    answer = await final_reply(fake, request)
    assert answer["text"].splitlines()[0] == "最佳匹配："
    assert "· 位于 " in answer["text"].splitlines()[1]
    clip = (await clip_reply(fake, request))[0]
    assert _buttons(clip)[-1] == "✗ 不是这首"

    default = {c["command"]: c["description"] for c in fake.commands[('{"type": "default"}', "")]}
    chinese = {c["command"]: c["description"] for c in fake.commands[('{"type": "default"}', "zh")]}
    assert set(default) == set(chinese) == {"start", "help", "hum"}
    assert default["hum"].startswith("Reply to a voice note") and chinese["hum"] == "回复一条语音来识别歌曲"
    admin_menu = fake.commands[('{"chat_id": 424242, "type": "chat"}', "")]
    assert {c["command"] for c in admin_menu} == {"start", "help", "hum", "add", "remove", "songs", "stats"}


@pytest.mark.parametrize(("user_id", "code"), [(4101, "zh-hant"), (4102, "zh-tw"), (4103, "zh-hk")])
async def test_traditional_chinese_speakers_get_traditional_chinese(bot: TelegramAdapter, fake: FakeBotAPI,
                                                                    user_id: int, code: str) -> None:
    user = fake.user(user_id, lang=code)
    chat = fake.private_chat(user)
    start = fake.push_message(chat, user, text="/start")
    pdf = fake.push_message(chat, user, fake.document(b"%PDF-1.4 not a song", file_name="x.pdf",
                                                      mime="application/pdf"))
    assert (await final_reply(fake, start))["text"].startswith("你好！我能透過哼唱辨識歌曲。")
    assert (await final_reply(fake, pdf))["text"].startswith("這看起來不是音訊。請傳送語音訊息或音訊檔案")


async def test_start_help_and_hints(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    user = fake.user(5001, lang=None)  # no language: the configured default (English)
    chat = fake.private_chat(user)
    start = fake.push_message(chat, user, text="/start")
    help_ = fake.push_message(chat, user, text="/help")
    hello = fake.push_message(chat, user, text="hello?")
    pdf = fake.push_message(chat, user, fake.document(b"%PDF-1.4 not a song", file_name="x.pdf",
                                                      mime="application/pdf"))
    lone_hum = fake.push_message(chat, user, text="/hum")
    assert (await final_reply(fake, start))["text"].startswith("Hi! I find songs from humming.")
    help_text = (await final_reply(fake, help_))["text"]
    assert "2–12 seconds" in help_text and "Admin commands" not in help_text
    assert (await final_reply(fake, hello))["text"].startswith("Send me a voice note")
    assert (await final_reply(fake, pdf))["text"].startswith("That doesn't look like audio")
    assert "Reply /hum" in (await final_reply(fake, lone_hum))["text"]
    assert pdf["document"]["file_id"] not in fake.downloads


async def test_admins_see_the_admin_help(bot: TelegramAdapter, fake: FakeBotAPI) -> None:
    admin = fake.user(424242)
    chat = fake.chats[424242]
    request = fake.push_message(chat, admin, text="/help@humbot_test_bot")
    assert "Admin commands:" in (await final_reply(fake, request))["text"]

