"""Landmarks: pairs of spectral peaks hashed with their time difference (Wang, 2003).

A phone held up to a loudspeaker in a bar keeps little of a song's spectrum — the loudspeaker
cuts the bass and the top, the room smears every note, chatter and noise fill the gaps — but
the *loudest points* of the spectrogram mostly stay where they were. Each peak is paired with a
few peaks that follow it; a pair's frequencies and its time difference make a hash that does
not depend on where in the song the pair sits, and the time of its first peak is stored beside
it. A recording matches a song when many of its hashes are in the song *at one consistent time
offset* (:mod:`core.fingerprint.matching`).

Units: frames of :data:`HOP` samples at :data:`SAMPLE_RATE` Hz (:data:`FRAME_RATE` a second);
bins of ``SAMPLE_RATE / N_FFT`` Hz (7.8 Hz). Every constant below was chosen on the fit split
of the real-music bench (``bench/bench_fingerprint.py``; BENCHMARKS.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy import ndimage, signal

#: 8 kHz keeps 0–4 kHz: what a phone's microphone, a loudspeaker's band (≈ 200 Hz–6 kHz) and a
#: 16 kb/s Opus voice note all keep, and a quarter of the work of 32 kHz.
SAMPLE_RATE = 8000
#: 128 ms windows (7.8 Hz bins) every 32 ms. Of a song's hashes, a phone recording in a room at
#: 10 dB kept 11.1 % with these against 6.4 % with 64 ms windows every 16 ms (at 0 dB: 2.8 against
#: 1.2 %; 16 fit-split tracks, 10 s each, through each stage of the phone alone: the room alone
#: 17.6 against 13.9 %, Opus at 12 kb/s 22.4 against 15.3 %): a longer window holds a note's
#: partials through the room's smearing and the codec's noise, and a coarser frame keeps a peak
#: in its frame when reverberation moves it a little. 128 ms every 16 ms kept 7.1 %, 256 ms every
#: 32 ms 9.3 %, 64 ms every 32 ms 9.8 % (``/tmp``-only lab, BENCHMARKS.md §6).
N_FFT = 1024
HOP = 256
FRAME_RATE = SAMPLE_RATE / HOP  # 31.25 frames a second
#: Bins kept: 250 Hz–3.9 kHz. A phone's loudspeaker path removes most of what is below (and the
#: bass peaks that survive are the room's resonances, not the song's).
LO_BIN, HI_BIN = 32, 500
#: A peak is the maximum of a neighbourhood of ±PEAK_BINS × ±PEAK_FRAMES (±156 Hz, ±96 ms): dense
#: enough for short clips, sparse enough that each peak is a stable, loud point (±160 ms kept
#: 8.9 % in the lab above, ±94 Hz 12.2 % at 10 dB but 2.6 % at 0 dB).
PEAK_BINS = 20
PEAK_FRAMES = 3
#: Peaks kept per second of audio, the loudest above their local background (the rest are what
#: noise, a room and a codec move first).
PEAKS_PER_SECOND = 30
#: Peaks quieter than this below the recording's loudest are silence or dither.
FLOOR_DB = 70.0
#: ... and none is quieter than this at all (a full-scale sine is ≈ −6 dB here, 16-bit dither
#: ≈ −110): digital silence (wesnoth's silence.ogg) has no peaks, where its rounding noise
#: against the 1e-6 floor of the logarithm made thousands.
ABS_FLOOR_DB = -100.0
#: Each anchor peak is paired with up to FANOUT peaks of its target zone: DT_MIN–DT_MAX frames
#: later (32 ms–1 s), within ±DF_MAX bins (±0.99 kHz).
FANOUT = 5
#: Query-side landmarks: as dense as the songs' (60 peaks a second and a fan-out of 10 found no
#: more on the fit split), each pair also looked up one frame shorter and longer (QUERY_DT_SPREAD:
#: a reverberant room moves peaks by a frame; "all effects" test recordings kept 2× the aligned
#: anchors), not one bin apart (QUERY_DF_SPREAD: +7 % more for 3× the lookups).
QUERY_PEAKS_PER_SECOND = 30
QUERY_FANOUT = 5
QUERY_DT_SPREAD = 1
QUERY_DF_SPREAD = 0
DT_MIN, DT_MAX = 1, 31
DF_MAX = 127
#: Playback speeds a query is tried at (a DJ's pitch fader, a tape, a sped-up video), the song's
#: own first: each resampled variant's hashes are looked up too. ±2 % moves a 1 kHz peak by 2.6
#: bins, which no hash survives; 1 % steps leave at most 0.5 % (0.6 bins at 1 kHz). The
#: service looks up the other speeds only when the first answered nothing (they are 4× its lookups:
#: at 1,000 songs all five take p95 972 ms against 433 ms, BENCHMARKS.md §6).
SPEEDS = (1.0, 0.98, 0.99, 1.01, 1.02)
#: Quantisation of a hash's frequencies (bins) and time difference (frames), measured with the
#: earlier 64 ms windows every 16 ms (so 2 bins there are 4 here). Coarser hashes survive
#: a room better (3 × 3: 68.6 % of fit-split recordings at rank 1, against 52.1 % exact) but are
#: few (70k values: 90 songs' postings per hash at 166 songs, so 10 s took seconds to vote on);
#: exact hashes with the query's neighbours looked up (QUERY_DT_SPREAD) found 58.6 % and keep
#: posting lists short.
F_QUANT = 1
DT_QUANT = 1
#: Hash layout, low bits first: time difference / DT_QUANT | bin difference / F_QUANT + DF_BIAS |
#: anchor bin / F_QUANT, each field as wide as its range needs (5 + 8 + 9 = 22 bits).
DT_FIELD_BITS = int(DT_MAX // DT_QUANT).bit_length()
DF_BIAS = -((-DF_MAX) // F_QUANT) + 1  # bin differences from -DF_MAX stay > 0
DF_FIELD_BITS = int(DF_MAX // F_QUANT + DF_BIAS).bit_length()
ANCHOR_FIELD_BITS = int((HI_BIN - LO_BIN - 1) // F_QUANT).bit_length()
HASH_BITS = DT_FIELD_BITS + DF_FIELD_BITS + ANCHOR_FIELD_BITS


#: Peaks a second of the *constellation* kept beside the hashes: the points that verification
#: (:func:`core.fingerprint.matching.verify`) checks a voted alignment on. Every local maximum
#: there is (the ±PEAK_BINS × ±PEAK_FRAMES neighbourhoods allow ≈ 41 a second). With the earlier
#: 64 ms windows on the fit split, 60 (all of them) left fit negatives' best z at 5.3 against 5.7
#: with the hash peaks' 30, and 100 a second of smaller neighbourhoods was worse (true songs'
#: median z 9.8 against 11.1): small maxima are what noise moves.
CONSTELLATION_PEAKS_PER_SECOND = 60


def _empty_i32() -> np.ndarray:
    return np.zeros(0, np.int32)


@dataclass(frozen=True)
class Landmarks:
    """Hashes of one recording and the frame of each hash's anchor peak, and its constellation.

    ``hashes``: (n,) uint32 below ``2 ** HASH_BITS``; ``times``: (n,) int32 frames; sorted by time.
    ``peak_frames``, ``peak_bins``: (p,) int32, the constellation's peaks
    (:data:`CONSTELLATION_PEAKS_PER_SECOND`; bins from 0 at :data:`LO_BIN`), sorted by frame;
    empty when not computed.
    """

    hashes: np.ndarray
    times: np.ndarray
    duration_s: float
    peak_frames: np.ndarray = field(default_factory=_empty_i32)
    peak_bins: np.ndarray = field(default_factory=_empty_i32)

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def frames(self) -> int:
        return int(round(self.duration_s * FRAME_RATE))


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log-magnitude STFT in dB. ``samples``: (n,) float at :data:`SAMPLE_RATE`; returns (bins, frames)."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    _, _, z = signal.stft(x, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False)
    spec: np.ndarray = 20 * np.log10(np.abs(z[LO_BIN:HI_BIN]) + 1e-6).astype(np.float32)
    return spec


def peaks(spec_db: np.ndarray, per_second: int = PEAKS_PER_SECOND) -> tuple[np.ndarray, np.ndarray]:
    """The spectrogram's landmark peaks: (frames (p,), bins (p,)) sorted by frame, then bin.

    A peak is its neighbourhood's maximum; of those, the :data:`PEAKS_PER_SECOND` a second that
    stand highest above a smoothed background (a loud steady band otherwise takes every peak).
    Bins count from 0 at :data:`LO_BIN`.
    """
    return _densest(*_candidates(spec_db), per_second)


def _candidates(spec_db: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every local maximum above the floor: (frames, bins, salience above the background in dB)."""
    if spec_db.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    local_max = ndimage.maximum_filter(spec_db, size=(2 * PEAK_BINS + 1, 2 * PEAK_FRAMES + 1), mode="nearest")
    background = ndimage.uniform_filter(
        spec_db, size=(2 * PEAK_BINS + 1, 4 * PEAK_FRAMES + 1), mode="nearest"
    )
    floor = spec_db.max() - FLOOR_DB
    floor = max(floor, ABS_FLOOR_DB)
    is_peak = (spec_db == local_max) & (spec_db > floor)
    b, t = np.nonzero(is_peak)
    return t, b, spec_db[b, t] - background[b, t]


