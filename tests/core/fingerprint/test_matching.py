"""Verification of a voted alignment, peak by peak (core.fingerprint.matching.verify), and the
acceptance rule that uses it. Peaks are drawn at random here: what matters is where they fall."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.fingerprint.landmarks import FRAME_RATE, HI_BIN, LO_BIN, Landmarks, landmarks_of
from core.fingerprint.matching import (
    MIN_ALIGNED,
    MIN_ANCHORED_Z,
    MIN_VERIFIED_Z,
    FingerprintHit,
    accepted,
    null_window,
    verify,
)

SONG_S = 120.0
BINS = HI_BIN - LO_BIN


def song_peaks(seed: int, per_second: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(SONG_S * per_second)
    frames = np.sort(rng.integers(0, int(SONG_S * FRAME_RATE), n)).astype(np.int32)
    return frames, rng.integers(0, BINS, n).astype(np.int32)


def recording_of(peaks: tuple[np.ndarray, np.ndarray], start: int, frames: int, kept: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A query of ``frames`` frames from ``start``: ``kept`` of the song's peaks there, each moved by
    up to a frame and a bin, and as many peaks of noise as of the song."""
    rng = np.random.default_rng(seed)
    f, b = peaks
    sel = (f >= start) & (f < start + frames) & (rng.random(len(f)) < kept)
    qf = f[sel] - start + rng.integers(-1, 2, sel.sum())
    qb = np.clip(b[sel] + rng.integers(-1, 2, sel.sum()), 0, BINS - 1)
    n = int(frames / FRAME_RATE * 50)
    qf = np.concatenate([qf, rng.integers(0, frames, n)])
    qb = np.concatenate([qb, rng.integers(0, BINS, n)])
    order = np.argsort(qf, kind="stable")
    return np.clip(qf[order], 0, None), qb[order]


def test_a_recording_with_a_fifth_of_its_peaks_left_verifies():
    song = song_peaks(1)
    query = recording_of(song, start=2000, frames=375, kept=0.2, seed=2)  # 6 s
    assert verify(query, song, 2000, int(SONG_S * FRAME_RATE)) >= MIN_VERIFIED_Z


def test_a_wrong_offset_or_another_song_does_not():
    song, other = song_peaks(1), song_peaks(3)
    query = recording_of(song, start=2000, frames=375, kept=0.2, seed=2)
    frames = int(SONG_S * FRAME_RATE)
    assert verify(query, song, 2400, frames) < MIN_VERIFIED_Z
    assert verify(query, other, 2000, frames) < MIN_VERIFIED_Z


def test_only_the_null_window_of_the_song_is_read():
    """What a backend fetches (null_window) is all verify needs: the answer is the same."""
    song = song_peaks(1)
    query = recording_of(song, start=2000, frames=375, kept=0.2, seed=2)
    first, last = null_window(2000, 375)
    inside = (song[0] >= first) & (song[0] <= last)
    frames = int(SONG_S * FRAME_RATE)
    assert verify(query, (song[0][inside], song[1][inside]), 2000, frames) == verify(query, song, 2000, frames)


def with_loop(peaks: tuple[np.ndarray, np.ndarray], loop: tuple[np.ndarray, np.ndarray], period: int,
              phase: int) -> tuple[np.ndarray, np.ndarray]:
    """``peaks`` with a stock loop's peaks (frames within ``period``) repeated every ``period`` frames."""
    f, b = peaks
    length = int(SONG_S * FRAME_RATE)
    starts = np.arange(phase, length, period)
    frames = np.concatenate([f, (starts[:, None] + loop[0][None, :]).ravel()])
    bins = np.concatenate([b, np.tile(loop[1], len(starts))])
    keep = frames < length
    order = np.argsort(frames[keep], kind="stable")
    return frames[keep][order].astype(np.int32), bins[keep][order].astype(np.int32)


def test_a_song_that_shares_only_a_loop_is_not_verified_at_the_offset_the_loop_aligns():
    """Two tracks built on one stock loop (a 2 s drum bar): a recording of one meets the other's
    peaks wherever the loops line up, and the votes pick such an offset. That is a draw from the
    null's tail, not a match: the null's median and MAD (the z before run11) left it up to 9.9
    standard deviations out; its mean and standard deviation do not. The song itself still verifies."""
    period, frames = 64, int(SONG_S * FRAME_RATE)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        loop = (rng.integers(0, period, 30), rng.integers(0, BINS, 30))
        song = with_loop(song_peaks(10 + seed, 40), loop, period, phase=0)
        unknown = with_loop(song_peaks(50 + seed, 40), loop, period, phase=7)
        query = recording_of(unknown, start=3000, frames=375, kept=0.3, seed=seed)
        # The offsets where the query's loop lands on the song's: 3000 − 7 ≡ 49 (mod 64).
        aligned = np.arange(49 + period * 16, 2800, period)
        luckiest = max(verify(query, song, int(o + d), frames) for o in aligned for d in (-1, 0, 1))
        assert luckiest < MIN_VERIFIED_Z
        own = recording_of(song, start=2000, frames=375, kept=0.3, seed=seed + 1)
        assert verify(own, song, 2000, frames) >= MIN_VERIFIED_Z


def test_no_peaks_is_no_evidence():
    empty = (np.zeros(0, np.int32), np.zeros(0, np.int32))
    assert verify(empty, song_peaks(1), 0, 100) == 0.0
    assert verify(song_peaks(1), empty, 0, 100) == 0.0


def _hit(song: int, aligned: int, z: float = 0.0) -> FingerprintHit:
    return FingerprintHit(song, 1.0, aligned, 100, 1.0, 1.0, z)


def test_accepted_takes_the_best_verified_candidate_when_the_votes_do_not_decide():
    few = [_hit(1, MIN_ALIGNED - 1, 2.0), _hit(2, MIN_ALIGNED - 2, MIN_VERIFIED_Z + 1), _hit(3, 3, 1.0)]
    assert accepted(few) is few[1]
    assert accepted([dataclasses.replace(h, verified_z=min(h.verified_z, MIN_VERIFIED_Z - 0.1)) for h in few]) is None
    clear = [_hit(1, 3 * MIN_ALIGNED, MIN_ANCHORED_Z + 0.5), _hit(2, MIN_ALIGNED)]
    assert accepted(clear) is clear[0]  # the aligned anchors decide where the peaks agree...


def test_aligned_anchors_do_not_decide_when_the_peaks_at_their_offset_disagree():
    # ... and not where they do not: unrelated tracks that share a loop or an instrument align
    # many anchors at one offset, but their peaks there meet no more often than elsewhere.
    clash = [_hit(1, 3 * MIN_ALIGNED, MIN_ANCHORED_Z - 0.5), _hit(2, MIN_ALIGNED)]
    assert accepted(clash) is None


def test_landmarks_carry_the_constellation_in_frame_order():
    rng = np.random.default_rng(0)
    t = np.arange(8000 * 4) / 8000
    x = (np.sin(2 * np.pi * 440 * t * (1 + 0.2 * np.sin(t))) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    lm: Landmarks = landmarks_of(x)
    assert len(lm.peak_frames) == len(lm.peak_bins) > len(set(lm.times.tolist()))
    assert np.all(np.diff(lm.peak_frames) >= 0)
    assert lm.peak_bins.min() >= 0 and lm.peak_bins.max() < BINS
