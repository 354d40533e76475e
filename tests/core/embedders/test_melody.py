"""Melody vectors: invariant to key, tolerant to tempo, fast."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import tune

from core.audio import Audio
from core.embedders import melody
from core.embedders.melody import DIM, MelodyEmbedder, contour_vector


@pytest.fixture(scope="module")
def embedder() -> MelodyEmbedder:
    return MelodyEmbedder()


def test_contour_vector_is_transposition_invariant() -> None:
    rng = np.random.default_rng(0)
    c = 60 + np.cumsum(rng.integers(-2, 3, 80)).astype(np.float32)
    c[rng.random(80) < 0.2] = np.nan
    a, b = contour_vector(c), contour_vector(c + 7)
    assert a.shape == (DIM,)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_flat_or_unvoiced_windows_are_skipped() -> None:
    assert contour_vector(np.full(80, np.nan, np.float32)) is None
    assert contour_vector(np.full(80, 62.0, np.float32)) is None


def _q(seed: int, **kw) -> np.ndarray:
    y = tune(seed, voice=True, **kw)
    return Audio(y, 32000).resampled(16000).samples


def test_song_tracker_follows_the_melody_over_a_bass_line() -> None:
    y = Audio(tune(5), 32000).resampled(16000).samples
    contour = melody.song_contour(y, melody.pitch_posterior.PitchPosterior().posterior(y, melody.SAMPLE_RATE))
    voiced = contour[~np.isnan(contour)]
    assert len(voiced) > 0.6 * len(contour)
    # The tune lives between MIDI 62 and 76 (plus harmonics); the bass two octaves lower.
    assert np.median(voiced) > 58


@pytest.mark.parametrize(("shift", "tempo"), [(0, 1.0), (5, 1.0), (-4, 1.0), (0, 1.2), (0, 0.85), (3, 1.15)])
def test_hummed_query_matches_its_song_window(embedder: MelodyEmbedder, shift: float, tempo: float) -> None:
    song = embedder.embed_song(Audio(tune(7), 32000).resampled(16000).samples)
    q = embedder.embed_queries([_q(7, shift=shift, tempo=tempo)[: int(10 * tempo * 16000)]])[0]
    other = embedder.embed_song(Audio(tune(8), 32000).resampled(16000).samples)
    best_self = float((q @ song.vectors.T).max())
    best_other = float((q @ other.vectors.T).max())
    row = int(np.argmax((q @ song.vectors.T).max(axis=0)))
    assert best_self > 0.9 and best_self > best_other + 0.03
    assert song.starts_s[row] <= 1.0  # the query starts at the song's start


def test_rerank_finds_the_passage_whatever_the_first_stage_offset(embedder: MelodyEmbedder) -> None:
    own = embedder.embed_song(Audio(tune(7), 32000).resampled(16000).samples)
    other = embedder.embed_song(Audio(tune(8), 32000).resampled(16000).samples)
    feats = embedder.embed_queries_full([_q(7, shift=3)[5 * 16000 : 15 * 16000]])[0].features
    # The first stage pointed at the wrong end of the right song.
    (s_own, at), (s_other, _) = embedder.rerank(feats, [(own.features, 25.0), (other.features, 5.0)])
    assert s_own > s_other + 0.1
    assert abs(at - 5.0) <= 1.0


def test_window_length_is_part_of_the_index_version(embedder: MelodyEmbedder) -> None:
    """Other windows are other vectors: the spec differs, so the index asks for a reindex (see test_contract)."""
    six, eight = MelodyEmbedder(window_s=6.0), MelodyEmbedder(window_s=8.0)
    assert six.spec != eight.spec and six.spec.dim == eight.spec.dim
    assert embedder.spec == six.spec  # the default is the measured best (WINDOW_S)


def test_query_contours_on_two_threads_equal_the_sequential_ones(embedder: MelodyEmbedder) -> None:
    """The query's trackers run split over threads (Basic Pitch in two halves): same numbers."""
    q = Audio(tune(4), 32000).resampled(16000).samples[: 10 * 16000]  # a recording: both trackers find a tune
    voice, mix = embedder.query_contours(q)
    posterior = melody.pitch_posterior.PitchPosterior().posterior(q, melody.SAMPLE_RATE)
    np.testing.assert_array_equal(mix, melody.song_contour(q, posterior))
    np.testing.assert_array_equal(voice, melody.query_contour(q, embedder._detector))
    assert (~np.isnan(mix)).mean() > 0.5


def test_later_probes_read_the_query_from_later_starts(embedder: MelodyEmbedder) -> None:
    """A query opening with another tune: its probe from 4 s in matches the song; the main probe does not."""
    song = embedder.embed_song(Audio(tune(7), 32000).resampled(16000).samples)
    q = np.concatenate([_q(99)[: 4 * 16000], _q(7)[: 9 * 16000]])
    (emb,) = embedder.embed_queries_full([q])
    assert len(emb.probes) == len(melody.PROBE_STARTS_S)
    best = lambda v: float((v @ song.vectors.T).max())  # noqa: E731
    assert best(emb.probes[-1]) > 0.9 and best(emb.probes[-1]) > best(emb.vectors) + 0.05
    # A query too short for a window from a later start gets no probe there.
    (short,) = embedder.embed_queries_full([_q(7)[: 6 * 16000]])
    assert len(short.probes) < len(melody.PROBE_STARTS_S)
