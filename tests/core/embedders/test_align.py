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


def _reference_dtw(q: np.ndarray, s: np.ndarray, penalty: float) -> tuple[float, int, int]:
    """subsequence_dtw as its docstring states it: the whole cost matrix, plain Python."""
    def local(a: float, b: float) -> float:
        if np.isnan(b):
            return align.UNVOICED_COST
        d = (a - b + 6.0) % 12.0 - 6.0
        return min(abs(d), align.CLIP)

    m, n = len(q), len(s)
    D = np.full((m, n), np.inf)
    start = np.zeros((m, n), dtype=int)
    D[0] = [local(q[0], x) for x in s]
    start[0] = np.arange(n)
    for i in range(1, m):
        for j in range(1, n):
            c = local(q[i], s[j])
            steps = [(D[i - 1, j - 1], start[i - 1, j - 1])]  # in this order: the first minimum wins
            if j >= 2:
                steps.append((D[i - 1, j - 2] + penalty, start[i - 1, j - 2]))
            if i >= 2:
                steps.append((D[i - 2, j - 1] + c + penalty, start[i - 2, j - 1]))
            best = min(range(len(steps)), key=lambda k: steps[k][0])
            D[i, j], start[i, j] = steps[best][0] + c, steps[best][1]
    end = int(np.argmin(D[-1]))
    return D[-1, end] / m, int(start[-1, end]), end


@pytest.mark.parametrize("seed", range(20))
def test_dtw_kernel_equals_the_plain_recurrence(seed: int) -> None:
    """The compiled kernel (rolling rows, selects) against the recurrence written out. Whole
    semitones keep every sum exact, so ties are frequent and their order is checked too."""
    r = np.random.default_rng(seed)
    m, n = int(r.integers(1, 25)), int(r.integers(1, 60))
    q = np.cumsum(r.integers(-2, 3, m)).astype(np.float64)
    s = (np.cumsum(r.integers(-3, 4, n)) + r.integers(-8, 8)).astype(np.float64)
    s[r.random(n) < 0.15] = np.nan
    for penalty in (0.0, align.STEP_PENALTY):
        got, want = align.subsequence_dtw(q, s, penalty), _reference_dtw(q, s, penalty)
        if np.isfinite(want[0]):
            assert got == want
        else:  # too few song frames to hold the query: the kernel's "infinity" is 1e18
            assert got[0] >= 1e18 / m
