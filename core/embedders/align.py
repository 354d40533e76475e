"""Precise re-ranking: subsequence DTW of a query contour against a whole song contour.

Contours are MIDI pitch per frame (float semitones, NaN = unvoiced) at the melody frame rate.
The query may start anywhere in the song (subsequence alignment), run at 0.5–2× the song's tempo
(step pattern), be sung in another key (a small transposition search around the key offset the
first stage found) and be an octave off in places (octave-folded distance). The local cost is
clipped so a few wrong notes cost a bounded amount.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Semitones: beyond this a frame simply "does not match". A tight clip keeps the tracker's
#: errors on the song side (a frame on the wrong voice) from counting more than a wrong note.
#: Whole-song alignment of the 80 hummed and sung evaluation queries on all 300 songs, top-1:
#: clip 4 → 75.0 %, 3 → 78.7 %, 2 → 82.5 %, 1.5 → 83.8 % (unvoiced cost 1.5, 1.0, 1.0).
CLIP = 1.5
UNVOICED_COST = 1.0  # song frame with no melody under a voiced query frame
#: Semitones charged per tempo-changing DTW step. Free steps let wrong songs score high by
#: picking convenient frames; 0.5 raised top-1 on the 300-song evaluation set (see BENCHMARKS.md).
STEP_PENALTY = 0.5
#: Frames of song aligned either side of the first stage's match (10 s): the first stage often
#: finds the right song through a neighbouring window, so a narrow region misses the passage.
REGION_PAD = 100
#: Transpositions aligned per candidate, picked by :func:`key_candidates` (12 = all). On the
#: 300-song evaluation set with 100 re-ranked candidates: 12 keys → top-1 81.7 %, p50 1.33 s;
#: 6 → 81.7 %, 1.14 s; 4 → 80.8 %, 1.06 s.
KEYS_TRIED = 6
#: Contour frames averaged into one for the coarse, whole-song pass (10 → 5 frames per second).
COARSE_FACTOR = 2


@njit(cache=True, nogil=True)
def _local(q: float, s: float) -> float:
    if np.isnan(s):
        return UNVOICED_COST
    d = q - s
    # Fold octave errors: d in [-6, 6). A product, not a division (the kernel's slowest step):
    # where the two round differently, |d| is 6 either way and the cost is CLIP.
    d = d - 12.0 * np.floor(d * (1.0 / 12.0) + 0.5)
    cost: float = min(abs(d), CLIP)
    return cost


@njit(cache=True, nogil=True)  # nogil: the melody embedder aligns candidates on two threads
def subsequence_dtw(q: np.ndarray, s: np.ndarray, step_penalty: float = 0.0) -> tuple[float, int, int]:
    """Best alignment of all of ``q`` (m,) to a part of ``s`` (n,), both already transposed.

    Steps (query, song): (1, 1), (1, 2) — song twice as fast — and (2, 1) — query twice as
    fast, its skipped frame charged too — each tempo-changing step also costs ``step_penalty``
    semitones, so a path cannot cherry-pick song frames at no cost. Returns (mean cost per query frame, start, end) in
    song frames.
    """
    m, n = len(q), len(s)
    inf = 1e18
    # Only rows i-2, i-1 and i are needed: three rolling rows keep the work in cache. The step
    # choice is written as selects, the first rows apart: which step wins is data-dependent, so
    # branches on it mispredict (a DTW of 50 × 1,050 frames: 0.13 → 0.11 ms).
    prev2, prev, cur = np.full(n, inf), np.empty(n), np.full(n, inf)
    # The start column of each cell's best path, in the same rolling rows.
    sp2, sp, sc = np.zeros(n, np.int64), np.arange(n, dtype=np.int64), np.zeros(n, np.int64)
    c = np.empty(n)
    for j in range(n):
        prev[j] = _local(q[0], s[j])
    for i in range(1, m):
        for j in range(n):
            c[j] = _local(q[i], s[j])
        cur[0] = inf
        if n > 1:  # j = 1: no (1, 2) step yet
            best, start = prev[0], sp[0]
            if i >= 2:
                b = prev2[0] + c[1] + step_penalty
                start = sp2[0] if b < best else start
                best = b if b < best else best
            cur[1], sc[1] = best + c[1], start
        if i >= 2:
            for j in range(2, n):
                best, start = prev[j - 1], sp[j - 1]
                a = prev[j - 2] + step_penalty
                start = sp[j - 2] if a < best else start
                best = a if a < best else best
                b = prev2[j - 1] + c[j] + step_penalty
                start = sp2[j - 1] if b < best else start
                best = b if b < best else best
                cur[j], sc[j] = best + c[j], start
        else:  # i = 1: no (2, 1) step yet. (One loop over an all-inf prev2 gives the same
            # numbers but re-ranked 150 candidates in 460 ms instead of ~300.)
            for j in range(2, n):
                best, start = prev[j - 1], sp[j - 1]
                a = prev[j - 2] + step_penalty
                start = sp[j - 2] if a < best else start
                best = a if a < best else best
                cur[j], sc[j] = best + c[j], start
        prev2, prev, cur = prev, cur, prev2
        sp2, sp, sc = sp, sc, sp2
    end = int(np.argmin(prev))
    return prev[end] / m, int(sp[end]), end


def prepare_query(contour: np.ndarray) -> np.ndarray | None:
    """Trim unvoiced ends, fill short gaps by interpolation, centre on the median (semitones)."""
    voiced = np.flatnonzero(~np.isnan(contour))
    if len(voiced) < 8:
        return None
    c = contour[voiced[0] : voiced[-1] + 1].astype(np.float64)
    x = np.arange(len(c))
    ok = ~np.isnan(c)
    c = np.interp(x, x[ok], c[ok])
    return c - np.median(c)


def key_candidates(query: np.ndarray, song: np.ndarray, k: int) -> list[int]:
    """The ``k`` most likely transpositions t in −6…5 (semitones to subtract from ``song``).

    Pitch-class histograms of the query and the song region, circularly cross-correlated: a
    transposition that lines up their most used pitch classes is the likely key, so DTW runs for
    those only instead of all 12 (the re-ranking's main cost).
    """
    return [int(t) for t in _key_candidates(np.asarray(query, np.float64), np.asarray(song, np.float64), k)]


@njit(cache=True, nogil=True)
def _key_candidates(query: np.ndarray, song: np.ndarray, k: int) -> np.ndarray:
    """:func:`key_candidates` as a (k,) float64 array, compiled: it runs once per candidate and
    query, and in Python its small array operations held the GIL the two DTW threads share."""
    if k >= 12:
        return np.arange(-6.0, 6.0)
    hq = np.zeros(12)
    for x in query:
        hq[int(np.round(x)) % 12] += 1.0
    hs = np.zeros(12)
    for x in song:
        if not np.isnan(x):
            hs[int(np.round(x)) % 12] += 1.0
    scores = np.zeros(12)  # scores[t + 6] = Σ_p hq[p]·hs[p + t]: sums of counts, exact in any order
    for i in range(12):
        for p in range(12):
            scores[i] += hs[(p + i - 6) % 12] * hq[p]
    return np.argsort(-scores, kind="mergesort")[:k].astype(np.float64) - 6.0


@njit(cache=True, nogil=True)
def _best_transposition(query: np.ndarray, s: np.ndarray, keys: np.ndarray) -> tuple[float, int]:
    """Lowest (cost, start) of the query on ``s`` shifted by each key, then ±½ around the best."""
    best_cost, best_start, best_t = 1e18, 0, 0.0
    for t in keys:
        cost, start, _ = subsequence_dtw(query, s - t, STEP_PENALTY)
        if cost < best_cost:
            best_cost, best_start, best_t = cost, start, float(t)
    centre_t = best_t
    for t in (centre_t - 0.5, centre_t + 0.5):
        cost, start, _ = subsequence_dtw(query, s - t, STEP_PENALTY)
        if cost < best_cost:
            best_cost, best_start = cost, start
    return best_cost, best_start


def align(query: np.ndarray, song: np.ndarray, offset: int | None = None) -> tuple[float, float]:
    """Similarity in [0, 1] of a prepared query to a song contour, and the matched start frame.

    With ``offset`` (the first stage's best window, in frames) only the region around it is
    aligned — a few hundred frames instead of the whole song. The key is searched over a full
    octave in semitone steps (octave-folded distance makes 12 enough), then refined by ±½.
    """
    s = song.astype(np.float64)
    lo = 0
    if offset is not None:
        m = len(query)
        lo = max(0, offset - REGION_PAD)
        s = s[lo : offset + int(m * 1.4) + REGION_PAD]
    score, start = _match(np.ascontiguousarray(query, dtype=np.float64), np.ascontiguousarray(s))
    return score, float(lo + start)


@njit(cache=True, nogil=True)
def _match(query: np.ndarray, s: np.ndarray) -> tuple[float, int]:
    """(1 − cost/CLIP, start frame) of a prepared query on song frames ``s``, over the likely keys."""
    if len(s) < 2 or np.all(np.isnan(s)):
        return 0.0, 0
    s = s - np.nanmedian(s)
    cost, start = _best_transposition(query, s, _key_candidates(query, s, KEYS_TRIED))
    return 1.0 - cost / CLIP, start


def pooled(contour: np.ndarray) -> np.ndarray:
    """(n,) MIDI/NaN → (n // COARSE_FACTOR,) block means, NaN where a block is all unvoiced.

    Averaging two frames of a contour keeps its notes (they last several frames) and quarters
    the cost of a DTW, which then fits whole songs instead of a region.
    """
    n = len(contour) // COARSE_FACTOR * COARSE_FACTOR
    blocks = np.asarray(contour[:n], dtype=np.float64).reshape(-1, COARSE_FACTOR)
    voiced = (~np.isnan(blocks)).sum(axis=1)
    total = np.nansum(blocks, axis=1)
    return np.where(voiced > 0, total / np.maximum(voiced, 1), np.nan)


def coarse_align(query: np.ndarray, song: np.ndarray) -> tuple[float, int]:
    """Similarity in [0, 1] of a prepared, :func:`pooled` query to a whole :func:`pooled` song,
    and where the match starts — in full-rate song frames.

    The first stage's best window points to the right passage of the right song only when the
    song's melody was tracked well there; aligning the whole song finds the passage wherever it
    is. On the 300-song evaluation set, this pass alone over every song ranked the right one
    first for 70 % of hums and 72 % of sung queries, and within the top 50 for 88 % and 93 %.
    """
    score, start = _match(
        np.ascontiguousarray(query, dtype=np.float64), np.ascontiguousarray(song, dtype=np.float64)
    )
    return score, start * COARSE_FACTOR
