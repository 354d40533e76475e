"""Is a new file the same *recording* as a catalog song? A constellation of spectral peaks.

A re-encode (MP3, Opus, AAC at any bit rate), a sample-rate change, another gain, a trimmed or
padded copy and a mild remaster (an EQ shelf, some compression) all keep the loudest points of
the spectrogram where they were: the same partials of the same notes at the same instants.
Another rendering of the same tune — other chords, instruments, soundfont, tempo or key — keeps
the melody but moves most peaks (other partials win, other notes sound under it). Chroma (the
harmony embedder) cannot tell these apart: it is *meant* to call both "the song".

The print (:func:`recording_print`) is the :data:`PEAKS_PER_FRAME` loudest partials (peaks along
frequency) of every frame of a log-magnitude STFT at :data:`SAMPLE_RATE`. :func:`compare` finds
the time offset at which most peaks of two prints coincide (a histogram of the time differences
of peaks in neighbouring bins — every offset is tried, so trimmed and padded copies align) and
measures the share of the peaks of both that have a partner within ±1 frame and ±1 bin there.

Units: frames of :data:`HOP` samples at :data:`SAMPLE_RATE` (:data:`FRAME_RATE` a second); bins
of ``SAMPLE_RATE / N_FFT`` Hz. Thresholds are measured by ``bench/bench_same_recording.py``
(BENCHMARKS.md, "Duplicate recordings at import").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

#: Rate the print is computed at. 8 kHz keeps 0–4 kHz: what low bit rates keep (codecs low-pass
#: first; Opus at 24 kb/s and AAC at 48 kb/s copies still scored ≥ 0.95), where the partials of
#: melody and chords are, and a quarter of the work of 32 kHz.
SAMPLE_RATE = 8000
N_FFT = 512  # 64 ms windows, 15.6 Hz bins
HOP = 256  # 32 ms frames
FRAME_RATE = SAMPLE_RATE / HOP  # 31.25 frames a second
#: Bins kept: 94 Hz–3.75 kHz. Below, rumble and DC; above, the resampler's roll-off toward 4 kHz.
LO_BIN, HI_BIN = 6, 240
#: A peak is a partial: the maximum of ±NEIGHBOUR_BINS (±47 Hz) of its own frame. Peaks in time as
#: well (a 2-D neighbourhood) were tried first: on a held note the time maximum of a flat ridge is
#: wherever codec noise puts it, and an MP3 of a test tune kept only 49 % of them (per-frame
#: partials: 100 %; BENCHMARKS.md §4). ±2, ±3 and ±5 bins scored alike on that trial.
NEIGHBOUR_BINS = 3
#: Partials kept a frame, the loudest: 5 and 8 scored alike on the trial (copies 1.00, the
#: reharmonised tune 0.58), and 5 keeps the print small (≈ 150 peaks a second, 0.6 kB/s stored).
PEAKS_PER_FRAME = 5
#: Partials quieter than this below their frame's loudest are codec territory (a low bit rate
#: drops them), and quieter than :data:`FLOOR_DB` below the recording's loudest, silence
#: (20 and 30 dB scored alike on the trial).
FRAME_FLOOR_DB = 30.0
FLOOR_DB = 60.0
#: Digital silence and 16-bit dither (≈ −68 dB in these magnitudes: 3e-5 RMS over a 512-point
#: Hann window) hold no partials, however flat.
SILENCE_DB = -70.0
#: Partials a frame that vote for the offset (the loudest, the surest to survive a codec): with 2 of
#: 5 the histogram holds (2/5)² of the pairs (0.45 s → 0.04 s for two 4-minute songs; a whole
#: compare 0.49 → 0.07 s, on this 2-core machine under load) and
#: finds the same offsets (tests/core/test_same_recording.py, the bench's pairs).
OFFSET_PEAKS = 2
#: Format tag of the stored array (first row), bumped when the print changes.
VERSION = 1


@dataclass(frozen=True)
class RecordingPrint:
    """A recording's peaks.

    ``peaks``: shape (n, 2) int32, rows (frame, bin) sorted by frame, loudest first within a
    frame; ``n_frames``: frames of the recording (its duration, padding included).
    """

    peaks: np.ndarray
    n_frames: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / FRAME_RATE

    def to_array(self) -> np.ndarray:
        """(n + 1, 2): a header row (n_frames, VERSION), then the peaks (for ``np.save``).

        uint16 (frames up to 35 minutes, beyond the service's ``max_song_seconds``), else int32.
        """
        dtype = np.uint16 if self.n_frames <= np.iinfo(np.uint16).max else np.int32
        return np.concatenate([np.array([[self.n_frames, VERSION]], dtype), self.peaks.astype(dtype)])

    @classmethod
    def from_array(cls, array: np.ndarray) -> RecordingPrint | None:
        """The print stored by :meth:`to_array`, or None for another version's (recompute it)."""
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0 or int(array[0, 1]) != VERSION:
            return None
        return cls(array[1:].astype(np.int32), int(array[0, 0]))


class Match(NamedTuple):
    """How two prints compare at their best alignment."""

    similarity: float  # share of the peaks of both that coincide there, in [0, 1]
    offset_s: float  # where A's start falls in B (negative: A starts before B, e.g. padded)
    overlap_s: float  # seconds both recordings cover at that offset


def recording_print(samples: np.ndarray, sample_rate: int) -> RecordingPrint:
    """The peak constellation of a recording.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio, float, any gain.
    sample_rate : int
        Its rate in Hz (resampled to :data:`SAMPLE_RATE`).
    """
    y = np.asarray(samples, np.float32)
    if sample_rate != SAMPLE_RATE:
        g = np.gcd(int(sample_rate), SAMPLE_RATE)
        y = signal.resample_poly(y, SAMPLE_RATE // g, int(sample_rate) // g).astype(np.float32)
    n_frames = max(0, 1 + (len(y) - N_FFT) // HOP) if len(y) >= N_FFT else 0
    if n_frames == 0:
        return RecordingPrint(np.zeros((0, 2), np.int32), 0)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP][:n_frames]
    spec = np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1))[:, LO_BIN:HI_BIN]
    db = 20 * np.log10(spec + 1e-9)  # (frames, bins); gain only shifts it
    partial = (
        (db == ndimage.maximum_filter1d(db, 2 * NEIGHBOUR_BINS + 1, axis=1, mode="nearest"))
        & (db > db.max(axis=1, keepdims=True) - FRAME_FLOOR_DB)
        & (db > db.max() - FLOOR_DB)
        & (db > SILENCE_DB)
    )
    strength = np.where(partial, db, -np.inf)
    top = np.argsort(-strength, axis=1, kind="stable")[:, :PEAKS_PER_FRAME]  # (frames, k) bins
    t = np.repeat(np.arange(n_frames), top.shape[1])
    f = top.ravel()
    keep = np.isfinite(strength[t, f])
    return RecordingPrint(np.stack([t[keep], f[keep]], axis=1).astype(np.int32), n_frames)


