"""Harmony (chroma) vectors: a phone recording of a song finds it; a hum does not pass the gate."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import encode, tune
from scipy import signal

from core import audio
from core.audio import Audio
from core.embedders.harmony import DIM, HarmonyEmbedder
from core.settings import SearchConfig

GATE = SearchConfig().gates["harmony"].score


@pytest.fixture(scope="module")
def embedder() -> HarmonyEmbedder:
    return HarmonyEmbedder()


def _song(seed: int) -> np.ndarray:
    return Audio(tune(seed), 32000).resampled(16000).samples


def _phone_recording(song: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    """An excerpt through a 300 Hz–3.4 kHz band, with noise at ~10 dB SNR, sent as an Opus note."""
    y = song[int(start_s * 16000) : int((start_s + seconds) * 16000)]
    y = signal.sosfilt(signal.butter(4, [300, 3400], "band", fs=16000, output="sos"), y)
    y = y + np.random.default_rng(1).normal(0, 0.3 * np.sqrt(np.mean(y**2)), len(y))
    data = encode((0.5 * y / np.abs(y).max()).astype(np.float32), "ogg", sr=16000)
    return audio.decode_bytes(data, sample_rate=16000, max_seconds=60, suffix=".ogg").samples


def _embedded_query(embedder: HarmonyEmbedder, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    (e,) = embedder.embed_queries_full([q])
    return e.vectors, e.features


def test_a_phone_recording_finds_its_song_and_passage(embedder: HarmonyEmbedder) -> None:
    song, other = embedder.embed_song(_song(7)), embedder.embed_song(_song(8))
    assert song.vectors.shape[1] == DIM and song.features.shape[0] == 12
    vecs, feats = _embedded_query(embedder, _phone_recording(_song(7), 12.0, 10.0))
    assert len(vecs) > 0
    (own, offset), (theirs, _) = embedder.rerank(feats, [(song.features, float(song.starts_s[np.argmax((vecs @ song.vectors.T).max(axis=0))])),
                                                         (other.features, float(other.starts_s[np.argmax((vecs @ other.vectors.T).max(axis=0))]))])
    assert own > GATE > theirs
    assert abs(offset - 12.0) <= 1.0


def test_a_hum_stays_below_the_gate(embedder: HarmonyEmbedder) -> None:
    """One voice carries no chords: a hum of one tune must not pass as a recording of another."""
    other = embedder.embed_song(_song(8))
    hum = Audio(tune(7, voice=True, shift=3), 32000).resampled(16000).samples[: 10 * 16000]
    vecs, feats = _embedded_query(embedder, hum)
    best = float((vecs @ other.vectors.T).max())
    score, _ = embedder.rerank(feats, [(other.features, 0.0)])[0]
    assert best < GATE and score < GATE


def test_short_or_silent_queries_yield_no_vectors(embedder: HarmonyEmbedder) -> None:
    vecs, feats = _embedded_query(embedder, _song(7)[: 3 * 16000])
    assert vecs.shape == (0, DIM) and feats is None
    vecs, _ = _embedded_query(embedder, np.zeros(10 * 16000, np.float32))
    assert len(vecs) == 0
