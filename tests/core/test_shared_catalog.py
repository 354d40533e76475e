"""Several humbot processes on one data directory (issue 16, item 1 and 3): writes are serialised
by the directory's lock, a running service sees what the others wrote, and a rebuild loses no
write made meanwhile. "Another process" is a real ``humbot`` process where the timing allows, and
a second service on the same directory (its own index, lock and connections) where a test must
place a write inside another's rebuild."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from audio_fixtures import encode, tune
from service_fixtures import melody_only_config, voice_note

from bot.config import parse_config
from bot.wiring import build_service
from core.service import HumService

REPO = Path(__file__).resolve().parents[2]


def _config(backend: str, data_dir: Path, request: pytest.FixtureRequest):
    if backend == "local":
        return melody_only_config(data_dir)
    from index_fixtures import es_config

    es = es_config(request.getfixturevalue("es_server")).model_dump(mode="json", exclude_none=True)
    return parse_config({"index": {"backend": "elasticsearch", "elasticsearch": es},
                         "embedders": {"panns": {"enabled": False}}}, data_dir=data_dir)


async def _titles(service: HumService, seed: int) -> list[str]:
    resp = await service.search(voice_note(seed, 4.0, 10.0), filename="q.ogg", with_clip=False)
    return [r.song.title for r in resp.results]


async def test_a_running_service_answers_with_songs_another_process_added_and_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data), "embedders": {"panns": {"enabled": False}}}))
    running = build_service(melody_only_config(data))
    await running.start()
    try:
        for seed in (1, 2):
            await running.add_song(encode(tune(seed), "flac"), filename=f"t{seed}.flac", title=f"Tune {seed}")
        (tmp_path / "new.flac").write_bytes(encode(tune(3), "flac"))

        def cli(*args: str) -> str:
            proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), *args], cwd=REPO,
                                  capture_output=True, text=True, timeout=300, check=True)
            return proc.stdout

        song_id = cli("songs", "add", str(tmp_path / "new.flac"), "--title", "Tune 3").split("\t")[0]
        resp = await running.search(voice_note(3, 4.0, 10.0), filename="q.ogg", with_clip=False)
        assert resp.results[0].song.title == "Tune 3"  # no restart: the next search sees it…
        assert "melody" in resp.results[0].scores  # …by its tune, in the index's memory
        assert (await running.index.stats()).songs == 3

        cli("songs", "remove", song_id)
        assert "Tune 3" not in await _titles(running, 3)
    finally:
        await running.close()


@pytest.mark.parametrize("backend", ["local", "elasticsearch"])
async def test_a_rebuild_loses_no_write_another_process_made_meanwhile(backend: str, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    config = _config(backend, tmp_path, request)
    running, rebuilding = build_service(config), build_service(config)
    await running.start()
    await rebuilding.start()
    try:
        ids = {}
        for seed in (1, 2):
            ids[seed] = (await running.add_song(encode(tune(seed), "flac"), filename=f"t{seed}.flac",
                                                title=f"Tune {seed}")).song.song_id
        # The rebuild pauses after its first song while the running service adds and removes one.
        first_done, writes_done = asyncio.Event(), asyncio.Event()
        songs = rebuilding.library.songs_with_segments  # what reindex reads

        async def paused(*args):
            async for item in songs(*args):
                yield item
                first_done.set()
                await writes_done.wait()

        rebuilding.library.songs_with_segments = paused  # type: ignore[method-assign]
        task = asyncio.create_task(rebuilding.reindex())
        await asyncio.wait_for(first_done.wait(), 120)
        ids[4] = (await running.add_song(encode(tune(4), "flac"), filename="t4.flac", title="Tune 4")).song.song_id
        await running.remove_song(ids[2])
        writes_done.set()
        result = await asyncio.wait_for(task, 300)
        assert result.skipped == ()  # the removed song is no missing original

        fresh = build_service(config)
        await fresh.start()
        try:
            assert await fresh.index.song_ids() == {ids[1], ids[4]}
            assert (await _titles(fresh, 4))[0] == "Tune 4"
        finally:
            await fresh.close()
        titles = await _titles(running, 4)  # the running one follows the rebuilt index too
        assert titles[0] == "Tune 4" and "Tune 2" not in titles
    finally:
        await running.close()
        await rebuilding.close()


async def test_one_file_added_by_two_processes_at_once_is_added_once(tmp_path: Path) -> None:
    one, two = build_service(melody_only_config(tmp_path)), build_service(melody_only_config(tmp_path))
    await one.start()
    await two.start()
    try:
        data = encode(tune(5), "flac")
        results = await asyncio.gather(one.add_song(data, filename="a.flac", title="Tune 5"),
                                       two.add_song(data, filename="a.flac", title="Tune 5"))
        assert sorted(r.created for r in results) == [False, True]
        assert results[0].song.song_id == results[1].song.song_id
        assert await one.count_songs() == 1
        await one.backends.sync()
        await two.backends.sync()
        assert await one.index.song_ids() == await two.index.song_ids() == {results[0].song.song_id}
    finally:
        await one.close()
        await two.close()
