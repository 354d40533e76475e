"""Offset voting: which songs hold many of a recording's hashes at one consistent time offset.

Every hash the query shares with a song votes for ``song frame − query frame``: the query's
start in that song. A recording of the song piles its votes into one offset (the room, noise
and codec only *remove* votes); chance collisions spread over every offset of every song.

Votes are counted once per query anchor frame: the hashes of one anchor are not independent
evidence (one peak that happens to sit on the song's spectrum would otherwise vote
:data:`~core.fingerprint.landmarks.FANOUT` times).

Rejection (:func:`accepted`): the best song's aligned anchors against two yardsticks — an
absolute floor (:data:`MIN_ALIGNED`), and the best *other* song's alignment, which is what
chance gives this very query in this very catalog (a sustained tone, a drum loop or a genre's
stock sounds collide with many songs at once; a bigger catalog raises the runner-up too) — and
the top song's peaks at the voted offset, which must agree (:data:`MIN_ANCHORED_Z`).

A recording too degraded for that (a 3 s clip, a loud bar) can still be its song's: the candidates
are then *verified* (:func:`verify`). Each of the best :data:`VERIFY_CANDIDATES` songs is checked
at the offset its votes gave, peak by peak: how many of the query's constellation peaks (every
local maximum, not only the hashed ones) land on one of the song's, against how many land at the
song's other offsets nearby — what chance gives *this* query on *this* song, loops and a steady
beat included. A single peak survives a room far more often than a pair (a hash needs both of
its peaks), so this counts several times the evidence of the votes. The best verified candidate is
the answer when it stands :data:`MIN_VERIFIED_Z` standard deviations above that null's mean.

``expected`` is also kept: how many alignments at least this strong a Poisson model of chance
votes predicts for the catalog (a song with ``n`` votes over ``L`` offsets has
``λ = n · (2·TOL + 1) / L`` chance votes per window). It ranks ties, but it is *not* the
rejection rule: on real music it called alignments of 13–15 anchors between unrelated tracks
(shared instruments and loops) 1e-40 likely, so chance votes are far from independent
(BENCHMARKS.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.fingerprint.landmarks import FRAME_RATE, Landmarks

#: Votes within ±TOL frames (±32 ms) of an offset count for it: peaks move by a frame under noise.
#: (TOL = 0 halved the chance alignments but found fewer fit-split recordings under every rule.)
TOL = 1
#: An answer by the votes needs at least MIN_ALIGNED aligned query anchor frames, RUNNER_UP_RATIO
#: times the best other song's, *and* the top song's peaks at that offset must stand at least
#: MIN_ANCHORED_Z above chance (:func:`verify`). Votes alone are fooled by unrelated tracks that
#: share a loop or a stock sound: on the fit split of the real-music bench
#: (bench/bench_fingerprint.py --negatives 300) negatives aligned up to 29 anchors against a
#: runner-up's 14. With the ratio 1.5 and the floor 8, the fit negatives' top song's peaks stood
#: at most z 2.40 (:func:`verify`'s z since run11), and MIN_ANCHORED_Z is that plus 20 %, rounded
#: up to a quarter (the rule of MIN_VERIFIED_Z); every fit recording the votes found stood above
#: it. (run10's floor and ratio were chosen with the earlier median/MAD z and its threshold 4.0:
#: the ratio 1.5 accepted no fit negative at any floor from 3 to 15, 1.25 did below 11, and floors
#: 3–8 found the most fit recordings; the highest was taken. The votes alone, 10 and twice the
#: runner-up, accepted 2 fit negatives.)
MIN_ALIGNED = 8
RUNNER_UP_RATIO = 1.5
MIN_ANCHORED_Z = 3.0
#: Songs verified peak by peak (:func:`verify`): the best-aligned ten. On the fit split 93 % of
#: recordings at 0–15 dB had their song among the top 5 of the votes, and every other one
#: verified was beyond the top 30.
VERIFY_CANDIDATES = 10
#: A query peak meets a song peak within ±VERIFY_FRAMES frames and ±VERIFY_BINS bins (±32 ms,
#: ±7.8 Hz), at the best of the offsets within ±VERIFY_SEARCH frames of the voted one (votes
#: count within ±TOL of it).
VERIFY_FRAMES = 1
VERIFY_BINS = 1
VERIFY_SEARCH = 2
#: The null: the same count at NULL_OFFSETS offsets evenly spread over ±NULL_SPAN_S of the voted
#: one (each also the best of its ±VERIFY_SEARCH), so the null sees the song's own repeats and
#: density. Local (not the whole song) so that Elasticsearch fetches a few blocks, not the song.
NULL_SPAN_S = 30.0
NULL_OFFSETS = 300
#: Accept the best verified candidate at ``z = (hits − mean) / (sd + 1)`` of the null of at least
#: this: the fit split's negatives' best z plus 20 %, rounded up to a quarter. Fit split of the
#: real-music bench (bench/bench_fingerprint.py --negatives 300): its 360 negatives (unknown
#: tracks, hums, tones and noise through the phone) reached at most 4.25.
#:
#: The mean and standard deviation, not the median and MAD (run10: ``(hits − median) /
#: (1.4826 · MAD + 1)``, threshold 9.0), because a wrong song's voted offset is itself picked
#: from that song's offsets by the votes: it is a draw from the null's *tail*, and the tail is what
#: a robust spread ignores. On the fit split the share of recordings whose own song verified above
#: every fit negative rose from 71.0 % to 87.8 % of 131, and with the 20 % margin from 58.0 % to
#: 80.9 % (bench/fingerprint_null_stats.py). The true song's null was also 1.5 times as wide (MAD)
#: as its rivals': its own repeats.
MIN_VERIFIED_Z = 5.25
#: Share of accepted alignments that named the right song on the fit split (every one of them:
#: the confidence an accepted fingerprint answer carries into fusion).
ACCEPTED_CONFIDENCE = 0.99
#: Span of offsets in a vote key: longer than any song plus any query, in frames.
_SPAN = 1 << 24
#: Bits of a query anchor frame beside a vote key: queries up to 262 s (the service keeps 30 s);
#: with 100k songs × 5 speeds the packed key stays below 2⁵⁸.
_ANCHOR_BITS = 14


@dataclass(frozen=True)
class Postings:
    """What an index holds for some hashes: one row per (hash, song, time) occurrence.

    ``hashes``: (r,) uint32; ``songs``: (r,) int64 keys of the index's songs; ``times``: (r,) int32 frames.
    """

    hashes: np.ndarray
    songs: np.ndarray
    times: np.ndarray

    @staticmethod
    def empty() -> Postings:
        return Postings(np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.int32))


@dataclass(frozen=True)
class FingerprintHit:
    """One song's best alignment with a query.

    ``offset_s``: where the query starts in the song (negative: before it starts); ``aligned``:
    query anchor frames voting for it; ``votes``: all the song's votes; ``expected``: chance
    alignments at least as strong in the whole catalog; ``speed``: the query's resampling factor.
    """

    song: int
    offset_s: float
    aligned: int
    votes: int
    expected: float
    speed: float
    verified_z: float = 0.0  # :func:`verify`'s z at this offset (0: not verified)

    @property
    def offset_frames(self) -> int:
        return int(round(self.offset_s * FRAME_RATE))


def match(
    variants: list[tuple[float, Landmarks]],
    postings: Postings,
    song_frames: dict[int, int],
    catalog_frames: int,
    top_k: int = 10,
) -> list[FingerprintHit]:
    """The songs best aligned with a query, most aligned anchors first (at most ``top_k``, each once).

    ``variants``: (speed factor, landmarks of the query resampled by it) — the query's hashes
    for songs played a little fast or slow; ``postings``: the index's rows for their hashes;
    ``song_frames``: frames of each song with postings; ``catalog_frames``: of every song.
    """
    if not len(postings.hashes):
        return []
    runs = _HashRuns.of(postings)
    keys, anchors = [], []
    for v, (_, lm) in enumerate(variants):
        rows, qrows = runs.join(lm.hashes)
        if not len(rows):
            continue
        offset = postings.times[rows].astype(np.int64) - lm.times[qrows]
        song_v = postings.songs[rows] * len(variants) + v
        keys.append(song_v * _SPAN + (offset + _SPAN // 2))
        anchors.append(lm.times[qrows].astype(np.int64))
    if not keys:
        return []
    key = np.concatenate(keys)
    anchor = np.concatenate(anchors)
    # One vote per (song, variant, offset, query anchor frame): one sort of one int64 per vote.
    voter, _ = _unique(key << _ANCHOR_BITS | anchor)
    ukey, count = _runs(voter >> _ANCHOR_BITS)  # sorted already
    # Each offset with its neighbours within ±TOL: the keys are distinct and sorted, so those are
    # at most TOL places away (no binary search over millions of keys).
    window = count.copy()
    for d in range(1, TOL + 1):
        near = ukey[d:] - ukey[:-d] <= TOL
        window[d:] += np.where(near, count[:-d], 0)
        window[:-d] += np.where(near, count[d:], 0)
    song_v = ukey // _SPAN
    # Best window of each (song, variant): the first of its run of keys to reach the run's most.
    sv_first = np.flatnonzero(np.concatenate([[True], song_v[1:] != song_v[:-1]]))  # song_v is sorted
    run_of = np.repeat(np.arange(len(sv_first)), np.diff(np.append(sv_first, len(ukey))))
    at_max = np.flatnonzero(window == np.maximum.reduceat(window, sv_first)[run_of])
    best = at_max[np.concatenate([[True], run_of[at_max][1:] != run_of[at_max][:-1]])]
    votes = np.add.reduceat(count, sv_first)  # all votes of each (song, variant), in best's order
    song, v = np.divmod(song_v[best], len(variants))
    aligned = window[best]
    query_frames = max(lm.frames for _, lm in variants)
    spans = _lengths(song_frames, song, query_frames) + query_frames
    lam = votes * (2 * TOL + 1) / np.maximum(spans, 1)
    tests = max(
        1.0, (catalog_frames + query_frames * max(len(song_frames), 1)) / (2 * TOL + 1) * len(variants)
    )
    expected = stats.poisson.sf(aligned - 1, lam) * tests
    offsets = (ukey[best] % _SPAN) - _SPAN // 2
    # Most aligned first, each song once (its best variant): vectorised, as a catalog of 10,000
    # songs gives ~50k (song, variant) pairs and only ``top_k`` of them are kept.
    ranked = np.lexsort((expected, -aligned))
    _, first_of_song = np.unique(song[ranked], return_index=True)
    return [
        FingerprintHit(
            int(song[i]),
            float(offsets[i]) / FRAME_RATE,
            int(aligned[i]),
            int(votes[i]),
            float(expected[i]),
            variants[int(v[i])][0],
        )
        for i in ranked[np.sort(first_of_song)[:top_k]]
    ]


def _lengths(song_frames: dict[int, int], songs: np.ndarray, default: int) -> np.ndarray:
    """``song_frames[s]`` for each of ``songs`` ((n,) int64), ``default`` for a song not in it."""
    if not song_frames:
        return np.full(len(songs), default, np.int64)
    keys = np.fromiter(song_frames.keys(), np.int64, len(song_frames))
    values = np.fromiter(song_frames.values(), np.int64, len(song_frames))
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    at = np.minimum(np.searchsorted(keys, songs), len(keys) - 1)
    return np.where(keys[at] == songs, values[at], default)


def accepted(hits: list[FingerprintHit]) -> FingerprintHit | None:
    """The hit that is a recording of its song (see the module's rejection rule), else None.

    ``hits``: :func:`match`'s answer, most aligned first (one per song), verified or not. The most
    aligned when its anchors decide; otherwise the best verified one, which need not be first.
    """
    if not hits:
        return None
    if anchors_decide(hits):
        return hits[0]
    best = max(hits, key=lambda h: h.verified_z)
    return best if best.verified_z >= MIN_VERIFIED_Z else None


def anchors_decide(hits: list[FingerprintHit]) -> bool:
    """Do the most aligned song's anchors answer ``hits`` (most aligned first) on their own?

    Enough aligned anchors, a lead over the runner-up, and that song's own peaks at the voted
    offset (its ``verified_z``); the other candidates' verification is then not needed.
    """
    top = hits[0]
    runner_up = hits[1].aligned if len(hits) > 1 else 0
    return (
        top.aligned >= MIN_ALIGNED
        and top.aligned >= RUNNER_UP_RATIO * runner_up
        and top.verified_z >= MIN_ANCHORED_Z
    )


def null_window(offset_frames: int, query_frames: int) -> tuple[int, int]:
    """The song frames :func:`verify` reads for an alignment at ``offset_frames``: (first, last)."""
    span = int(NULL_SPAN_S * FRAME_RATE)
    return offset_frames - span - VERIFY_SEARCH - 1, offset_frames + span + query_frames + VERIFY_SEARCH + 1


def verify(
    query_peaks: tuple[np.ndarray, np.ndarray],
    song_peaks: tuple[np.ndarray, np.ndarray],
    offset_frames: int,
    song_frames: int,
) -> float:
    """How far a query's peaks meet a song's at ``offset_frames`` above what chance gives there.

    Arguments as :func:`peak_counts`. Returns ``z``: the peaks met at the voted offset, in
    standard deviations (+ 1, so that a flat null is not infinitely exceeded) above the mean of
    the null's counts (see :data:`MIN_VERIFIED_Z` for why not a robust spread). 0 without peaks.
    """
    counts = peak_counts(query_peaks, song_peaks, offset_frames, song_frames)
    if counts is None:
        return 0.0
    near, null = counts
    return (near - float(null.mean())) / (float(null.std()) + 1.0)


def peak_counts(
    query_peaks: tuple[np.ndarray, np.ndarray],
    song_peaks: tuple[np.ndarray, np.ndarray],
    offset_frames: int,
    song_frames: int,
) -> tuple[int, np.ndarray] | None:
    """The query's peaks that meet the song's at ``offset_frames``, and the same count elsewhere.

    ``query_peaks``: (frames (q,), bins (q,)) of the query's constellation (at the speed of the
    alignment); ``song_peaks``: the song's, at least those of :func:`null_window`; ``song_frames``:
    the song's length. Returns (the count at the best offset within ±VERIFY_SEARCH, the null:
    (NULL_OFFSETS,) counts, each the best of its ±VERIFY_SEARCH, at offsets spread over
    ±NULL_SPAN_S around it), or None without peaks.
    """
    qf, qb = (np.asarray(a, np.int64) for a in query_peaks)
    sf, sb = (np.asarray(a, np.int64) for a in song_peaks)
    if not len(qf) or not len(sf):
        return None
    q_end = int(qf.max())
    first, last = null_window(offset_frames, q_end)
    keep = (sf >= first) & (sf <= last)
    sf, sb = sf[keep] - first, sb[keep]
    n_bins = int(max(sb.max(initial=0), qb.max())) + VERIFY_BINS + 1
    # The song's peaks dilated by the tolerance: one lookup per query peak.
    occupied = np.zeros((last - first + 1, n_bins + 1), bool)
    for df in range(-VERIFY_FRAMES, VERIFY_FRAMES + 1):
        for db in range(-VERIFY_BINS, VERIFY_BINS + 1):
            occupied[np.clip(sf + df, 0, last - first), np.clip(sb + db, 0, n_bins)] = True

    def met(offsets: np.ndarray) -> np.ndarray:
        rows = qf[None, :] + offsets[:, None] - first
        counts: np.ndarray = occupied[rows, qb[None, :]].sum(1)
        return counts

    search = np.arange(-VERIFY_SEARCH, VERIFY_SEARCH + 1)
    near = int(met(offset_frames + search).max())
    span = int(NULL_SPAN_S * FRAME_RATE)
    lo, hi = max(offset_frames - span, -q_end), min(offset_frames + span, song_frames)
    centres = np.round(np.linspace(lo, max(lo, hi), NULL_OFFSETS)).astype(np.int64)
    null: np.ndarray = met((centres[:, None] + search[None, :]).ravel()).reshape(len(centres), -1).max(1)
    return near, null


def _unique(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of (n,) int64 ``x`` and their counts. One sort: numpy 2.4's
    ``np.unique`` takes a hash-table path that was 20× slower on millions of votes (9 s vs 0.4 s)."""
    return _runs(np.sort(x))


