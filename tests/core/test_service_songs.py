"""What an import keeps of the uploaded file (issue 16, items 2, 5, 6 and 10): times in the
original file, a truncated song said so, titles made safe, and a rebuild that survives a lost file."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import SR, encode, tune
from service_fixtures import melody_only_config, voice_note

from bot.wiring import build_service
from core.service import HumService

LEAD_IN_S = 6.0


@pytest.fixture
async def service(tmp_path) -> HumService:
    svc = build_service(melody_only_config(tmp_path))
    await svc.start()
    yield svc
    await svc.close()


async def test_offsets_durations_and_clips_are_in_the_uploaded_files_time(service: HumService) -> None:
    music = tune(3)
    padded = np.concatenate([np.zeros(int(LEAD_IN_S * SR), np.float32), music])  # 6 s of silence first
    song = (await service.add_song(encode(padded, "flac"), filename="late.flac", title="Late")).song
    assert song.duration_s == pytest.approx(len(padded) / SR, abs=0.1)
    assert song.start_s == pytest.approx(LEAD_IN_S, abs=0.1)

    resp = await service.search(voice_note(3, 12.0, 10.0), filename="q.ogg")  # music time 12 s = file time 18 s
    top = resp.results[0]
    assert top.song.title == "Late"
    assert top.offset_s == pytest.approx(LEAD_IN_S + 12.0, abs=1.5)
    assert resp.clip.start_s == pytest.approx(top.offset_s - 2.0, abs=0.01)  # starts just before the passage


async def test_a_song_longer_than_the_limit_is_indexed_in_part_and_says_so(tmp_path) -> None:
    svc = build_service(melody_only_config(tmp_path, limits={"max_song_seconds": 15}))
    await svc.start()
    try:
        music = tune(4)
        res = await svc.add_song(encode(music, "flac"), filename="long.flac")
        assert res.truncated
        assert res.song.duration_s == pytest.approx(len(music) / SR, abs=0.1)  # the file's, not the cut's
        assert res.song.indexed_s == pytest.approx(15.0, abs=0.1)
        short = await svc.add_song(encode(tune(5)[: 10 * SR], "flac"), filename="short.flac")
        assert not short.truncated
    finally:
        await svc.close()


@pytest.mark.parametrize(("given", "stored"), [
    ("x" * 10_000, "x" * 199 + "…"),
    ("Ode\nto\r\n  Joy\t", "Ode to Joy"),
    ("evil\u202egnp.exe", "evilgnp.exe"),
    ("\u200b\u2066 \u2069", "f"),  # nothing visible: the file name, not a blank row
    ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),  # emoji joiners are kept
], ids=["10k-chars", "newlines", "bidi-override", "invisible", "emoji-zwj"])
async def test_titles_are_one_line_of_visible_text_of_bounded_length(service: HumService, given: str,
                                                                      stored: str) -> None:
    song = (await service.add_song(encode(tune(6), "flac"), filename="f.flac", title=given,
                                   artist="Band\n@everyone\u202e")).song
    assert song.title == stored
    assert song.artist == "Band @everyone"
    assert (await service.get_song(song.song_id)).title == stored


async def test_a_rebuild_goes_past_a_song_whose_original_is_missing(service: HumService) -> None:
    kept = (await service.add_song(encode(tune(1), "flac"), filename="a.flac", title="Kept")).song
    lost = (await service.add_song(encode(tune(2), "flac"), filename="b.flac", title="Lost")).song
    service.catalog.file_path(lost.sha256, lost.ext).unlink()
    result = await service.reindex()
    assert result.indexed == 1
    assert [(s.song_id, why) for s, why in result.skipped] == [(lost.song_id, "original file missing")]
    assert await service.index.song_ids() == {kept.song_id}
    resp = await service.search(voice_note(1, 4.0, 10.0), filename="q.ogg", with_clip=False)
    assert resp.results[0].song.title == "Kept"
