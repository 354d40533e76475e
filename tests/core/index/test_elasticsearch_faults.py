"""Faults on a real node: killed in the middle of an import and restarted, or hung.

Nothing may be lost (every accepted song ends up searchable, removals stay removed) and nothing
duplicated (one document per song, each segment once), even across a restart of our own process
while the node is down. Searches meanwhile fail with "temporarily unavailable".
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from elasticsearch import AsyncElasticsearch
from es_server import EsServer
from index_fixtures import SPECS, es_config, make_segments, make_song

from core.errors import BackendSlow, BackendUnavailable
from core.index.elasticsearch import ElasticsearchIndex
from core.types import IndexStats

N = 30


async def wait_replayed(ix: ElasticsearchIndex, bound_s: float = 120.0) -> IndexStats:
    """Wait (bounded) until the background replayer has emptied the queue; no speed is asserted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while True:
        stats = await ix.stats()
        if stats.pending == 0 and stats.healthy:
            return stats
        assert loop.time() < deadline, f"queue not replayed: {stats}"
        await asyncio.sleep(0.5)


async def test_killed_mid_import_and_restarted_loses_and_duplicates_nothing(es_server: EsServer,
                                                                            tmp_path: Path) -> None:
    cfg = es_config(es_server)
    songs = [(make_song(i), make_segments(i)) for i in range(N)]
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)

    eight_in, killed = asyncio.Event(), asyncio.Event()

    async def import_first_20() -> None:
        for k, (song, segs) in enumerate(songs[:20]):
            await ix.upsert(song, segs)  # never fails: into the cluster, or into the local queue
            if k == 7:
                eight_in.set()
            if k == 8:
                await killed.wait()  # so that most of the import happens while the node is down

    importing = asyncio.create_task(import_first_20())
    await eight_in.wait()
    await asyncio.to_thread(es_server.stop, kill=True)  # kill -9, while upsert #9 may be in flight
    killed.set()
    await importing

    stats = await ix.stats()
    assert not stats.healthy and stats.pending >= 11
    with pytest.raises(BackendUnavailable) as err:
        await ix.search("melody", songs[0][1]["melody"].vectors[:1], 5)
    assert "temporarily unavailable" in str(err.value)
    with pytest.raises(BackendUnavailable):
        await ix.song_ids()
    assert await ix.delete(songs[3][0].song_id)  # indexed before the kill; removed while down
    await ix.upsert(*songs[12])  # the same song again while queued: still one write
    assert (await ix.stats()).pending == stats.pending + 1

    # Our own process restarts while the node is still down: the queue is on disk.
    await ix.close()
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)  # starts degraded instead of refusing to start
    try:
        for song, segs in songs[20:]:
            await ix.upsert(song, segs)
        assert (await ix.stats()).pending == stats.pending + 1 + 10

        await asyncio.to_thread(es_server.start)
        stats = await wait_replayed(ix)  # the background replayer notices and drains the queue

        expected = {s.song_id for s, _ in songs} - {songs[3][0].song_id}
        assert await ix.song_ids() == expected
        assert stats.songs == len(expected)
        assert stats.segments == {n: len(expected) * len(songs[0][1][n]) for n in SPECS}  # each segment once
        for i, (song, segs) in enumerate(songs):
            hits = await ix.search("melody", segs["melody"].vectors[i % 12 : i % 12 + 1], 3)
            if song.song_id in expected:
                assert (hits[0].song_id, hits[0].offset_s) == (song.song_id, float(i % 12))
            else:
                assert song.song_id not in {h.song_id for h in hits}
        everything = np.stack([segs["melody"].vectors[0] for _, segs in songs])  # one query vector per song
        hits = await ix.search("melody", everything, 100)
        assert sorted(h.song_id for h in hits) == sorted(expected)  # every song, once
    finally:
        await ix.close()


async def test_hung_node_search_fails_fast_and_writes_queue(es_server: EsServer, tmp_path: Path) -> None:
    """A node that accepts connections but never answers (SIGSTOP): timeouts, not hangs."""
    cfg = es_config(es_server, search_timeout_s=1.0, request_timeout_s=2.0, max_retries=0)
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)
    song, segs = make_song(1), make_segments(1)
    pgid = es_server.proc.pid
    os.killpg(pgid, signal.SIGSTOP)
    try:
        with pytest.raises(BackendSlow) as slow:  # a BackendUnavailable whose user is told "busy"
            await ix.search("melody", segs["melody"].vectors[:1], 5)
        assert slow.value.key == "busy"
        await ix.upsert(song, segs)  # times out, then queued
        stats = await ix.stats()
        assert (stats.healthy, stats.pending) == (False, 1)
    finally:
        os.killpg(pgid, signal.SIGCONT)
    try:
        assert await ix.flush() == 0
        hits = await ix.search("melody", segs["melody"].vectors[5:6], 5)
        assert (hits[0].song_id, hits[0].offset_s) == (song.song_id, 5.0)
        assert (await ix.stats()).healthy
    finally:
        await ix.close()


async def test_queue_replayed_at_open(es_server: EsServer, tmp_path: Path) -> None:
    """Writes queued by an earlier run are applied when the index opens, in order."""
    cfg = es_config(es_server)
    first = ElasticsearchIndex(cfg, tmp_path)
    await first.open(SPECS)
    await first.close()
    # An earlier run queued these while the cluster was down (same queue file, written directly).
    from core.index.write_queue import WriteQueue

    q = WriteQueue(first.queue_path)
    q.append_upsert(make_song(1), make_segments(1))
    q.append_upsert(make_song(2), make_segments(2))
    q.append_delete(make_song(1).song_id)  # order matters: the delete comes last
    q.close()

    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)
    try:
        assert (await ix.stats()).pending == 0
        assert await ix.song_ids() == {make_song(2).song_id}
        raw = AsyncElasticsearch(es_server.url)
        try:
            assert (await raw.count(index=cfg.index))["count"] == 1
        finally:
            await raw.close()
    finally:
        await ix.close()
