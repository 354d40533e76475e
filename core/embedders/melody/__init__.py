"""Melody embedding: key-invariant, tempo-tolerant vectors of pitch contours.

Pipeline (all at 16 kHz), one submodule per step; :class:`MelodyEmbedder` composes them:

1. **Contour** (:mod:`~core.embedders.melody.tracking`). A query (humming, singing: one voice)
   is tracked by SwiftF0, a small CNN whose ONNX weights ship in its wheel. A song (a polyphonic
   mix) goes through a predominant-melody tracker: a small learned salience network
   (:mod:`core.embedders.salience_net`, over a CQT and Basic Pitch's multi-pitch posterior) and
   a Viterbi path through its output. Both yield MIDI pitch (float semitones, NaN where
   unvoiced) resampled to :data:`FRAME_RATE` frames per second.
2. **Vector** (:mod:`~core.embedders.melody.vectors`). A window of the contour is resampled to
   :data:`DIM` points, unvoiced gaps filled by interpolation, the window's median pitch
   subtracted (transposition invariance), deviations clipped to ±1 octave and the result
   L2-normalised. Cosine similarity of two vectors is then a correlation of melodic shapes,
   whatever key each was sung in.
3. **Tempo** (:mod:`~core.embedders.melody.vectors`). Song windows last
   :attr:`MelodyEmbedder.window_s`. A query yields one vector per tempo ratio in
   :data:`TEMPO_RATIOS`, each from the query's first ``window_s × ratio`` seconds, so a query
   hummed 25 % slower or faster still lines up with a song window starting where the query
   starts (which gives the offset).
4. **Re-ranking** (:mod:`~core.embedders.melody.rerank`, :mod:`core.embedders.align`). The first
   stage's candidates are aligned by DTW twice: coarsely on the whole song (5 frames per
   second), which does not trust the first stage's offset, then precisely around the coarse
   match for the best :data:`FINE_CANDIDATES`.

One query's work (its two contours, the re-ranking's DTW) runs on the process's melody pool
(:mod:`~core.embedders.melody.pool`).
"""

from __future__ import annotations

import numpy as np

from core import voice_pitch
from core.embedders import pitch_posterior
from core.embedders.base import Embedder
from core.embedders.melody import rerank as _rerank
from core.embedders.melody.pool import _melody_pool
from core.embedders.melody.rerank import FINE_CANDIDATES
from core.embedders.melody.tracking import (
    FMAX_HZ,
    FMIN_HZ,
    FRAME_RATE,
    NO_MELODY,
    PATH_JUMP_COST,
    SALIENCE_FRAME_S,
    SALIENCE_MIDI_MIN,
    SAMPLE_RATE,
    _network,
    contour_from_salience,
    hz_to_midi,
    query_contour,
    resample_contour,
    salience_input,
    song_contour,
    whitened_log_cqt,
)
from core.embedders.melody.vectors import (
    DIM,
    MIN_VOICED,
    PROBE_STARTS_S,
    QUERY_SHIFTS,
    TEMPO_RATIOS,
    WINDOW_S,
    contour_vector,
    probe_vectors,
    query_vectors,
    song_segments,
)
from core.types import QueryEmbedding, Segments

__all__ = [
    "DIM",
    "FINE_CANDIDATES",
    "FMAX_HZ",
    "FMIN_HZ",
    "FRAME_RATE",
    "MIN_VOICED",
    "NO_MELODY",
    "PATH_JUMP_COST",
    "PROBE_STARTS_S",
    "QUERY_SHIFTS",
    "SALIENCE_FRAME_S",
    "SALIENCE_MIDI_MIN",
    "SAMPLE_RATE",
    "TEMPO_RATIOS",
    "WINDOW_S",
    "MelodyEmbedder",
    "contour_from_salience",
    "contour_vector",
    "hz_to_midi",
    "pitch_posterior",
    "probe_vectors",
    "query_contour",
    "query_vectors",
    "resample_contour",
    "salience_input",
    "song_contour",
    "song_segments",
    "whitened_log_cqt",
]


