"""Re-ranking: the first stage's candidates aligned on the query's contours by DTW.

Two passes (:mod:`core.embedders.align`): coarsely on each candidate's whole song (5 frames per
second), which does not trust the first stage's offset, then precisely around the coarse match
for the best :data:`FINE_CANDIDATES`. Contours are MIDI/NaN at
:data:`~core.embedders.melody.tracking.FRAME_RATE`; offsets come out in seconds.
"""

from __future__ import annotations

import numpy as np

from core.embedders import align
from core.embedders.melody.pool import _melody_pool
from core.embedders.melody.tracking import FRAME_RATE

#: Candidates given the precise alignment after the coarse pass.
FINE_CANDIDATES = 50


def query_features(voice: np.ndarray, mix: np.ndarray) -> np.ndarray | None:
    """The re-ranking's query features: the prepared contours, one per row, NaN-padded."""
    prepared = [c for c in (align.prepare_query(voice), align.prepare_query(mix)) if c is not None]
    if not prepared:
        return None
    feats = np.full((len(prepared), max(len(c) for c in prepared)), np.nan)
    for i, c in enumerate(prepared):
        feats[i, : len(c)] = c
    return feats


def rerank(
    query_features: np.ndarray, candidates: list[tuple[np.ndarray, float]]
) -> list[tuple[float, float]]:
    """(score, offset_s) per candidate (song contour, first-stage offset_s), in two passes: a
    coarse DTW of the query on each candidate's whole song, then a precise subsequence DTW
    around the coarse match for the :data:`FINE_CANDIDATES` best.

    The first stage's offset is not used: it is often a neighbouring or wrong passage. Songs
    left out of the precise pass keep their coarse score, capped below the precise scores.
    The DTW kernel releases the GIL, so candidates are aligned on the melody pool's
    :data:`~core.embedders.melody.pool._THREADS` threads.
    """
    queries = [row[~np.isnan(row)] for row in np.atleast_2d(query_features)]
    coarse_queries = [align.pooled(q) for q in queries]

    def coarse(candidate: tuple[np.ndarray, float]) -> tuple[float, int, int]:
        song = align.pooled(candidate[0])
        return max((*align.coarse_align(q, song), i) for i, q in enumerate(coarse_queries))

    def fine(i: int) -> tuple[float, float]:
        _, start, which = rough[i]
        score, at = align.align(queries[which], candidates[i][0], offset=start)
        return score, at / FRAME_RATE

    pool = _melody_pool()
    rough = list(pool.map(coarse, candidates))
    best = sorted(range(len(candidates)), key=lambda i: -rough[i][0])[:FINE_CANDIDATES]
    out = [(score, start / FRAME_RATE) for score, start, _ in rough]
    for i, result in zip(best, pool.map(fine, best)):
        out[i] = result
    floor = min(out[i][0] for i in best) if best else 0.0
    chosen = set(best)
    return [r if i in chosen else (min(r[0], floor), r[1]) for i, r in enumerate(out)]
