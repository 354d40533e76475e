"""Fusing per-embedder hits into one ranking, and calibrating a confidence for each song.

Scores are cosine similarities, on different scales per embedder. Each embedder's candidate
scores are turned into *z-scores against that query's own candidate pool* (how far a song
stands out from the other songs the index returned), which makes embedders comparable and is
what "convincing" means: a hummed query of an unknown song gives a flat pool, a known song an
outlier. The fused score is the weighted mean z-score; the confidence is a logistic function
of it (its constants calibrated on the evaluation set: see ``humbot eval``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.types import IndexHit

#: Logistic calibration of the fused z-score: confidence = 1 / (1 + exp(-(z - Z0) * SLOPE)).
Z0 = 3.0
SLOPE = 2.0


@dataclass(frozen=True)
class Fused:
    song_id: str
    score: float
    confidence: float
    offset_s: float
    scores: dict[str, float]  # raw cosine per embedder


def _zscores(hits: list[IndexHit]) -> dict[str, float]:
    s = np.array([h.score for h in hits], dtype=np.float64)
    if len(s) < 3:
        return {h.song_id: 0.0 for h in hits}
    rest = s[1:]  # the pool without the best song, so it cannot mask itself
    mu, sd = float(np.median(rest)), float(np.std(rest)) + 1e-3
    return {h.song_id: (h.score - mu) / sd for h in hits}


def fuse(hits: Mapping[str, list[IndexHit]], weights: Mapping[str, float]) -> list[Fused]:
    """One ranking of songs from each embedder's hits (sorted by score, descending)."""
    used = {n: h for n, h in hits.items() if h and weights.get(n, 0) > 0}
    if not used:
        return []
    z = {n: _zscores(h) for n, h in used.items()}
    by_song = {n: {x.song_id: x for x in h} for n, h in used.items()}
    floor = {n: min(v.values()) for n, v in z.items()}  # a song one embedder did not return
    total_w = sum(weights[n] for n in used)
    # The offset comes from the embedder with the most weight that found the song.
    order = sorted(used, key=lambda n: -weights[n])
    out = []
    for song_id in {s for h in used.values() for s in (x.song_id for x in h)}:
        fused = sum(weights[n] * z[n].get(song_id, floor[n]) for n in used) / total_w
        offset = next(by_song[n][song_id].offset_s for n in order if song_id in by_song[n])
        scores = {n: by_song[n][song_id].score for n in used if song_id in by_song[n]}
        conf = float(1.0 / (1.0 + np.exp(-(fused - Z0) * SLOPE)))
        out.append(Fused(song_id, float(fused), conf, offset, scores))
    out.sort(key=lambda f: (-f.score, f.song_id))
    return out
