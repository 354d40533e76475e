"""Melody vectors: key-invariant unit vectors of contour windows, for songs and queries.

A window of the contour (:mod:`core.embedders.melody.tracking`) is resampled to :data:`DIM`
points, unvoiced gaps filled by interpolation, and turned key-invariant and L2-normalised
(:func:`contour_vector`). Cosine similarity of two vectors is then a correlation of melodic
shapes, whatever key each was sung in. Song windows last ``window_s``; a query yields one
vector per tempo ratio in :data:`TEMPO_RATIOS` and start shift (:func:`query_vectors`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.embedders.base import l2_normalize
from core.embedders.melody.tracking import FRAME_RATE
from core.types import Segments

DIM = 64
#: Query-length / song-length ratios tried (geometric, ~4 % apart: 0.75 … 1.33).
TEMPO_RATIOS = tuple(float(r) for r in np.geomspace(0.75, 1.33, 15))
#: Default query window starts per song hop (see :func:`query_vectors`).
QUERY_SHIFTS = 4
#: Seconds of song per indexed window. Queries cover 5–15 s of their song: an 8 s window is
#: longer than many, and a short query's vector then describes less melody than the window it
#: must match. First stage on the 300-song evaluation set (stored song contours, same
#: re-ranking and fusion), right song among the 150 candidates / final top-1: 4 s 95.0 / 93.3 %,
#: 5 s 97.5 / 94.2 %, 6 s 100 / 95.0 %, 7 s 97.5 / 94.2 %, 8 s 95.0 / 92.5 %.
WINDOW_S = 6.0
MIN_VOICED = 0.35  # fraction of voiced frames a window needs to be indexed / used
#: Seconds into a (trimmed) query where the first stage's further probes start
#: (:func:`probe_vectors`). The main probe reads the query from its start only, so a poorly sung
#: or poorly tracked opening loses the song before the re-ranking sees it. Chosen on the
#: chosen-on rows (family A's fit split and family T: 124 hums and sung queries on the stored
#: catalogs, right song first after the same re-ranking): the main probe's 150 candidates alone
#: 109; 120 + the 15 best of probes at 2 and 4 s 113 (130 candidates); 100 + 25 + 25 111;
#: 150 + 50 + 50 111 (179 candidates); a mean over the three probes instead of a union 110.
#: BENCHMARKS.md §9, "Probes".
PROBE_STARTS_S = (2.0, 4.0)


def contour_vector(window: np.ndarray) -> np.ndarray | None:
    """A contour window (m,) MIDI/NaN → (DIM,) unit vector, or None if too little is voiced.

    Pitch is taken as a point on the chroma circle (angle 2π·midi/12), so an octave error of the
    melody tracker — frequent on polyphonic mixes — changes nothing. The window is rotated by its
    circular mean pitch (key invariance), resampled to DIM/2 points, and the (cos, sin) pairs
    are centred so that the vector describes the melody's movement, not its mere presence.
    """
    voiced = ~np.isnan(window)
    if voiced.mean() < MIN_VOICED or voiced.sum() < 4:
        return None
    x = np.arange(len(window))
    z = np.exp(2j * np.pi * window[voiced] / 12.0)
    # Interpolate on the circle (real and imaginary parts), then smooth a little: correlation
    # then degrades gracefully when note onsets are slightly misaligned.
    re = gaussian_filter1d(np.interp(x, x[voiced], z.real), sigma=1.0, mode="nearest")
    im = gaussian_filter1d(np.interp(x, x[voiced], z.imag), sigma=1.0, mode="nearest")
    grid = np.linspace(0, len(window) - 1, DIM // 2)
    zz = np.interp(grid, x, re) + 1j * np.interp(grid, x, im)
    mean = zz.mean()
    if abs(mean) > 0.97:  # (almost) one pitch class throughout: a drone, no melody
        return None
    zz = zz * np.conj(mean) / (abs(mean) + 1e-9)
    v = np.concatenate([zz.real, zz.imag])
    v[: DIM // 2] -= v[: DIM // 2].mean()
    v[DIM // 2 :] -= v[DIM // 2 :].mean()
    return l2_normalize(v)


def song_segments(contour: np.ndarray, window_s: float, hop_s: float) -> Segments:
    """A song's contour (n,) MIDI/NaN at :data:`FRAME_RATE` → one vector per ``window_s`` window,
    every ``hop_s`` seconds (windows too little voiced are left out), starts in seconds."""
    win = int(round(window_s * FRAME_RATE))
    hop = max(1, int(round(hop_s * FRAME_RATE)))
    starts: list[float] = []
    vecs: list[np.ndarray] = []
    for s in range(0, max(len(contour) - win, 0) + 1, hop):
        v = contour_vector(contour[s : s + win])
        if v is not None:
            starts.append(s / FRAME_RATE)
            vecs.append(v)
    if not vecs:
        return Segments(np.zeros(0, np.float32), np.zeros((0, DIM), np.float32))
    return Segments(np.array(starts, np.float32), np.stack(vecs))


def query_vectors(contour: np.ndarray, window_s: float, hop_s: float, query_shifts: int) -> np.ndarray:
    """A query's contour (m,) MIDI/NaN → (v, DIM) vectors: one per tempo ratio and start shift.

    Song windows start every ``hop_s``; the query may start anywhere between two of them.
    Starting the query's window at ``query_shifts`` points within one hop puts one of them
    within ``hop_s / (2·query_shifts)`` of a song window (top-1 +4 points on the
    evaluation set, at 4× the query vectors: a few ms on the local index).
    """
    win = window_s * FRAME_RATE
    vecs: list[np.ndarray] = []
    for k in range(query_shifts):
        shift = int(round(k * hop_s * FRAME_RATE / query_shifts))
        part = contour[shift:]
        for r in TEMPO_RATIOS:
            n = int(round(win * r))
            if n > len(part) * 1.15:  # not enough query for this ratio
                continue
            v = contour_vector(part[:n])
            if v is not None:
                vecs.append(v)
    if not vecs:  # short query: use all of it, whatever its length
        v = contour_vector(contour)
        vecs = [v] if v is not None else []
    return np.stack(vecs) if vecs else np.zeros((0, DIM), np.float32)


def probe_vectors(
    contour: np.ndarray, window_s: float, hop_s: float, query_shifts: int, starts_s: tuple[float, ...]
) -> list[np.ndarray]:
    """A query's contour (m,) MIDI/NaN → one (v, DIM) vector set per start in ``starts_s``
    (seconds), each :func:`query_vectors` of the contour from there on.

    A start is left out where less than the shortest tempo ratio's window is left
    (``TEMPO_RATIOS[0] · window_s``), or where that rest is less than :data:`MIN_VOICED` voiced:
    a probe would then describe less melody than the main one.
    """
    out = []
    for start in starts_s:
        part = contour[int(round(start * FRAME_RATE)) :]
        if len(part) < TEMPO_RATIOS[0] * window_s * FRAME_RATE or np.mean(~np.isnan(part)) < MIN_VOICED:
            continue
        vecs = query_vectors(part, window_s, hop_s, query_shifts)
        if len(vecs):
            out.append(vecs)
    return out