def _runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted (n,) ``x`` and the length of each one's run."""
    if not len(x):
        return x, np.zeros(0, np.int64)
    first = np.flatnonzero(np.concatenate([[True], x[1:] != x[:-1]]))
    return x[first], np.diff(np.append(first, len(x)))


@dataclass(frozen=True)
class _HashRuns:
    """Postings grouped by hash: ``order`` sorts them by hash (None: they already are), and the
    distinct hashes ``values`` sit at ``starts`` of that order, ``counts`` rows each.

    Joining a query against the runs costs one binary search per *query* row plus one step per
    vote; searching every posting row instead (millions at 10,000 songs) took most of a search.
    """

    order: np.ndarray | None
    values: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    @staticmethod
    def of(postings: Postings) -> _HashRuns:
        h = postings.hashes
        order = None if bool(np.all(h[1:] >= h[:-1])) else np.argsort(h, kind="stable")
        values, counts = _runs(h if order is None else h[order])
        return _HashRuns(order, values, np.cumsum(counts) - counts, counts)

    def join(self, query_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (posting row, query row) pair with the same hash: two (m,) index arrays."""
        at = np.minimum(np.searchsorted(self.values, query_hashes), len(self.values) - 1)
        qrows = np.flatnonzero(self.values[at] == query_hashes)
        lo, n = self.starts[at[qrows]], self.counts[at[qrows]]
        total = int(n.sum())
        if not total:
            empty = np.zeros(0, np.int64)
            return empty, empty
        sorted_rows = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(total)
        rows = sorted_rows if self.order is None else self.order[sorted_rows]
        return rows, np.repeat(qrows, n)
