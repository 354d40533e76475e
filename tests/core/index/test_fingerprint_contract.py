"""One contract for every fingerprint backend: the local SQLite store and Elasticsearch (a real node).

Songs are six synthetic tunes (``audio_fixtures.tune``, ≈ 27–30 s each) fingerprinted once per
module at 8 kHz; queries are noisy excerpts of them. Each test gets its own storage (a temporary
directory, or a fresh index name on the shared node), so no test sees another's songs.

Two things about the data, measured rather than assumed:

* Each song carries a faint noise floor of its own (:data:`TEXTURE`), as every real recording
  does. A pure synthetic tune has far fewer than ``PEAKS_PER_SECOND`` real peaks, so without it
  any noise a query adds fills its peak budget and pairs with its true peaks, and an excerpt keeps
  only ≈ 10 aligned votes instead of ≈ 40.
* The tunes are random walks on one semitone grid with durations on a quarter-second grid, so two
  of them often share a few notes outright: 6–9 aligned anchor frames between different tunes
  (which the Poisson ``expected`` calls certain; :func:`~core.fingerprint.matching.accepted`
  needs 16). The tune that is never added is put half a semitone off that grid (:data:`UNKNOWN`)
  so that it shares none; tests about *other* songs assert which songs a backend returns, not how
  well chance aligned them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import SR, tune
from es_server import free_port
from index_fixtures import es_config

import core.index.fingerprint_es as fingerprint_es
import core.index.fingerprint_local as fingerprint_local
from core.audio import Audio
from core.errors import BackendUnavailable, IndexMismatch
from core.fingerprint.landmarks import SAMPLE_RATE, Landmarks, landmarks_of, query_variants
from core.fingerprint.matching import MIN_VERIFIED_Z, accepted
from core.index.fingerprint_base import FingerprintIndex, FingerprintMatch
from core.index.fingerprint_es import BLOCK_S, ElasticsearchFingerprintIndex
from core.index.fingerprint_local import LocalFingerprintIndex
from core.settings import ElasticsearchConfig

BACKENDS = ["local", "elasticsearch"]
SEEDS = range(1, 7)
TEXTURE = 0.02  # the recordings' own noise floor (the tunes peak at 0.5)
UNKNOWN = {"seed": 99, "shift": 0.5}  # a tune never added, off the songs' semitone grid


def recording(samples: np.ndarray, seed: int) -> np.ndarray:
    """A tune (at ``SR``) as a "recording" at 8 kHz: with a faint noise floor of its own."""
    x = Audio(samples, SR).resampled(SAMPLE_RATE).samples
    return (x + TEXTURE * np.random.default_rng(1000 + seed).standard_normal(len(x))).astype(np.float32)


@pytest.fixture(scope="module")
def songs() -> dict[str, tuple[np.ndarray, Landmarks]]:
    """song id → (samples at 8 kHz, landmarks), computed once for the module."""
    out = {}
    for seed in SEEDS:
        x = recording(tune(seed), seed)
        out[f"song{seed}"] = (x, landmarks_of(x))
    return out


@pytest.fixture(scope="module")
def unknown() -> np.ndarray:
    return recording(tune(UNKNOWN["seed"], shift=UNKNOWN["shift"]), 0)


def excerpt(x: np.ndarray, start_s: float, length_s: float = 8.0, noise: float = 0.02,
            seed: int = 0) -> np.ndarray:
    """``length_s`` of ``x`` from ``start_s``, with white noise of its own (the tunes peak at 0.5)."""
    y = x[int(start_s * SAMPLE_RATE):int((start_s + length_s) * SAMPLE_RATE)]
    return (y + noise * np.random.default_rng(seed).standard_normal(len(y))).astype(np.float32)


async def find(index: FingerprintIndex, samples: np.ndarray, **kw) -> list[FingerprintMatch]:
    return await index.search(query_variants(samples, (1.0,)), **kw)


def answer(matches: list[FingerprintMatch]) -> str | None:
    """The song the matcher accepts as recorded in the query (:func:`accepted`), if any."""
    hit = accepted([m.hit for m in matches])
    return next(m.song_id for m in matches if m.hit is hit) if hit is not None else None


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_index(backend: str, request: pytest.FixtureRequest,
               tmp_path: Path) -> Callable[[], FingerprintIndex]:
    """``make_index()`` → a new (unopened) index of ``backend`` over this test's storage, each call."""
    if backend == "local":
        return lambda: LocalFingerprintIndex(tmp_path / "index")
    cfg = es_config(request.getfixturevalue("es_server"))
    return lambda: ElasticsearchFingerprintIndex(cfg)


