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
