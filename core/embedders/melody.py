"""Melody embedding: key-invariant, tempo-tolerant vectors of pitch contours.

Pipeline (all at 16 kHz):

1. **Contour.** A query (humming, singing: one voice) is tracked by SwiftF0, a small CNN whose
   ONNX weights ship in its wheel. A song (a polyphonic mix) goes through a predominant-melody
   tracker: a small learned salience network (:mod:`core.embedders.salience_net`, over a CQT
   and Basic Pitch's multi-pitch posterior) and a Viterbi path through its output. Both yield
   MIDI pitch (float semitones, NaN where unvoiced) resampled to :data:`FRAME_RATE` frames per
   second.
2. **Vector.** A window of the contour is resampled to :data:`DIM` points, unvoiced gaps filled by
   interpolation, the window's median pitch subtracted (transposition invariance), deviations
   clipped to ±1 octave and the result L2-normalised. Cosine similarity of two vectors is then a
   correlation of melodic shapes, whatever key each was sung in.
3. **Tempo.** Song windows last :attr:`MelodyEmbedder.window_s`. A query yields one vector per
   tempo ratio in :data:`TEMPO_RATIOS`, each from the query's first ``window_s × ratio`` seconds,
   so a query hummed 25 % slower or faster still lines up with a song window starting where the
   query starts (which gives the offset).
4. **Re-ranking** (:meth:`MelodyEmbedder.rerank`, :mod:`core.embedders.align`). The first stage's
   candidates are aligned by DTW twice: coarsely on the whole song (5 frames per second), which
   does not trust the first stage's offset, then precisely around the coarse match for the best
   :data:`FINE_CANDIDATES`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import librosa
import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from core import voice_pitch
from core.embedders import align, pitch_posterior, salience_net
from core.embedders.base import Embedder, l2_normalize
from core.types import Segments

SAMPLE_RATE = 16000
FRAME_RATE = 10.0  # contour frames per second
DIM = 64
#: Query-length / song-length ratios tried (geometric, ~4 % apart: 0.75 … 1.33).
TEMPO_RATIOS = tuple(float(r) for r in np.geomspace(0.75, 1.33, 15))
#: Default query window starts per song hop (see MelodyEmbedder.query_vectors_from_contour).
QUERY_SHIFTS = 4
#: Seconds of song per indexed window. Queries cover 5–15 s of their song: an 8 s window is
#: longer than many, and a short query's vector then describes less melody than the window it
#: must match. First stage on the 300-song evaluation set (stored song contours, same
#: re-ranking and fusion), right song among the 150 candidates / final top-1: 4 s 95.0 / 93.3 %,
#: 5 s 97.5 / 94.2 %, 6 s 100 / 95.0 %, 7 s 97.5 / 94.2 %, 8 s 95.0 / 92.5 %.
WINDOW_S = 6.0
MIN_VOICED = 0.35  # fraction of voiced frames a window needs to be indexed / used
FMIN_HZ, FMAX_HZ = 80.0, 1000.0
#: Log-probability the Viterbi path over the network's output pays per semitone the melody moves
#: between frames. 0.5 on the 300 evaluation songs: frames within a semitone of the melody
#: 85.1 %, against 84.1 % for the per-frame most likely pitch and 84.7 % at 1.0.
PATH_JUMP_COST = 0.5
NO_MELODY = 0.5  # a frame whose "no melody" probability exceeds this is left unvoiced

# CQT view of a song (the salience network's input).
_BINS_PER_OCTAVE = salience_net.BINS_PER_OCTAVE
SALIENCE_MIDI_MIN = 36.0  # C2 (65.4 Hz): the CQT's and the network's lowest pitch
_CQT_FMIN = float(librosa.midi_to_hz(SALIENCE_MIDI_MIN))
_N_BINS = _BINS_PER_OCTAVE * 6
_CQT_HOP = 256  # 16 ms at 16 kHz
SALIENCE_FRAME_S = salience_net.TIME_POOL * _CQT_HOP / SAMPLE_RATE  # 64 ms per network frame


def hz_to_midi(f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, 69.0 + 12.0 * np.log2(f / 440.0), np.nan)


def resample_contour(times: np.ndarray, midi: np.ndarray, duration_s: float) -> np.ndarray:
    """Contour (times in s, MIDI or NaN) → (n,) MIDI/NaN at :data:`FRAME_RATE`, by median per frame."""
    n = max(1, int(np.ceil(duration_s * FRAME_RATE)))
    idx = np.clip((times * FRAME_RATE).astype(int), 0, n - 1)
    out = np.full(n, np.nan, dtype=np.float32)
    voiced = ~np.isnan(midi)
    if not voiced.any():
        return out
    order = np.argsort(idx[voiced], kind="stable")
    vi, vm = idx[voiced][order], midi[voiced][order]
    bounds = np.flatnonzero(np.diff(vi)) + 1
    for chunk_i, chunk_m in zip(np.split(vi, bounds), np.split(vm, bounds)):
        out[chunk_i[0]] = np.median(chunk_m)
    return out


def query_contour(samples: np.ndarray, detector) -> np.ndarray:
    """One voice (16 kHz float32) → MIDI/NaN per contour frame, via SwiftF0."""
    res = detector.detect(samples, SAMPLE_RATE, fmin=FMIN_HZ, fmax=FMAX_HZ)
    midi = np.where(res.confidence >= 0.5, hz_to_midi(res.pitch_hz), np.nan)
    return resample_contour(res.timestamps, midi, len(samples) / SAMPLE_RATE)


def song_contour(samples: np.ndarray, posterior: np.ndarray, cqt: np.ndarray | None = None) -> np.ndarray:
    """Polyphonic mix (16 kHz float32) → predominant-melody MIDI/NaN per contour frame.

    The learned salience network of :mod:`core.embedders.salience_net` reads the song's
    whitened CQT at the tune's harmonics and Basic Pitch's multi-pitch
    ``posterior`` (frames, 264) from :mod:`core.embedders.pitch_posterior`, and gives per
    frame the probability of each melody pitch and of "no melody". The melody is the Viterbi
    path through those probabilities (:func:`_melody_path`), unvoiced where "no melody" wins.

    Measured on the 300 songs of the evaluation set (frames within a semitone of the true
    melody, octave-folded): 85.1 %, against 78.2 % for the hand-made tracker it replaces (a
    Viterbi path over a CQT harmonic sum averaged with the posterior, biased towards high
    pitches). That tracker followed the harmony or the chords wherever they were louder or
    higher than the tune; the network learned which voice is the tune from 504 generated songs
    (festival and 32 synthetic voices, evaluation.train_salience). On family B's sung songs, by
    12 voices it never heard, it follows 80.4 % of frames (weights trained on festival only:
    68.8 %; BENCHMARKS.md §9).
    ``cqt``, if given, is the song's :func:`whitened_log_cqt`, computed elsewhere (in parallel).
    """
    return contour_from_salience(salience_input(samples, posterior, cqt), len(samples) / SAMPLE_RATE)


def contour_from_salience(
    x: np.ndarray, duration_s: float, net: salience_net.SalienceNet | None = None
) -> np.ndarray:
    """The salience network's input (:func:`salience_input`) of a ``duration_s`` song → its
    melody, MIDI/NaN per contour frame. ``net``: other weights than the shipped ones (benchmarks)."""
    P = (net or _network()).probabilities(x)
    best = _melody_path(np.log(P[:-1] + 1e-4))
    midi = np.where(P[-1] < NO_MELODY, SALIENCE_MIDI_MIN + best * 12.0 / _BINS_PER_OCTAVE, np.nan)
    times = (np.arange(len(midi)) + 0.5) * SALIENCE_FRAME_S
    return resample_contour(times, midi, duration_s)


def salience_input(samples: np.ndarray, posterior: np.ndarray, cqt: np.ndarray | None = None) -> np.ndarray:
    """16 kHz mix and its Basic Pitch posterior → the salience network's input
    (:func:`core.embedders.salience_net.features`), one frame per :data:`SALIENCE_FRAME_S`."""
    L = whitened_log_cqt(samples) if cqt is None else cqt
    return salience_net.features(L, _on_cqt_grid(posterior, L.shape[1]))


_net: salience_net.SalienceNet | None = None


def _network() -> salience_net.SalienceNet:
    global _net
    if _net is None:
        _net = salience_net.SalienceNet()
    return _net


def whitened_log_cqt(samples: np.ndarray) -> np.ndarray:
    """16 kHz audio → (_N_BINS, frames) log-magnitude CQT (36 bins per octave from C2, 16 ms
    hop) with its spectral envelope removed."""
    C = np.abs(
        librosa.cqt(
            samples,
            sr=SAMPLE_RATE,
            hop_length=_CQT_HOP,
            fmin=_CQT_FMIN,
            n_bins=_N_BINS,
            bins_per_octave=_BINS_PER_OCTAVE,
        )
    )
    L = np.log1p(10.0 * C / (C.max() + 1e-9))
    # Spectral whitening: remove the slowly varying envelope across frequency (≈1 octave), so
    # loud low instruments and bright timbres do not outweigh the tune's harmonics.
    return np.maximum(L - uniform_filter1d(L, size=_BINS_PER_OCTAVE + 1, axis=0), 0.0)


def _on_cqt_grid(posterior: np.ndarray, n_frames: int) -> np.ndarray:
    """Basic Pitch posterior (frames, 264 bins from A0) → (_N_BINS, n_frames) on the CQT's bins
    (same 36 per octave, from C2: 45 bins up) and frames (nearest in time)."""
    off = int(round(_BINS_PER_OCTAVE * np.log2(_CQT_FMIN / pitch_posterior.FMIN_HZ)))
    P = posterior[:, off : off + _N_BINS].T
    if P.shape[0] < _N_BINS:
        P = np.pad(P, ((0, _N_BINS - P.shape[0]), (0, 0)))
    if P.shape[1] == 0:
        return np.zeros((_N_BINS, n_frames), np.float32)
    t_cqt = np.arange(n_frames) * _CQT_HOP / SAMPLE_RATE
    idx = np.clip(np.round(t_cqt * pitch_posterior.FRAME_RATE).astype(int), 0, P.shape[1] - 1)
    return P[:, idx]


def _melody_path(E: np.ndarray) -> np.ndarray:
    """The melody through log-probabilities E (bins, frames): a Viterbi path → (frames,) bins.

    Moving by d semitones between frames costs ``PATH_JUMP_COST``·min(d, 12): continuity keeps
    the path on one voice through frames where another is momentarily more likely.
    """
    n_b, n_t = E.shape
    bins = np.arange(n_b)
    T = -PATH_JUMP_COST * np.minimum(np.abs(bins[:, None] - bins[None, :]) / (_BINS_PER_OCTAVE / 12), 12.0)
    score = E[:, 0].copy()
    back = np.zeros((n_t, n_b), dtype=np.int32)
    for t in range(1, n_t):
        cand = score[None, :] + T  # (to, from)
        back[t] = np.argmax(cand, axis=1)
        score = cand[bins, back[t]] + E[:, t]
    path = np.empty(n_t, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n_t - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


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


#: Threads one query's melody work is spread over: the re-ranking's DTW (numba, without the
#: GIL) and the query's two contours (ONNX Runtime and librosa, which release it too).
_THREADS = 2
#: Candidates given the precise alignment after the coarse pass.
FINE_CANDIDATES = 50
_pool: ThreadPoolExecutor | None = None


def _melody_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="melody")
    return _pool


class MelodyEmbedder(Embedder):
    name = "melody"
    #: With the window length and hop in it, so an index built with other windows asks for a reindex.
    VERSION = "chroma-contour-9"
    dim = DIM
    sample_rate = SAMPLE_RATE

    def __init__(
        self, *, window_s: float = WINDOW_S, hop_s: float = 1.0, query_shifts: int = QUERY_SHIFTS
    ) -> None:
        self.window_s, self.hop_s, self.query_shifts = window_s, hop_s, query_shifts
        self.version = f"{self.VERSION}/{window_s:g}s/{hop_s:g}s"
        # The process's one query tracker: the query evidence reads the same track of a query
        # (core.voice_pitch runs it once).
        self._detector = voice_pitch.shared()
        self._posterior = pitch_posterior.PitchPosterior(threads=1)
        _network()  # load the song tracker's weights now, so a broken install fails at start-up

    def song_segments_from_contour(self, contour: np.ndarray) -> Segments:
        win = int(round(self.window_s * FRAME_RATE))
        hop = max(1, int(round(self.hop_s * FRAME_RATE)))
        starts, vecs = [], []
        for s in range(0, max(len(contour) - win, 0) + 1, hop):
            v = contour_vector(contour[s : s + win])
            if v is not None:
                starts.append(s / FRAME_RATE)
                vecs.append(v)
        if not vecs:
            return Segments(np.zeros(0, np.float32), np.zeros((0, DIM), np.float32))
        return Segments(np.array(starts, np.float32), np.stack(vecs))

    def query_vectors_from_contour(self, contour: np.ndarray) -> np.ndarray:
        """(v, DIM) vectors: one per tempo ratio and start shift.

        Song windows start every ``hop_s``; the query may start anywhere between two of them.
        Starting the query's window at ``query_shifts`` points within one hop puts one of them
        within ``hop_s / (2·query_shifts)`` of a song window (top-1 +4 points on the
        evaluation set, at 4× the query vectors: a few ms on the local index).
        """
        win = self.window_s * FRAME_RATE
        vecs = []
        for k in range(self.query_shifts):
            shift = int(round(k * self.hop_s * FRAME_RATE / self.query_shifts))
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

    def embed_song(self, samples: np.ndarray) -> Segments:
        contour = self._mix_contour(samples)
        seg = self.song_segments_from_contour(contour)
        return Segments(seg.starts_s, seg.vectors, features=contour)

    def _mix_contour(self, samples: np.ndarray) -> np.ndarray:
        return song_contour(samples, self._posterior.posterior(samples, SAMPLE_RATE))

    def embed_queries(self, queries: list[np.ndarray]) -> list[np.ndarray]:
        return [v for v, _ in self.embed_queries_full(queries)]

    reranks = True

    def embed_queries_full(self, queries: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Vectors and contours from two trackers: a voice (hum, singing) is followed best by
        SwiftF0, a recording of the song itself (a polyphonic mix) by the song tracker — the
        same one its catalog entry went through. Searching with both costs little and spares a
        guess at what the user sent. Features: (2, m) contours, NaN-padded."""
        out = []
        for q in queries:
            voice, mix = self.query_contours(q)
            vecs = np.concatenate(
                [self.query_vectors_from_contour(voice), self.query_vectors_from_contour(mix)]
            )
            out.append((vecs, self.query_features(voice, mix)))
        return out

    def query_contours(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A query's (voice, mix) contours at :data:`FRAME_RATE`: SwiftF0's and the song tracker's.

        Spread over :data:`_THREADS` threads, as they wait on a user: the Basic Pitch posterior
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
        prepared = [c for c in (align.prepare_query(voice), align.prepare_query(mix)) if c is not None]
        if not prepared:
            return None
        feats = np.full((len(prepared), max(len(c) for c in prepared)), np.nan)
        for i, c in enumerate(prepared):
            feats[i, : len(c)] = c
        return feats

    def rerank(
        self, query_features: np.ndarray, candidates: list[tuple[np.ndarray, float]]
    ) -> list[tuple[float, float]]:
        """Two passes: a coarse DTW of the query on each candidate's whole song, then a precise
        subsequence DTW around the coarse match for the :data:`FINE_CANDIDATES` best.

        The first stage's offset is not used: it is often a neighbouring or wrong passage. Songs
        left out of the precise pass keep their coarse score, capped below the precise scores.
        The DTW kernel releases the GIL, so candidates are aligned on :data:`_RERANK_THREADS`
        threads.
        """
        queries = [row[~np.isnan(row)] for row in np.atleast_2d(query_features)]
        coarse_queries = [align.pooled(q) for q in queries]

        def coarse(candidate: tuple[np.ndarray, float]) -> tuple[float, int, int]:
            song = align.pooled(candidate[0])
            return max((*align.coarse_align(q, song), i) for i, q in enumerate(coarse_queries))

        def fine(i: int) -> tuple[float, float]:
            _, start, which = rough[i]
            score, at = align.align(queries[which], candidates[i][0], offset=start)
            return score, at / FRAME_RATE

        pool = _melody_pool()
        rough = list(pool.map(coarse, candidates))
        best = sorted(range(len(candidates)), key=lambda i: -rough[i][0])[:FINE_CANDIDATES]
        out = [(score, start / FRAME_RATE) for score, start, _ in rough]
        for i, result in zip(best, pool.map(fine, best)):
            out[i] = result
        floor = min(out[i][0] for i in best) if best else 0.0
        chosen = set(best)
        return [r if i in chosen else (min(r[0], floor), r[1]) for i, r in enumerate(out)]