def _loudest(peaks: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` rows of each frame of ``peaks`` (rows sorted by frame, loudest first)."""
    if len(peaks) == 0:
        return peaks
    first = np.searchsorted(peaks[:, 0], peaks[:, 0], side="left")
    return peaks[np.arange(len(peaks)) - first < k]


def best_offset(a: RecordingPrint, b: RecordingPrint) -> int:
    """The lag (frames, B frame − A frame) at which most of A's peaks meet one of B's (±1 bin, ±1 frame).

    A histogram of the time differences of every pair of the :data:`OFFSET_PEAKS` loudest
    partials of each frame in neighbouring bins: every offset is tried, at the cost of a sort.
    """
    span = a.n_frames + b.n_frames + 1
    hist = np.zeros(span, np.int64)
    pa, pb = _loudest(a.peaks, OFFSET_PEAKS), _loudest(b.peaks, OFFSET_PEAKS)
    if len(pa) == 0 or len(pb) == 0:
        return 0
    b_by_bin = pb[np.argsort(pb[:, 1], kind="stable")]
    b_bins = b_by_bin[:, 1]
    a_by_bin = pa[np.argsort(pa[:, 1], kind="stable")]
    a_bins = a_by_bin[:, 1]
    for fb in np.unique(a_bins):
        ta = a_by_bin[np.searchsorted(a_bins, fb, "left") : np.searchsorted(a_bins, fb, "right"), 0]
        lo, hi = np.searchsorted(b_bins, fb - 1, "left"), np.searchsorted(b_bins, fb + 1, "right")
        if hi > lo:
            dt = (b_by_bin[lo:hi, 0][None, :] - ta[:, None]).ravel() + a.n_frames
            hist += np.bincount(dt, minlength=span)
    smooth = np.convolve(hist, np.ones(3, np.int64), mode="same")  # ±1 frame
    return int(np.argmax(smooth)) - a.n_frames


def compare(a: RecordingPrint, b: RecordingPrint) -> Match:
    """How much of two recordings is the same audio, at their best alignment.

    The similarity is the Dice share ``2·m / (n_a + n_b)`` of the peaks of both inside the
    overlap, ``m`` being A's peaks with a peak of B within ±1 bin and ±1 frame at the offset: a
    copy that lost peaks (a low bit rate) or gained some (a remaster's noise) scores lower.
    """
    if len(a.peaks) == 0 or len(b.peaks) == 0:
        return Match(0.0, 0.0, 0.0)
    lag = best_offset(a, b)
    start, stop = max(0, -lag), min(a.n_frames, b.n_frames - lag)  # A's frames that B covers
    if stop <= start:
        return Match(0.0, lag / FRAME_RATE, 0.0)
    in_a = a.peaks[(a.peaks[:, 0] >= start) & (a.peaks[:, 0] < stop)]
    in_b = b.peaks[(b.peaks[:, 0] >= start + lag) & (b.peaks[:, 0] < stop + lag)]
    if len(in_a) == 0 or len(in_b) == 0:
        return Match(0.0, lag / FRAME_RATE, (stop - start) / FRAME_RATE)
    grid = np.zeros((b.n_frames + 2, HI_BIN - LO_BIN + 2), bool)
    grid[in_b[:, 0] + 1, in_b[:, 1] + 1] = True
    grid = ndimage.binary_dilation(grid, np.ones((3, 3), bool))  # ±1 frame, ±1 bin
    matched = int(grid[in_a[:, 0] + lag + 1, in_a[:, 1] + 1].sum())
    similarity = min(1.0, 2.0 * matched / (len(in_a) + len(in_b)))
    return Match(similarity, lag / FRAME_RATE, (stop - start) / FRAME_RATE)


#: Similarity at and above which two prints are one recording: the middle of the gap between
#: other recordings of a tune (at most 0.785) and copies (at least 0.953), fitted at 0.869 on
#: half the pairs of bench_same_recording; the other half: no miss, no false alarm (BENCHMARKS.md §4).
SAME_THRESHOLD = 0.87
#: A copy shares at least this share of the longer recording: a trimmed copy loses seconds, not
#: most of the song (an excerpt is a clip, not a version).
MIN_OVERLAP_SHARE = 0.5


def is_same(match: Match, a_duration_s: float, b_duration_s: float) -> bool:
    """Whether ``match`` (of recordings ``a_duration_s`` and ``b_duration_s`` long) says "one recording"."""
    return match.similarity >= SAME_THRESHOLD and match.overlap_s >= MIN_OVERLAP_SHARE * max(
        a_duration_s, b_duration_s
    )