@pytest.fixture
async def index(make_index: Callable[[], FingerprintIndex]) -> AsyncIterator[FingerprintIndex]:
    ix = make_index()
    await ix.open()
    yield ix
    await ix.close()


@pytest.fixture
async def filled(index: FingerprintIndex, songs) -> FingerprintIndex:
    for song_id, (_, lm) in songs.items():
        await index.add(song_id, lm)
    return index


# -- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize("start_s", [10.0, 16.0])  # inside one block; straddling two (BLOCK_S = 20 s)
async def test_an_excerpt_is_found_with_its_offset(filled, songs, start_s: float) -> None:
    hits = await find(filled, excerpt(songs["song3"][0], start_s))
    assert hits, "nothing matched"
    assert hits[0].song_id == "song3"
    assert hits[0].hit.offset_s == pytest.approx(start_s, abs=0.1)
    assert answer(hits) == "song3"
    # Other tunes share a few notes at most (see the module docstring); the song shares the excerpt.
    assert all(h.hit.aligned * 2 < hits[0].hit.aligned for h in hits[1:])


async def test_a_tune_never_added_is_not_matched(filled, unknown) -> None:
    hits = await find(filled, excerpt(unknown, 10.0))
    assert answer(hits) is None
    assert all(h.hit.verified_z < MIN_VERIFIED_Z for h in hits)


async def test_candidates_are_verified_on_the_stored_constellation(filled, songs) -> None:
    """A 3 s excerpt under noise aligns too few anchors to decide (9 against the next song's 5), so
    the candidates are verified on the store's peaks: the song's own meet the excerpt's well above
    what its other offsets give, other tunes' do not (with no peaks stored every z would be 0).
    These tunes repeat their notes, which raises their null: real music verifies higher (the
    bench), so this asserts the order, not MIN_VERIFIED_Z."""
    hits = await find(filled, excerpt(songs["song3"][0], 8.0, length_s=3.0, noise=0.08))
    assert hits[0].song_id == "song3" and hits[0].hit.offset_s == pytest.approx(8.0, abs=0.05)
    assert hits[0].hit.verified_z > 3.0
    assert all(h.hit.verified_z < hits[0].hit.verified_z - 1.0 for h in hits[1:])


async def test_constellations_are_the_songs_peaks_in_the_window(filled, songs) -> None:
    lm = songs["song2"][1]
    (frames, bins), (none_f, _) = await filled.constellations([("song2", 100, 1400), ("nosuchsong", 0, 10)])
    inside = (lm.peak_frames >= 100) & (lm.peak_frames <= 1400)  # 1400 is past BLOCK_S: two blocks
    assert inside.sum() > 100
    np.testing.assert_array_equal(frames, lm.peak_frames[inside])
    np.testing.assert_array_equal(bins, lm.peak_bins[inside])
    assert len(none_f) == 0


async def test_song_ids_filter_excludes_other_songs(filled, songs) -> None:
    q = excerpt(songs["song3"][0], 10.0)
    everything = await find(filled, q)
    assert everything[0].song_id == "song3" and len({h.song_id for h in everything}) > 2
    others = await find(filled, q, song_ids=frozenset({"song1", "song2"}))
    assert {h.song_id for h in others} <= {"song1", "song2"}
    only = await find(filled, q, song_ids=frozenset({"song3", "song5"}))
    assert answer(only) == "song3"
    assert await find(filled, q, song_ids=frozenset()) == []