def _densest(
    t: np.ndarray, b: np.ndarray, salience: np.ndarray, per_second: int
) -> tuple[np.ndarray, np.ndarray]:
    """Of candidate peaks, the ``per_second`` most salient of each second, sorted by frame, then bin."""
    if not len(t):
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    # The loudest of each second: a fixed density keeps quiet passages printed too.
    second = t // int(FRAME_RATE)
    order = np.lexsort((-salience, second))
    rank = np.arange(len(order)) - np.searchsorted(second[order], second[order])
    keep = order[rank < per_second]
    keep = keep[np.lexsort((b[keep], t[keep]))]
    return t[keep].astype(np.int32), b[keep].astype(np.int32)


def pair_hashes(frames: np.ndarray, bins: np.ndarray, fanout: int = FANOUT) -> tuple[np.ndarray, np.ndarray]:
    """Hash each peak with up to :data:`FANOUT` peaks of its target zone, nearest in time first.

    ``frames``, ``bins``: (p,) sorted by frame. Returns (hashes (n,) uint32, anchor frames (n,) int32).
    """
    p = len(frames)
    if p < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.int32)
    # Peaks within DT_MAX frames of an anchor are at most this many positions after it.
    reach = min(p - 1, int(np.max(np.bincount(frames // int(FRAME_RATE))) * (DT_MAX / FRAME_RATE + 1)))
    idx = np.arange(p)[:, None] + np.arange(1, reach + 1)[None, :]  # (p, reach)
    valid = idx < p
    idx = np.minimum(idx, p - 1)
    dt = frames[idx] - frames[:, None]
    df = bins[idx] - bins[:, None]
    valid &= (dt >= DT_MIN) & (dt <= DT_MAX) & (np.abs(df) <= DF_MAX)
    # The first FANOUT valid targets of each anchor (targets are in time order already).
    valid &= np.cumsum(valid, axis=1) <= fanout
    a, k = np.nonzero(valid)
    f1 = (bins[a] // F_QUANT).astype(np.uint32)
    dfq = np.floor_divide(df[a, k] + F_QUANT // 2, F_QUANT) + DF_BIAS
    dtq = (dt[a, k] + DT_QUANT // 2) // DT_QUANT
    h = (
        (f1 << (DT_FIELD_BITS + DF_FIELD_BITS))
        | (dfq.astype(np.uint32) << DT_FIELD_BITS)
        | dtq.astype(np.uint32)
    )
    return h, frames[a].astype(np.int32)


def _spread(h: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query hash also as the hashes of its pair one frame (and/or bin difference) apart.

    A room and noise move a peak by a frame or a bin, which breaks an exact hash; looking up the
    neighbours on the query side keeps the index's hashes exact (specific, so short posting lists)
    and finds the moved pairs too.
    """
    dt = (h & ((1 << DT_FIELD_BITS) - 1)).astype(np.int64)
    df = ((h >> DT_FIELD_BITS) & ((1 << DF_FIELD_BITS) - 1)).astype(np.int64)
    hs, ts = [h], [anchors]
    for ddt in range(-QUERY_DT_SPREAD, QUERY_DT_SPREAD + 1):
        for ddf in range(-QUERY_DF_SPREAD, QUERY_DF_SPREAD + 1):
            if ddt == 0 and ddf == 0:
                continue
            ok = (dt + ddt >= DT_MIN) & (dt + ddt <= DT_MAX // DT_QUANT)
            ok &= (df + ddf >= 0) & (df + ddf < 1 << DF_FIELD_BITS)
            hs.append((h[ok].astype(np.int64) + ddt + (ddf << DT_FIELD_BITS)).astype(np.uint32))
            ts.append(anchors[ok])
    return np.concatenate(hs), np.concatenate(ts)


def landmarks_of(samples: np.ndarray, *, query: bool = False) -> Landmarks:
    """The landmarks of a recording. ``samples``: (n,) float32 at :data:`SAMPLE_RATE`.

    ``query``: a query's denser landmarks (:data:`QUERY_PEAKS_PER_SECOND`, :data:`QUERY_FANOUT`):
    a noisy recording keeps only some of the song's peaks, and more of its own raise the odds
    that those are among them, at no cost to the index.
    """
    candidates = _candidates(log_spectrogram(samples))
    t, b = _densest(*candidates, QUERY_PEAKS_PER_SECOND if query else PEAKS_PER_SECOND)
    h, anchors = pair_hashes(t, b, QUERY_FANOUT if query else FANOUT)
    if query and (QUERY_DT_SPREAD or QUERY_DF_SPREAD):
        h, anchors = _spread(h, anchors)
    pf, pb = _densest(*candidates, CONSTELLATION_PEAKS_PER_SECOND)
    return Landmarks(h, anchors, len(samples) / SAMPLE_RATE, pf, pb)


def query_variants(samples: np.ndarray, speeds: tuple[float, ...] = SPEEDS) -> list[tuple[float, Landmarks]]:
    """The landmarks of a query as if the song had played at each of ``speeds`` (1.02: 2 % fast).

    Each variant resamples the query by the speed (a recording 2 % fast is stretched by 2 %),
    which brings its peaks back to the song's frequencies and frames. ``samples``: (n,) float32
    at :data:`SAMPLE_RATE`. Returns (speed, landmarks) pairs in the order of ``speeds``.
    """
    out = []
    for speed in speeds:
        if speed == 1.0:
            x = samples
        else:
            r = Fraction(speed).limit_denominator(200)
            x = signal.resample_poly(samples, r.numerator, r.denominator).astype(np.float32)
        out.append((speed, landmarks_of(x, query=True)))
    return out
