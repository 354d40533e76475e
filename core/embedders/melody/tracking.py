"""Pitch tracking: a query's or a song's melody as a MIDI contour at :data:`FRAME_RATE`.

A query (humming, singing: one voice) is tracked by SwiftF0 (:func:`query_contour`), a small
CNN whose ONNX weights ship in its wheel. A song (a polyphonic mix) goes through a
predominant-melody tracker (:func:`song_contour`): a small learned salience network
(:mod:`core.embedders.salience_net`, over a CQT and Basic Pitch's multi-pitch posterior) and a
Viterbi path through its output. Both yield MIDI pitch (float semitones, NaN where unvoiced)
resampled to :data:`FRAME_RATE` frames per second, from 16 kHz audio.
"""

from __future__ import annotations

import librosa
import numpy as np
from scipy.ndimage import uniform_filter1d

from core.embedders import pitch_posterior, salience_net
from core.voice_pitch import PitchDetector

SAMPLE_RATE = 16000
FRAME_RATE = 10.0  # contour frames per second
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


def query_contour(samples: np.ndarray, detector: PitchDetector) -> np.ndarray:
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
    whitened: np.ndarray = np.maximum(L - uniform_filter1d(L, size=_BINS_PER_OCTAVE + 1, axis=0), 0.0)
    return whitened


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