async def test_lookup_returns_the_postings_of_the_query_hashes(filled, songs) -> None:
    """Every occurrence (hash, frame) of a query hash in a song, keyed consistently."""
    lm = songs["song4"][1]
    q = np.unique(lm.hashes[(lm.times >= 300) & (lm.times < 400)])
    found = await filled.lookup(q)
    assert set(found.ids.values()) >= {"song4"}
    assert set(found.frames) == set(found.ids)
    assert found.catalog_frames == sum(s[1].frames for s in songs.values())
    p = found.postings
    assert np.isin(p.hashes, q).all()
    key = next(k for k, v in found.ids.items() if v == "song4")
    mine = p.songs == key
    want = np.isin(lm.hashes, q)
    got_rows = set(zip(p.hashes[mine].tolist(), p.times[mine].tolist()))
    assert got_rows == set(zip(lm.hashes[want].tolist(), lm.times[want].tolist()))
    assert found.frames[key] == lm.frames


# -- writes ---------------------------------------------------------------------------------


async def test_adding_twice_replaces(filled, songs) -> None:
    before = await filled.stats()
    await filled.add("song3", songs["song3"][1])
    after = await filled.stats()
    assert (after.songs, after.hashes) == (before.songs, before.hashes)
    assert after.audio_s == pytest.approx(before.audio_s)
    hits = await find(filled, excerpt(songs["song3"][0], 10.0))
    assert answer(hits) == "song3"


async def test_replacing_with_a_shorter_recording_drops_the_rest(filled, songs) -> None:
    x, old = songs["song3"]
    short = landmarks_of(x[:int(12 * SAMPLE_RATE)])  # one block instead of two
    before = await filled.stats()
    await filled.add("song3", short)
    after = await filled.stats()
    assert after.songs == before.songs
    assert after.hashes == before.hashes - len(old) + len(short)
    assert after.audio_s == pytest.approx(before.audio_s - old.duration_s + 12.0, abs=0.05)
    late = await find(filled, excerpt(x, 16.0))  # 16–24 s: no longer in the song
    assert not any(h.song_id == "song3" and abs(h.hit.offset_s - 16.0) < 1.0 for h in late)
    early = await find(filled, excerpt(x, 2.0))
    assert answer(early) == "song3"
    (frames, _), = await filled.constellations([("song3", 0, 10**6)])
    np.testing.assert_array_equal(frames, short.peak_frames)  # the old block's peaks are gone too


async def test_local_adding_in_one_batch_stores_what_adding_one_by_one_does(songs, tmp_path) -> None:
    """The local store's ``add_many`` merges a batch's postings before writing them: the same
    postings, songs and constellations as one ``add`` per song, found alike."""
    filled = LocalFingerprintIndex(tmp_path / "one-by-one")
    await filled.open()
    for song_id, (_, lm) in songs.items():
        await filled.add(song_id, lm)
    one_by_one = await filled.lookup(np.unique(np.concatenate([lm.hashes for _, lm in songs.values()])))
    batched = LocalFingerprintIndex(tmp_path / "batched")
    await batched.open()
    await batched.add_many([(song_id, lm) for song_id, (_, lm) in songs.items()])
    together = await batched.lookup(np.unique(np.concatenate([lm.hashes for _, lm in songs.values()])))

    def rows(found) -> set[tuple[int, str, int]]:
        p = found.postings
        return {(h, found.ids[k], t) for h, k, t in zip(p.hashes.tolist(), p.songs.tolist(), p.times.tolist())}

    assert rows(together) == rows(one_by_one)
    assert len(together.postings.hashes) == len(one_by_one.postings.hashes)  # no row twice
    assert (await batched.stats()).hashes == (await filled.stats()).hashes
    x, lm = songs["song5"]
    (frames, bins), = await batched.constellations([("song5", 0, 10**6)])
    np.testing.assert_array_equal(frames, lm.peak_frames)
    np.testing.assert_array_equal(bins, lm.peak_bins)
    assert answer(await find(batched, excerpt(x, 10.0))) == "song5"


