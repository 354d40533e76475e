"""Synthetic songs and segment vectors for the index tests and the index benchmark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
from es_server import EsServer

from core.settings import ElasticsearchConfig
from core.types import EmbedderSpec, Segments, Song

SPECS = {"melody": EmbedderSpec("melody", "m-1", 64), "panns": EmbedderSpec("panns", "p-1", 128)}


def es_config(server: EsServer, **overrides) -> ElasticsearchConfig:
    """A config for ``server`` with a fresh alias (tests share the node, never an index)."""
    raw = {"hosts": [server.url], "index": f"t-{uuid.uuid4().hex[:10]}", "request_timeout_s": 20,
           "search_timeout_s": 5, "max_retries": 1, "retry_backoff_s": 0.2, "retry_backoff_max_s": 1.0,
           "bulk_chunk_size": 10}
    return ElasticsearchConfig.model_validate(raw | overrides)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_song(i: int, *, artist: str | None = None, genre: str | None = None, title: str | None = None) -> Song:
    return Song(song_id=f"song{i:04d}", title=title or f"Tune {i}", artist=artist, duration_s=60.0,
                source_name=f"tune{i}.flac", sha256=f"{i:064x}", ext=".flac", added_by="test",
                added_at=datetime(2026, 1, 1, tzinfo=UTC), genre=genre)


def make_segments(seed: int, specs: dict[str, EmbedderSpec] = SPECS, n_melody: int = 12,
                  n_panns: int = 4) -> dict[str, Segments]:
    """Random unit vectors: melody every 1 s, PANNs every 5 s (like the real embedders)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, spec in specs.items():
        n, hop = (n_melody, 1.0) if name == "melody" else (n_panns, 5.0)
        out[name] = Segments(np.arange(n, dtype=np.float32) * hop, unit(rng, n, spec.dim))
    return out