class MelodyEmbedder(Embedder):
    name = "melody"
    #: With the window length and hop in it, so an index built with other windows asks for a reindex.
    VERSION = "chroma-contour-10"
    dim = DIM
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        hop_s: float = 1.0,
        query_shifts: int = QUERY_SHIFTS,
        probe_starts_s: tuple[float, ...] = PROBE_STARTS_S,
    ) -> None:
        self.window_s, self.hop_s, self.query_shifts = window_s, hop_s, query_shifts
        self.probe_starts_s = tuple(probe_starts_s)
        self.version = f"{self.VERSION}/{window_s:g}s/{hop_s:g}s"
        # The process's one query tracker: the query evidence reads the same track of a query
        # (core.voice_pitch runs it once).
        self._detector = voice_pitch.shared()
        self._posterior = pitch_posterior.PitchPosterior(threads=1)
        _network()  # load the song tracker's weights now, so a broken install fails at start-up

    def song_segments_from_contour(self, contour: np.ndarray) -> Segments:
        """:func:`~core.embedders.melody.vectors.song_segments` at this embedder's window and hop."""
        return song_segments(contour, self.window_s, self.hop_s)

    def query_vectors_from_contour(self, contour: np.ndarray) -> np.ndarray:
        """(v, DIM) vectors: one per tempo ratio and start shift
        (:func:`~core.embedders.melody.vectors.query_vectors`)."""
        return query_vectors(contour, self.window_s, self.hop_s, self.query_shifts)

    def embed_song(self, samples: np.ndarray) -> Segments:
        contour = self._mix_contour(samples)
        seg = self.song_segments_from_contour(contour)
        return Segments(seg.starts_s, seg.vectors, features=contour)

    def _mix_contour(self, samples: np.ndarray) -> np.ndarray:
        return song_contour(samples, self._posterior.posterior(samples, SAMPLE_RATE))

    def embed_queries(self, queries: list[np.ndarray]) -> list[np.ndarray]:
        return [e.vectors for e in self.embed_queries_full(queries)]

    reranks = True

    def embed_queries_full(self, queries: list[np.ndarray]) -> list[QueryEmbedding]:
        """Vectors and contours from two trackers: a voice (hum, singing) is followed best by
        SwiftF0, a recording of the song itself (a polyphonic mix) by the song tracker — the
        same one its catalog entry went through. Searching with both costs little and spares a
        guess at what the user sent. Features: (2, m) contours, NaN-padded. Probes: both
        contours read from each of :data:`~core.embedders.melody.vectors.PROBE_STARTS_S`."""
        out: list[QueryEmbedding] = []
        for q in queries:
            voice, mix = self.query_contours(q)
            vecs = np.concatenate(
                [self.query_vectors_from_contour(voice), self.query_vectors_from_contour(mix)]
            )
            probes = []
            for start in self.probe_starts_s:
                sets = [
                    v
                    for c in (voice, mix)
                    for v in probe_vectors(c, self.window_s, self.hop_s, self.query_shifts, (start,))
                ]
                if sets:
                    probes.append(np.concatenate(sets))
            out.append(QueryEmbedding(vecs, self.query_features(voice, mix), tuple(probes)))
        return out

    def query_contours(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A query's (voice, mix) contours at :data:`FRAME_RATE`: SwiftF0's and the song tracker's.

        Spread over :data:`~core.embedders.melody.pool._THREADS` threads, as they wait on a user: the Basic Pitch posterior
        (about 60 % of the work) in two halves first, then SwiftF0 and the CQT; the salience
        network runs last, here. The same numbers as one after the other, in about 60 % of the time.
        """
        pool = _melody_pool()
        windows, n_frames = self._posterior.windows(samples, SAMPLE_RATE)
        halves = pool.map(self._posterior.run, np.array_split(windows, min(2, len(windows))))  # queued first
        voice = pool.submit(self._voice_contour, samples)
        cqt = pool.submit(whitened_log_cqt, samples)
        posterior = self._posterior.assemble(list(halves), n_frames)
        return voice.result(), song_contour(samples, posterior, cqt.result())

    def _voice_contour(self, samples: np.ndarray) -> np.ndarray:
        return query_contour(samples, self._detector)

    @staticmethod
    def query_features(voice: np.ndarray, mix: np.ndarray) -> np.ndarray | None:
        """The re-ranking's query features: the prepared contours, one per row, NaN-padded."""
        return _rerank.query_features(voice, mix)

    def rerank(
        self, query_features: np.ndarray, candidates: list[tuple[np.ndarray, float]]
    ) -> list[tuple[float, float]]:
        """(score, offset_s) per candidate: :func:`core.embedders.melody.rerank.rerank`."""
        return _rerank.rerank(query_features, candidates)