async def test_a_batch_replaces_songs_already_stored(filled, songs) -> None:
    x, old = songs["song3"]
    short = landmarks_of(x[:int(12 * SAMPLE_RATE)])
    before = await filled.stats()
    await filled.add_many([("song3", old), ("song3", short), ("extra", songs["song4"][1])])
    after = await filled.stats()
    assert after.songs == before.songs + 1  # song3 once (its last landmarks), and extra
    assert after.hashes == before.hashes - len(old) + len(short) + len(songs["song4"][1])
    late = await find(filled, excerpt(x, 16.0))
    assert not any(h.song_id == "song3" and abs(h.hit.offset_s - 16.0) < 1.0 for h in late)
    assert answer(await find(filled, excerpt(x, 2.0))) == "song3"
    await filled.add_many([])
    assert await filled.stats() == after


async def test_delete_removes_the_song(filled, songs) -> None:
    q = excerpt(songs["song3"][0], 10.0)
    assert "song3" in {h.song_id for h in await find(filled, q)}
    assert await filled.delete("song3") is True
    assert "song3" not in {h.song_id for h in await find(filled, q)}
    assert await filled.song_ids() == set(songs) - {"song3"}
    assert (await filled.stats()).songs == len(songs) - 1
    assert await filled.delete("song3") is False
    assert await filled.delete("never-added") is False
    (frames, _), = await filled.constellations([("song3", 0, 10**6)])
    assert len(frames) == 0


async def test_a_song_without_landmarks_is_still_a_song(index) -> None:
    await index.add("silence", Landmarks(np.zeros(0, np.uint32), np.zeros(0, np.int32), 5.0))
    assert await index.song_ids() == {"silence"}
    s = await index.stats()
    assert (s.songs, s.hashes) == (1, 0) and s.audio_s == pytest.approx(5.0, abs=0.02)
    assert await index.delete("silence") is True
    assert await index.song_ids() == set()


async def test_reset_drops_every_song(filled, songs) -> None:
    await filled.reset()
    assert await filled.song_ids() == set()
    assert (await filled.stats()).songs == 0
    q = excerpt(songs["song3"][0], 10.0)
    assert await find(filled, q) == []
    await filled.add("song3", songs["song3"][1])
    assert answer(await find(filled, q)) == "song3"


# -- inspection, persistence, format --------------------------------------------------------


async def test_song_ids_and_stats(filled, songs, backend: str) -> None:
    assert await filled.song_ids() == set(songs)
    s = await filled.stats()
    assert s.backend == backend
    assert s.songs == len(songs)
    assert s.hashes == sum(len(lm) for _, lm in songs.values())
    assert s.audio_s == pytest.approx(sum(lm.duration_s for _, lm in songs.values()), abs=0.1)
    assert s.size_bytes is None or s.size_bytes > 0


async def test_a_new_instance_over_the_same_storage_sees_the_same_data(filled, make_index, songs) -> None:
    before = await filled.stats()
    await filled.close()
    again = make_index()
    await again.open()
    try:
        assert await again.song_ids() == set(songs)
        assert (await again.stats()).hashes == before.hashes
        hits = await find(again, excerpt(songs["song5"][0], 4.0))
        assert answer(hits) == "song5"
    finally:
        await again.close()


def _module(backend: str):
    return fingerprint_local if backend == "local" else fingerprint_es


async def test_an_index_of_another_format_with_data_is_refused(filled, make_index, backend,
                                                                monkeypatch) -> None:
    await filled.close()
    monkeypatch.setattr(_module(backend), "FORMAT", "landmarks-999")
    other = make_index()
    with pytest.raises(IndexMismatch):
        await other.open()
    await other.close()


async def test_an_empty_index_of_another_format_is_adopted(make_index, backend, songs, monkeypatch) -> None:
    old = make_index()
    await old.open()  # created with the current FORMAT, and empty
    await old.close()
    monkeypatch.setattr(_module(backend), "FORMAT", "landmarks-999")
    new = make_index()
    await new.open()
    try:
        await new.add("song2", songs["song2"][1])
        await new.close()
        again = make_index()
        await again.open()  # and the store now says landmarks-999
        await again.close()
    finally:
        await new.close()


