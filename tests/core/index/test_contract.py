"""One contract for every index backend: the local index and Elasticsearch (a real node) alike.

Vectors are random unit vectors (in 64/128 dimensions two of them are nearly orthogonal), so a
query made from one song's segment has exactly one right answer, with a known offset.
Elasticsearch stores vectors int8-quantised: scores are compared with a tolerance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from index_fixtures import SPECS, make_segments, make_song, unit

from core.errors import IndexMismatch
from core.index.base import VectorIndex
from core.types import EmbedderSpec, SearchFilter, Segments, Song

N_SONGS = 12
SCORE_TOL = 0.03  # int8 quantisation error on near-1 cosines is far below this


def catalog() -> list[tuple[Song, dict[str, Segments]]]:
    artists = ["Ann", "Bob", "Cleo"]
    genres = ["Pop", "Jazz", None]
    return [(make_song(i, artist=artists[i % 3], genre=genres[i % 3]), make_segments(i)) for i in range(N_SONGS)]


@pytest.fixture
async def filled(index: VectorIndex) -> AsyncIterator[tuple[VectorIndex, list[tuple[Song, dict[str, Segments]]]]]:
    songs = catalog()
    for song, segs in songs:
        await index.upsert(song, segs)
    yield index, songs


def near(segs: dict[str, Segments], name: str, row: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """A query vector close to segment ``row`` (cosine ≈ 1 − noise²/2)."""
    v = segs[name].vectors[row] + noise * unit(np.random.default_rng(seed), 1, segs[name].vectors.shape[1])[0]
    return (v / np.linalg.norm(v))[None, :]


@pytest.mark.parametrize("embedder", ["melody", "panns"])
async def test_search_finds_the_song_and_the_offset_of_its_best_segment(filled, embedder: str) -> None:
    index, songs = filled
    song, segs = songs[7]
    row = len(segs[embedder]) - 2
    hits = await index.search(embedder, near(segs, embedder, row), top_k=3)
    assert hits[0].song_id == song.song_id
    assert hits[0].offset_s == pytest.approx(float(segs[embedder].starts_s[row]))
    assert hits[0].score == pytest.approx(float(near(segs, embedder, row)[0] @ segs[embedder].vectors[row]), abs=SCORE_TOL)
    assert hits[0].score > hits[1].score + 0.3  # the others are random directions


async def test_results_are_distinct_songs_sorted_by_score_at_most_top_k(filled) -> None:
    index, songs = filled
    # Every segment of three songs as queries: a per-segment backend would return each song many times.
    q = np.concatenate([songs[i][1]["melody"].vectors for i in (1, 2, 3)])
    hits = await index.search("melody", q, top_k=5)
    ids = [h.song_id for h in hits]
    assert len(ids) == len(set(ids)) == 5
    assert set(ids[:3]) == {songs[i][0].song_id for i in (1, 2, 3)}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(-1.0 - 1e-5 <= h.score <= 1.0 + 1e-5 for h in hits)  # float32 rounding


async def test_several_query_vectors_give_each_song_its_best_pair(filled) -> None:
    index, songs = filled
    # Query 0 matches song 4 at 3 s, query 1 matches song 9 at 8 s (melody hops 1 s).
    q = np.concatenate([near(songs[4][1], "melody", 3), near(songs[9][1], "melody", 8, noise=0.3, seed=1)])
    hits = await index.search("melody", q, top_k=4)
    by_id = {h.song_id: h for h in hits}
    a, b = by_id[songs[4][0].song_id], by_id[songs[9][0].song_id]
    assert [h.song_id for h in hits[:2]] == [songs[4][0].song_id, songs[9][0].song_id]
    assert (a.offset_s, b.offset_s) == (3.0, 8.0)
    assert b.score == pytest.approx(float(q[1] @ songs[9][1]["melody"].vectors[8]), abs=SCORE_TOL)


async def test_remove_song(filled) -> None:
    index, songs = filled
    song, segs = songs[5]
    assert await index.delete(song.song_id) is True
    hits = await index.search("melody", near(segs, "melody", 2), top_k=N_SONGS)
    assert song.song_id not in {h.song_id for h in hits}
    assert len(hits) == N_SONGS - 1
    assert song.song_id not in await index.song_ids()
    assert await index.delete(song.song_id) is False
    stats = await index.stats()
    assert stats.songs == N_SONGS - 1
    assert stats.segments["melody"] == sum(len(s["melody"]) for _, s in songs) - len(segs["melody"])


async def test_re_adding_a_song_replaces_it_without_duplicates(filled) -> None:
    index, songs = filled
    song, _ = songs[2]
    await index.upsert(song, make_segments(2))  # the same again
    new = make_segments(1002, n_melody=5)  # and with other vectors: replaces all of them
    await index.upsert(song, new)
    stats = await index.stats()
    assert stats.songs == N_SONGS
    assert stats.segments["melody"] == sum(len(s["melody"]) for _, s in songs) - 12 + 5
    hits = await index.search("melody", np.concatenate([new["melody"].vectors, songs[2][1]["melody"].vectors]),
                              top_k=N_SONGS)
    assert [h.song_id for h in hits].count(song.song_id) == 1
    assert hits[0].song_id == song.song_id and hits[0].score > 0.97
    old = await index.search("melody", songs[2][1]["melody"].vectors[:1], top_k=1)
    assert old[0].score < 0.9 or old[0].song_id != song.song_id  # the old vectors are gone


async def test_filters_by_song_ids_artist_and_genre(filled) -> None:
    index, songs = filled
    q = near(songs[0][1], "melody", 1)  # song 0: artist Ann, genre Pop
    assert (await index.search("melody", q, 1))[0].song_id == songs[0][0].song_id

    hits = await index.search("melody", q, N_SONGS, SearchFilter(artist="bob"))  # case-insensitive
    assert hits and {h.song_id for h in hits} == {s.song_id for s, _ in songs if s.artist == "Bob"}

    hits = await index.search("melody", q, N_SONGS, SearchFilter(genre="JAZZ"))
    assert {h.song_id for h in hits} == {s.song_id for s, _ in songs if s.genre == "Jazz"}

    wanted = frozenset({songs[3][0].song_id, songs[8][0].song_id})
    hits = await index.search("melody", q, N_SONGS, SearchFilter(song_ids=wanted))
    assert {h.song_id for h in hits} == wanted

    hits = await index.search("melody", q, N_SONGS, SearchFilter(song_ids=wanted, artist="Ann"))
    assert {h.song_id for h in hits} == {songs[3][0].song_id}  # song 3: Ann; song 8: Cleo

    assert await index.search("melody", q, N_SONGS, SearchFilter(song_ids=frozenset())) == []
    assert await index.search("melody", q, N_SONGS, SearchFilter(artist="nobody")) == []


async def test_empty_queries_unknown_embedder_and_empty_index(index: VectorIndex) -> None:
    assert await index.search("melody", np.zeros((0, 64), np.float32), 5) == []
    assert await index.search("melody", unit(np.random.default_rng(0), 1, 64), 5) == []
    song, segs = make_song(1), make_segments(1)
    await index.upsert(song, segs)
    assert await index.search("no-such-embedder", segs["melody"].vectors[:1], 5) == []
    assert (await index.search("melody", segs["melody"].vectors[:1], 5))[0].song_id == song.song_id


async def test_a_song_without_vectors_for_one_embedder(index: VectorIndex) -> None:
    song, segs = make_song(1), make_segments(1)
    await index.upsert(song, {"melody": segs["melody"]})  # e.g. PANNs disabled when it was added
    assert await index.search("panns", segs["panns"].vectors, 5) == []
    assert (await index.search("melody", segs["melody"].vectors[:1], 5))[0].song_id == song.song_id
    assert (await index.stats()).segments == {"melody": len(segs["melody"]), "panns": 0}


async def test_persists_across_reopen(make_index: Callable[..., VectorIndex]) -> None:
    songs = catalog()[:4]
    first = make_index()
    await first.open(SPECS)
    for song, segs in songs:
        await first.upsert(song, segs)
    await first.delete(songs[0][0].song_id)
    await first.close()

    again = make_index()
    await again.open(SPECS)
    try:
        assert await again.song_ids() == {s.song_id for s, _ in songs[1:]}
        hits = await again.search("panns", near(songs[2][1], "panns", 1), 2)
        assert (hits[0].song_id, hits[0].offset_s) == (songs[2][0].song_id, 5.0)
        stats = await again.stats()
        assert (stats.songs, stats.healthy, stats.pending) == (3, True, 0)
    finally:
        await again.close()


async def test_mismatched_embedders_are_reported_with_the_fix(make_index: Callable[..., VectorIndex]) -> None:
    first = make_index()
    await first.open(SPECS)
    await first.upsert(make_song(1), make_segments(1))
    await first.close()

    for changed in ({**SPECS, "melody": EmbedderSpec("melody", "m-2", 64)},  # new embedder version
                    {**SPECS, "panns": EmbedderSpec("panns", "p-1", 256)},  # other dimension
                    {"melody": SPECS["melody"]}):  # an embedder gone
        ix = make_index()
        with pytest.raises(IndexMismatch) as err:
            await ix.open(changed)
        await ix.close()
        assert "humbot reindex" in str(err.value)
        assert err.value.params["detail"]


async def test_an_empty_index_adopts_new_embedders(make_index: Callable[..., VectorIndex]) -> None:
    first = make_index()
    await first.open(SPECS)
    await first.close()
    changed = {"melody": EmbedderSpec("melody", "m-2", 32)}
    ix = make_index()
    await ix.open(changed)
    try:
        segs = make_segments(3, changed)
        await ix.upsert(make_song(3), segs)
        assert (await ix.search("melody", segs["melody"].vectors[:1], 1))[0].song_id == make_song(3).song_id
    finally:
        await ix.close()


async def test_rebuild_switches_to_a_fresh_index_for_new_embedders(make_index: Callable[..., VectorIndex]) -> None:
    songs = catalog()[:5]
    first = make_index()
    await first.open(SPECS)
    for song, segs in songs:
        await first.upsert(song, segs)
    await first.close()

    new_specs = {"melody": EmbedderSpec("melody", "m-2", 32)}
    ix = make_index()
    with pytest.raises(IndexMismatch):
        await ix.open(new_specs)
    await ix.close()

    rebuilt = {s.song_id: make_segments(100 + i, new_specs) for i, (s, _) in enumerate(songs[1:])}

    async def stream():
        for song, _ in songs[1:]:  # song 0 left the catalog meanwhile
            yield song, rebuilt[song.song_id]

    ix = make_index()  # ``humbot reindex`` does not open the index first: it may be mismatched
    try:
        assert await ix.rebuild(new_specs, stream()) == 4
        assert await ix.song_ids() == set(rebuilt)
        target = songs[3][0].song_id
        hits = await ix.search("melody", rebuilt[target]["melody"].vectors[4:5], 2)
        assert (hits[0].song_id, hits[0].offset_s) == (target, 4.0)
        assert await ix.search("panns", songs[3][1]["panns"].vectors, 2) == []  # no such embedder any more
        assert (await ix.stats()).segments == {"melody": 4 * 12}
    finally:
        await ix.close()

    reopened = make_index()
    await reopened.open(new_specs)  # the new index now matches: no mismatch
    try:
        assert len(await reopened.song_ids()) == 4
    finally:
        await reopened.close()
