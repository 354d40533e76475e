"""The fingerprint path inside the real service: a phone recording of a catalog song is answered
by its landmarks (with where it is in the song), and nothing else is disturbed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from audio_fixtures import SR, encode, tune
from service_fixtures import melody_only_config, voice_note

from evaluation.evalset import phone
from bot.wiring import build_service
from core import audio


def _phone_recording(seed: int, start_s: float, seconds: float, snr_db: float = 10.0, speed: float = 1.0) -> bytes:
    """Song ``seed`` from ``start_s`` played (``speed`` × fast) through a loudspeaker in a room
    under pink noise, as Opus."""
    y = tune(seed)[int(start_s * SR): int((start_s + seconds * speed) * SR)]
    y16 = audio.Audio(y, SR).resampled(16000).samples
    rng = np.random.default_rng(seed)
    ch = phone.draw_channel(rng, snr_db=snr_db, noise="pink", speed=speed)
    heard = phone.through_phone(y16, 16000, ch, rng)
    return encode(audio.Audio(heard, 16000).resampled(SR).samples, "ogg")


async def test_a_phone_recording_is_answered_by_its_landmarks_with_its_offset(tmp_path: Path) -> None:
    svc = build_service(melody_only_config(tmp_path))
    await svc.start()
    try:
        ids = {seed: (await svc.add_song(encode(tune(seed), "flac"), filename=f"s{seed}.flac")).song.song_id
               for seed in (1, 2, 3)}
        assert await svc.fingerprints.song_ids() == set(ids.values())
        res = await svc.search(_phone_recording(2, 9.0, 12.0, snr_db=15.0), filename="q.ogg")
        assert res.match and res.reason is None
        top = res.results[0]
        assert top.song.song_id == ids[2]
        assert "fingerprint" in top.scores and top.confidence >= 0.99
        assert abs(top.offset_s - 9.0) < 0.5
        assert res.clip is not None and abs(res.clip.start_s - (9.0 - 2.0)) < 0.5
        # Every other song is left at most what the answer leaves.
        assert all(r.confidence <= 1 - top.confidence + 1e-9 for r in res.results[1:])

        # Played 2 % fast (a pitch fader): found at the speed it was played at.
        fast = await svc.search(_phone_recording(2, 9.0, 12.0, snr_db=15.0, speed=1.02), filename="q.ogg")
        assert fast.results[0].song.song_id == ids[2] and "fingerprint" in fast.results[0].scores
        assert abs(fast.results[0].offset_s - 9.0) < 0.5

        # A hum (in another key, a little slower) is not a recording: the melody path answers alone.
        hum = await svc.search(voice_note(2, 4.0, 10.0, shift=3.0, tempo=1.1), filename="hum.ogg")
        assert all("fingerprint" not in r.scores for r in hum.results)
        assert hum.results[0].song.song_id == ids[2]

        # A search restricted to other songs never gets the fingerprint's song back.
        from core.types import SearchFilter

        only = await svc.search(_phone_recording(2, 9.0, 12.0, snr_db=15.0), filename="q.ogg",
                                filters=SearchFilter(song_ids=frozenset({ids[1], ids[3]})))
        assert all(r.song.song_id != ids[2] for r in only.results)

        await svc.remove_song(ids[2])
        assert ids[2] not in await svc.fingerprints.song_ids()
        gone = await svc.search(_phone_recording(2, 9.0, 12.0, snr_db=15.0), filename="q.ogg")
        assert all("fingerprint" not in r.scores for r in gone.results)
    finally:
        await svc.close()


async def test_fingerprints_of_an_interrupted_import_are_removed_at_start(tmp_path: Path) -> None:
    cfg = melody_only_config(tmp_path)
    svc = build_service(cfg)
    await svc.start()
    kept = (await svc.add_song(encode(tune(1), "flac"), filename="kept.flac")).song
    await svc.fingerprints.add("ghost", svc.library.landmarks(audio.Audio(tune(4), SR).resampled(32000).samples))
    await svc.close()
    svc2 = build_service(cfg)
    await svc2.start()
    try:
        assert await svc2.fingerprints.song_ids() == {kept.song_id}
    finally:
        await svc2.close()


async def test_reindex_rebuilds_the_fingerprints(tmp_path: Path) -> None:
    cfg = melody_only_config(tmp_path)
    svc = build_service(cfg)
    await svc.start()
    try:
        song = (await svc.add_song(encode(tune(3), "flac"), filename="s3.flac")).song
        await svc.fingerprints.reset()
        assert await svc.fingerprints.song_ids() == set()
        assert (await svc.reindex()).indexed == 1
        assert await svc.fingerprints.song_ids() == {song.song_id}
        res = await svc.search(_phone_recording(3, 5.0, 12.0, snr_db=15.0), filename="q.ogg")
        assert res.results[0].song.song_id == song.song_id and "fingerprint" in res.results[0].scores
    finally:
        await svc.close()


async def test_a_recording_of_a_song_kept_in_two_versions_is_still_answered(tmp_path: Path) -> None:
    """Two versions of one recording align the same anchors (the runner-up is the other version,
    so the anchors alone can never be twice it): verification answers, with one of them."""
    svc = build_service(melody_only_config(tmp_path))
    await svc.start()
    try:
        ids = {seed: (await svc.add_song(encode(tune(seed), "flac"), filename=f"s{seed}.flac")).song.song_id
               for seed in (1, 2, 3)}
        louder = np.concatenate([np.zeros(SR, np.float32), tune(2) * 1.5]).astype(np.float32)
        again = await svc.add_song(encode(louder, "mp3"), filename="s2-remaster.mp3", on_duplicate="version")
        assert again.created
        res = await svc.search(_phone_recording(2, 9.0, 12.0, snr_db=15.0), filename="q.ogg")
        top = res.results[0]
        assert res.match and top.song.song_id in {ids[2], again.song.song_id}
        assert "fingerprint" in top.scores and top.confidence >= 0.99
    finally:
        await svc.close()


def _drum_loop(seconds: int = 8) -> bytes:
    """Noise bursts twice a second: no pitch for the melody path to follow."""
    rng = np.random.default_rng(0)
    hit = rng.standard_normal(800) * np.exp(-np.arange(800) / 100)
    beat = np.concatenate([hit, np.zeros(SR // 2 - len(hit))])
    return encode((0.5 * np.tile(beat, 2 * seconds)).astype(np.float32), "ogg")


async def test_beside_a_fingerprint_index_harmony_is_searched_only_when_the_ranking_reads_it(
    tmp_path: Path,
) -> None:
    svc = build_service(melody_only_config(tmp_path))  # melody, harmony and the fingerprint
    await svc.start()
    searched: list[str] = []
    real_path = svc.pipeline.search_path

    async def spy(name, *args, **kwargs):
        searched.append(name)
        return await real_path(name, *args, **kwargs)

    svc.pipeline.search_path = spy  # type: ignore[method-assign]
    hum = voice_note(2, 4.0, 10.0, shift=3.0)
    try:
        ids = {seed: (await svc.add_song(encode(tune(seed), "flac"), filename=f"s{seed}.flac")).song.song_id
               for seed in (1, 2, 3)}
        # A hum: melody found songs and the fingerprint index was searched; harmony is not read.
        lazy = await svc.search(hum, filename="hum.ogg")
        assert searched == ["melody"] and lazy.results[0].song.song_id == ids[2]

        # Drums: no melody at all, so harmony still lists the closest songs (and no match).
        searched.clear()
        drums = await svc.search(_drum_loop(), filename="drums.ogg")
        assert searched == ["melody", "harmony"]
        assert drums.results and not drums.match

        # The fingerprint index unavailable: harmony stands in for it.
        searched.clear()
        real_open = svc.backends.open_fingerprints

        async def unavailable() -> bool:
            return False

        svc.backends.open_fingerprints = unavailable  # type: ignore[method-assign]
        await svc.search(hum, filename="hum.ogg")
        assert searched == ["melody", "harmony"]
        svc.backends.open_fingerprints = real_open  # type: ignore[method-assign]
    finally:
        await svc.close()

    # Searching every path on every query answers the hum exactly as the lazy search did.
    every = build_service(melody_only_config(tmp_path, search={"gated_paths": "always"}))
    await every.start()
    try:
        eager = await every.search(hum, filename="hum.ogg")
    finally:
        await every.close()
    assert [(r.song.song_id, r.confidence, r.scores) for r in eager.results] == [
        (r.song.song_id, r.confidence, r.scores) for r in lazy.results
    ]