async def test_reset_after_a_format_change_makes_the_store_usable(filled, make_index, backend, songs,
                                                                 monkeypatch) -> None:
    """What ``humbot reindex`` does after an upgrade changed the hashes: reset, open, refill."""
    await filled.close()
    monkeypatch.setattr(_module(backend), "FORMAT", "landmarks-999")
    ix = make_index()
    try:
        with pytest.raises(IndexMismatch):
            await ix.open()
        await ix.reset()
        await ix.open()
        assert await ix.song_ids() == set()
        await ix.add("song2", songs["song2"][1])
        assert answer(await find(ix, excerpt(songs["song2"][0], 5.0))) == "song2"
    finally:
        await ix.close()
    again = make_index()
    try:
        await again.open()  # the store now says landmarks-999
        assert await again.song_ids() == {"song2"}
    finally:
        await again.close()


# -- Elasticsearch only: the first step's chunks -------------------------------------------


@pytest.fixture
async def es_filled(es_server, songs) -> AsyncIterator[ElasticsearchFingerprintIndex]:
    ix = ElasticsearchFingerprintIndex(es_config(es_server))
    await ix.open()
    for song_id, (_, lm) in songs.items():
        await ix.add(song_id, lm)
    yield ix
    await ix.close()


async def test_es_lookup_equals_the_local_one_on_a_small_catalog(es_filled, songs, tmp_path) -> None:
    """With fewer blocks than CANDIDATE_BLOCKS the first step loses nothing: the same postings."""
    assert len(songs) * (30 // BLOCK_S + 1) <= fingerprint_es.CANDIDATE_BLOCKS
    local = LocalFingerprintIndex(tmp_path / "local")
    await local.open()
    for song_id, (_, lm) in songs.items():
        await local.add(song_id, lm)
    variants = query_variants(excerpt(songs["song6"][0], 12.0))
    q = np.unique(np.concatenate([lm.hashes for _, lm in variants]))

    def rows(found) -> set[tuple[str, int, int]]:
        p = found.postings
        return {(found.ids[s], h, t)
                for h, s, t in zip(p.hashes.tolist(), p.songs.tolist(), p.times.tolist())}

    a, b = await es_filled.lookup(q), await local.lookup(q)
    assert rows(a) == rows(b) and len(rows(a)) > 0
    assert a.catalog_frames == b.catalog_frames
    assert {a.ids[k]: f for k, f in a.frames.items()} == {b.ids[k]: f for k, f in b.frames.items()}


async def test_es_small_chunks_still_find_the_song(es_filled, songs) -> None:
    es_filled._chunk = 64  # many first-step searches, each with a sample of the query's hashes
    hits = await find(es_filled, excerpt(songs["song3"][0], 16.0))
    assert answer(hits) == "song3"
    assert hits[0].hit.offset_s == pytest.approx(16.0, abs=0.1)


async def test_es_learns_the_clusters_clause_cap(es_filled) -> None:
    es_filled._chunk = 40_000  # above the test node's cap (8192 with a 512 MB heap)
    found = await es_filled.lookup(np.arange(0, 2 ** 21, 64, dtype=np.uint32))  # 32768 distinct hashes
    assert es_filled._chunk < 32_768
    assert found.catalog_frames > 0


async def test_es_a_song_filter_too_large_to_send_is_applied_to_the_candidates(es_filled, songs,
                                                                               monkeypatch) -> None:
    monkeypatch.setattr(fingerprint_es, "MAX_TERMS", 1)
    q = excerpt(songs["song3"][0], 10.0)
    others = await find(es_filled, q, song_ids=frozenset({"song1", "song2"}))
    assert {h.song_id for h in others} <= {"song1", "song2"}
    only = await find(es_filled, q, song_ids=frozenset({"song3", "song5"}))
    assert answer(only) == "song3"


async def test_es_an_unreachable_cluster_is_backend_unavailable() -> None:
    cfg = ElasticsearchConfig.model_validate({
        "hosts": [f"http://127.0.0.1:{free_port()}"], "index": "t-nowhere", "request_timeout_s": 2,
        "search_timeout_s": 1, "max_retries": 0})
    ix = ElasticsearchFingerprintIndex(cfg)
    with pytest.raises(BackendUnavailable):
        await ix.open()
    with pytest.raises(BackendUnavailable):
        await ix.lookup(np.arange(10, dtype=np.uint32))
    await ix.close()
