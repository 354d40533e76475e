"""The confidence that a search's top song is the one in the query: a calibrated probability.

A right answer stands out from the catalog; a chance one does not, but among 10,000 songs
*some* song scores high by chance far more often than among 300. So the confidence reads three
things of the fused ranking (:mod:`core.fusion`) and the catalog's size:

* ``score`` — the song's fused similarity;
* ``margin`` — its lead over the best *other* song (versions of one recording are one song);
* ``z`` — how far it stands above the scores of the rest of the ranking (the songs ranked
  2…:data:`NULL_RANKS`: the best of the catalog's chance scores), in their standard deviations;
* ``log_songs`` — the natural log of the number of songs searched (measured, weighted 0: see
  :data:`WEIGHTS`).

In a larger catalog the best of the chance scores is higher and closer to the rest, so the same
score stands out less: ``z`` is how the confidence accounts for the catalog's size.
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
#: Chance scores a ranking needs for their spread to mean something; a smaller catalog's are
#: topped up with CHANCE_REF: the mean and standard deviation of ranks 2–50 (fused score,
#: melody + harmony) over 40 of the fit split's in-catalog queries at 300 songs (medians: 0.511
#: and 0.034). Above MIN_CHANCE + 1 songs nothing is added: the fit saw none of it.
MIN_CHANCE = 10
CHANCE_REF = (0.511, 0.034)

#: Fitted by ``bench/calibrate.py fit eval-data/calib12`` (BENCHMARKS.md, section 5): logistic
#: regression on the fit split's 161 tune-carrying queries at 300 and 100 songs. The weights of
#: score, margin, log(1 + z) and log_songs (:func:`model_inputs`), and the intercept. ``z``
#: carries most of it: a right answer stands 6–37 standard deviations above the ranking's
#: chance scores, an out-of-catalog hum at most 8. log_songs is measured but weighs 0: fitted
#: with it, it learned the two sizes' different shares of right answers (weight +2.0, and no
#: threshold reached 98 % precision on the fit split), not how chance scores grow with the
#: catalog — the ranking's chance scores (``z`` and ``margin``) already move with its size.
WEIGHTS = (0.683, 1.157, 6.442, 0.0)
INTERCEPT = -12.054


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

    ``others``: scores of the songs ranked below the top (at most NULL_RANKS − 1 are used). A
    small catalog has too few to tell their spread: they are topped up to :data:`MIN_CHANCE`
    with the reference chance scores (:data:`CHANCE_REF`), so a 3-song catalog can still be sure
    of a clear match but is not made sure by two runners-up that happen to be close together.
    """
    rest = list(others[: NULL_RANKS - 1])
    mu, sd = CHANCE_REF
    rest += [mu + (sd if i % 2 else -sd) for i in range(max(0, MIN_CHANCE - len(rest)))]
    rest_a = np.asarray(rest, dtype=np.float64)
    return float((score - rest_a.mean()) / max(rest_a.std(), 1e-3))


def standing(score: float, margin: float, others: Sequence[float], n_songs: int) -> Standing:
    return Standing(score, margin, chance_z(score, others), math.log(max(n_songs, 1)))


def model_inputs(row: Sequence[float]) -> tuple[float, float, float, float]:
    """What the regression reads of a standing's (score, margin, z, log_songs): ``z`` as
    log(1 + z) — a right answer's lead grows without bound (6–37 standard deviations), and its
    logarithm fitted the fit split better (5-fold cross-validated log-loss 0.211 against 0.232)."""
    score, margin, z, log_songs = row
    return score, margin, math.log1p(max(z, 0.0)), log_songs


def confidence(st: Standing, weights: Sequence[float] = WEIGHTS, intercept: float = INTERCEPT) -> float:
    """P(right) for one ranked song, in [0, 1]."""
    z = intercept + float(np.dot(weights, model_inputs(st.as_row())))
    return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))
