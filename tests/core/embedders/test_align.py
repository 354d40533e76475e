"""DTW re-ranking: the key pre-selection keeps the right transposition; alignment finds the passage."""

from __future__ import annotations

import numpy as np
import pytest

from core.embedders import align


def _song(seed: int, frames: int = 600) -> np.ndarray:
    """A melody-like contour: held notes of a random walk (MIDI per 0.1 s frame), with rests."""
    r = np.random.default_rng(seed)
    notes = 64 + np.cumsum(r.integers(-3, 4, frames // 3 + 1))[np.arange(frames) // 3] % 12
    return np.where(r.random(frames) < 0.1, np.nan, notes).astype(np.float64)


@pytest.mark.parametrize("shift", range(-6, 6))
def test_key_candidates_keep_the_true_transposition(shift: int) -> None:
    song = _song(3)
    region = song[200:300]
    query = align.prepare_query(region + shift)
    centred = song - np.nanmedian(song)
    # The query is centred on its own median, so the transposition to find is median(region) − centre.
    true = int(round(np.nanmedian(region) - np.nanmedian(song)))
    true = (true + 6) % 12 - 6
    assert true in align.key_candidates(query, centred, align.KEYS_TRIED)
    assert align.key_candidates(query, centred, 12) == list(range(-6, 6))


def test_alignment_finds_the_passage_of_a_transposed_slower_query() -> None:
    song, other = _song(3), _song(4)
    passage = song[250:330]
    filled = align.prepare_query(passage)  # gaps interpolated, as a hum would glide over rests
    query = align.prepare_query(np.interp(np.arange(0, len(filled), 1 / 1.2), np.arange(len(filled)), filled) + 5)
    own, start = align.align(query, song, offset=240)
    theirs, _ = align.align(query, other, offset=240)
    assert own > 0.8 and own > theirs + 0.2  # the song has 10 % rests, each costing UNVOICED_COST
    assert abs(start - 250) <= 3


def test_coarse_pass_finds_the_passage_anywhere_in_the_song() -> None:
    song, other = _song(5, frames=2000), _song(6, frames=2000)  # 200 s each
    passage = align.prepare_query(song[1500:1600])
    query = align.prepare_query(np.interp(np.arange(0, len(passage), 1.15), np.arange(len(passage)), passage) - 3)
    own, start = align.coarse_align(align.pooled(query), align.pooled(song))
    theirs, _ = align.coarse_align(align.pooled(query), align.pooled(other))
    assert own > theirs + 0.1  # 200 s of a random walk offers many near-misses
    assert abs(start - 1500) <= 2 * align.COARSE_FACTOR  # in full-rate frames


def test_pooled_halves_the_frame_rate_and_keeps_rests() -> None:
    c = np.array([60.0, 62.0, np.nan, 64.0, np.nan, np.nan, 67.0])
    out = align.pooled(c)
    assert len(out) == 3
    np.testing.assert_allclose(out[:2], [61.0, 64.0])
    assert np.isnan(out[2])
