"""The embedder interface: audio in, unit vectors out.

An embedder turns a song into per-window :class:`~core.types.Segments` and a query into one or
more vectors in the same space. Both calls are synchronous and CPU/GPU bound: the service runs
them off the event loop. ``embed_queries`` takes several queries at once so that queries
arriving together share one model call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from core.types import EmbedderSpec, QueryEmbedding, Segments


class Embedder(ABC):
    name: str
    version: str  # bump when vectors change meaning: the index then asks for a reindex
    dim: int
    sample_rate: int  # Hz of the audio this embedder takes

    @property
    def spec(self) -> EmbedderSpec:
        return EmbedderSpec(self.name, self.version, self.dim)

    @abstractmethod
    def embed_song(self, samples: np.ndarray) -> Segments:
        """Segments of a whole song. ``samples``: (n,) float32 at :attr:`sample_rate`."""

    @abstractmethod
    def embed_queries(self, queries: list[np.ndarray]) -> list[np.ndarray]:
        """For each query (n_i,) float32 at :attr:`sample_rate`: vectors (q_i, dim), unit rows."""

    #: True when :meth:`rerank` refines first-stage hits (using ``Segments.features``).
    reranks: bool = False

    def embed_queries_full(self, queries: list[np.ndarray]) -> list[QueryEmbedding]:
        """Like :meth:`embed_queries`, plus per-query features for :meth:`rerank` (or None) and
        any further first-stage probes."""
        return [QueryEmbedding(v) for v in self.embed_queries(queries)]

    def rerank(
        self, query_features: np.ndarray, candidates: list[tuple[np.ndarray, float]]
    ) -> list[tuple[float, float]]:
        """Precise (score, offset_s) per candidate (song features, first-stage offset_s)."""
        raise NotImplementedError


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero). float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    unit: np.ndarray = np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)
    return unit
