"""Harmony embedding: chroma (CENS) fingerprints that find a recording of the song itself.

A voice note of the song playing (a phone near a speaker: noise, room, a 300 Hz–5 kHz band)
keeps the song's chords and key and tempo, while its melody contour is the first thing noise
and a missing bass disturb: on the evaluation set, the melody tracker agreed with itself on
such an excerpt in only ~70 % of frames. Chroma Energy Normalized Statistics (Müller et al.,
"Audio Matching via Chroma-Based Statistical Features", ISMIR 2005) — 12 pitch classes,
quantised, smoothed over ~1 s and sampled at :data:`FRAME_RATE` — are the classic answer for
matching an excerpt of a piece against its recording.

Not key- or tempo-invariant, on purpose: a recording is in the song's key and tempo, and a hum
carries no chords (its scores stay low, so the fusion gate in :mod:`core.fusion` ignores them).

Shapes: features (12, n) CENS frames; vectors (:data:`DIM`,) = :data:`WINDOW_FRAMES` frames
flattened, centred and L2-normalised, so a cosine is a correlation of chroma patterns.
"""

from __future__ import annotations

import librosa
import numpy as np

from core.embedders.base import Embedder, l2_normalize
from core.types import QueryEmbedding, Segments

SAMPLE_RATE = 16000
_CHROMA_HOP = 1600  # 10 chroma frames per second before smoothing
_DOWNSAMPLE = 5
FRAME_RATE = SAMPLE_RATE / _CHROMA_HOP / _DOWNSAMPLE  # 2 CENS frames per second
_SMOOTH = 11  # chroma frames (~1.1 s) of CENS smoothing
WINDOW_FRAMES = 16  # 8 s
DIM = 12 * WINDOW_FRAMES
REGION_PAD = 20  # CENS frames (10 s) searched either side of the first stage's offset


def cens(samples: np.ndarray) -> np.ndarray:
    """(n,) float32 at 16 kHz → (12, frames) CENS at :data:`FRAME_RATE`, unit-norm columns."""
    if len(samples) < _CHROMA_HOP:
        return np.zeros((12, 0), np.float32)
    C = librosa.feature.chroma_cens(
        y=samples,
        sr=SAMPLE_RATE,
        hop_length=_CHROMA_HOP,
        fmin=librosa.note_to_hz("C2"),
        n_octaves=6,
        win_len_smooth=_SMOOTH,
        tuning=0.0,
    )  # query and song share a tuning; estimating it costs time
    return C[:, ::_DOWNSAMPLE].astype(np.float32)


def window_vector(frames: np.ndarray) -> np.ndarray | None:
    """(12, m) CENS frames → (12·m,) centred unit vector, or None for silence / a flat window."""
    v = frames.T.reshape(-1).astype(np.float32)
    v = v - v.mean()
    return l2_normalize(v) if np.linalg.norm(v) > 1e-6 else None


def correlate(query: np.ndarray, song: np.ndarray, offset: int) -> tuple[float, int]:
    """Best (correlation, start frame) of the whole query (12, m) in the song (12, n) around ``offset``."""
    m = query.shape[1]
    q = window_vector(query)
    if q is None or song.shape[1] == 0:
        return 0.0, offset
    lo = max(0, min(offset - REGION_PAD, song.shape[1] - m))
    hi = max(lo, min(offset + REGION_PAD, song.shape[1] - m))
    region = song[:, lo : hi + m]
    if region.shape[1] < m:  # a song shorter than the query: compare the overlap
        region = np.pad(region, ((0, 0), (0, m - region.shape[1])))
    # Every start at once: (starts, 12, m) windows, flattened frame-major like window_vector.
    windows = (
        np.lib.stride_tricks.sliding_window_view(region, m, axis=1).transpose(1, 2, 0).reshape(-1, 12 * m)
    )
    windows = windows - windows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(windows, axis=1)
    sims = np.where(norms > 1e-6, windows @ q / np.maximum(norms, 1e-6), -1.0)
    best = int(np.argmax(sims))
    return float(sims[best]), lo + best


class HarmonyEmbedder(Embedder):
    name = "harmony"
    version = "cens-1"
    dim = DIM
    sample_rate = SAMPLE_RATE
    reranks = True

    def __init__(self, *, hop_s: float = 1.0) -> None:
        self.hop = max(1, int(round(hop_s * FRAME_RATE)))

    def embed_song(self, samples: np.ndarray) -> Segments:
        X = cens(samples)
        starts, vecs = [], []
        for s in range(0, max(X.shape[1] - WINDOW_FRAMES, 0) + 1, self.hop):
            v = window_vector(X[:, s : s + WINDOW_FRAMES])
            if v is not None and len(v) == DIM:
                starts.append(s / FRAME_RATE)
                vecs.append(v)
        if not vecs:
            return Segments(np.zeros(0, np.float32), np.zeros((0, DIM), np.float32), features=X)
        return Segments(np.array(starts, np.float32), np.stack(vecs), features=X)

    def _query_vectors(self, X: np.ndarray) -> np.ndarray:
        # Song windows start every hop: query windows at every frame of one hop meet one exactly.
        vecs = [
            window_vector(X[:, k : k + WINDOW_FRAMES])
            for k in range(self.hop)
            if X.shape[1] >= k + WINDOW_FRAMES
        ]
        good = [v for v in vecs if v is not None]
        return np.stack(good) if good else np.zeros((0, DIM), np.float32)

    def embed_queries(self, queries: list[np.ndarray]) -> list[np.ndarray]:
        return [e.vectors for e in self.embed_queries_full(queries)]

    def embed_queries_full(self, queries: list[np.ndarray]) -> list[QueryEmbedding]:
        """A query shorter than one window (8 s) gets no vectors: the melody path answers it."""
        out = []
        for q in queries:
            X = cens(q)
            vecs = self._query_vectors(X)
            out.append(QueryEmbedding(vecs, X if len(vecs) else None))
        return out

    def rerank(
        self, query_features: np.ndarray, candidates: list[tuple[np.ndarray, float]]
    ) -> list[tuple[float, float]]:
        """Correlation of the whole query's chroma with each candidate song near its first-stage offset."""
        out = []
        for song, offset_s in candidates:
            score, start = correlate(query_features, song, int(round(offset_s * FRAME_RATE)))
            out.append((score, start / FRAME_RATE))
        return out
