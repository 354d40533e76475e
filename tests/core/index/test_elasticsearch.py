"""What the Elasticsearch backend leaves on the server: mapping, alias, metadata; and a service on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_fixtures import encode, tune
from service_fixtures import voice_note
from elasticsearch import AsyncElasticsearch
from es_server import EsServer
from index_fixtures import SPECS, es_config, make_segments, make_song

from bot.config import parse_config
from bot.wiring import build_service
from core.errors import IndexMismatch
from core.index.elasticsearch import ElasticsearchIndex


@pytest.fixture
async def raw(es_server: EsServer):
    es = AsyncElasticsearch(es_server.url)
    yield es
    await es.close()


async def test_mapping_alias_and_metadata(es_server: EsServer, raw: AsyncElasticsearch, tmp_path: Path) -> None:
    cfg = es_config(es_server)
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)
    try:
        await ix.upsert(make_song(1, genre="Folk"), make_segments(1))
        concrete = list(await raw.indices.get_alias(name=cfg.index))
        assert concrete == [f"{cfg.index}-v1"]  # an alias over a versioned concrete index
        mapping = (await raw.indices.get_mapping(index=cfg.index))[concrete[0]]["mappings"]
        meta = mapping["_meta"]["humbot"]
        assert meta["embedders"] == {"melody": {"version": "m-1", "dim": 64}, "panns": {"version": "p-1", "dim": 128}}
        assert meta["vector_index_type"] == "int8_hnsw" and meta["mapping_version"] >= 1
        props = mapping["properties"]
        # The original design's fields are all there.
        assert props["title"]["type"] == "text" and props["genre"]["type"] == "keyword"
        assert props["path"]["type"] == "text" and props["path"]["fields"]["keyword"]["type"] == "keyword"
        assert props["timestamp"]["type"] == "date"
        song_vec = props["audio-embedding"]
        assert (song_vec["type"], song_vec["dims"], song_vec["similarity"], song_vec["index"]) == (
            "dense_vector", 128, "cosine", True)  # the widest embedder (PANNs: 2048-d in production)
        seg = props["segments"]
        assert seg["type"] == "nested"
        for name, spec in SPECS.items():
            field = seg["properties"][name]
            assert (field["dims"], field["similarity"], field["index_options"]["type"]) == (spec.dim, "cosine",
                                                                                            "int8_hnsw")
        doc = await raw.get(index=cfg.index, id=make_song(1).song_id)
        src = doc["_source"]
        assert "audio-embedding" not in src  # vectors are not kept in _source
        assert all(set(s) == {"start_ms", "embedder"} for s in src["segments"])
        assert (src["genre"], src["path"], src["embedders"]) == (
            "Folk", f"songs/00/{make_song(1).sha256}.flac", ["melody:m-1", "panns:p-1"])
    finally:
        await ix.close()


async def test_rebuild_moves_the_alias_and_drops_the_old_index(es_server: EsServer, raw: AsyncElasticsearch,
                                                               tmp_path: Path) -> None:
    cfg = es_config(es_server)
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)
    await ix.upsert(make_song(1), make_segments(1))

    async def songs():
        yield make_song(1), make_segments(1)
        yield make_song(2), make_segments(2)

    try:
        assert await ix.rebuild(SPECS, songs()) == 2
        assert list(await raw.indices.get_alias(name=cfg.index)) == [f"{cfg.index}-v2"]
        assert not await raw.indices.exists(index=f"{cfg.index}-v1")
        settings = await raw.indices.get_settings(index=f"{cfg.index}-v2")
        assert "refresh_interval" not in settings[f"{cfg.index}-v2"]["settings"]["index"]  # bulk-load setting undone
        assert await ix.song_ids() == {make_song(1).song_id, make_song(2).song_id}
    finally:
        await ix.close()


async def test_an_index_that_humbot_did_not_create_is_not_touched(es_server: EsServer, raw: AsyncElasticsearch,
                                                                  tmp_path: Path) -> None:
    cfg = es_config(es_server)
    await raw.indices.create(index=cfg.index)
    ix = ElasticsearchIndex(cfg, tmp_path)
    with pytest.raises(IndexMismatch, match="not the alias humbot manages"):
        await ix.open(SPECS)
    await ix.close()
    assert await raw.indices.exists(index=cfg.index)


async def test_writes_never_create_an_index_when_the_alias_vanished(es_server: EsServer, raw: AsyncElasticsearch,
                                                                    tmp_path: Path) -> None:
    cfg = es_config(es_server)
    ix = ElasticsearchIndex(cfg, tmp_path)
    await ix.open(SPECS)
    try:
        await raw.indices.delete(index=f"{cfg.index}-v1")  # someone deletes it behind our back
        with pytest.raises(RuntimeError, match="rejected"):
            await ix.upsert(make_song(1), make_segments(1))
        assert not await raw.indices.exists(index=cfg.index)  # no dynamic-mapped index appeared
    finally:
        await ix.close()


async def test_service_on_elasticsearch_finds_the_hummed_tune(es_server: EsServer, tmp_path: Path) -> None:
    es = es_config(es_server).model_dump(mode="json", exclude_none=True)
    config = parse_config({"index": {"backend": "elasticsearch", "elasticsearch": es},
                           "embedders": {"panns": {"enabled": False}}}, data_dir=tmp_path)
    service = build_service(config)
    await service.start()
    try:
        for seed in (2, 5):
            await service.add_song(encode(tune(seed), "flac"), filename=f"tune{seed}.flac", title=f"Tune {seed}")
        stats = await service.stats()
        assert (stats.index.backend, stats.index.songs, stats.index.healthy) == ("elasticsearch", 2, True)
        for seed, start_s in ((2, 6.0), (5, 0.0)):
            resp = await service.search(voice_note(seed, start_s, 10.0), filename="q.ogg", with_clip=False)
            titles = [r.song.title for r in resp.results]
            assert titles == [f"Tune {seed}", f"Tune {7 - seed}"]  # the right one first, each song once
            assert abs(resp.results[0].offset_s - start_s) <= 1.5
    finally:
        await service.close()
