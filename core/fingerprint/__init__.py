"""Landmark fingerprints: find a recording of the song itself (a phone held up in a noisy room).

:mod:`~core.fingerprint.landmarks` turns audio into hashed peak pairs with their times;
:mod:`~core.fingerprint.matching` votes for a consistent time offset and says how likely chance
is; the indexes (:mod:`core.index.fingerprints`) store the hashes per song.
"""

from core.fingerprint.landmarks import SAMPLE_RATE, Landmarks, landmarks_of, query_variants
from core.fingerprint.matching import FingerprintHit, Postings, match

__all__ = [
    "SAMPLE_RATE",
    "FingerprintHit",
    "Landmarks",
    "Postings",
    "landmarks_of",
    "match",
    "query_variants",
]
