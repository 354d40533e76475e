"""Vector index backends behind one interface (:class:`core.index.base.VectorIndex`)."""

from __future__ import annotations

from pathlib import Path

from core.index.base import VectorIndex
from core.index.fingerprint_base import FingerprintIndex
from core.settings import IndexConfig


def make_index(config: IndexConfig, data_dir: Path) -> VectorIndex:
    """The backend ``config.backend`` names, storing whatever it keeps locally under ``data_dir``."""
    if config.backend == "local":
        from core.index.local import LocalIndex

        return LocalIndex(data_dir / "index")
    if config.backend == "elasticsearch":
        from core.index.elasticsearch import ElasticsearchIndex

        return ElasticsearchIndex(config.elasticsearch, data_dir)
    raise ValueError(f"unknown index backend {config.backend!r}")


def make_fingerprint_index(config: IndexConfig, data_dir: Path) -> FingerprintIndex:
    """The fingerprint store of the backend ``config.backend`` names (beside its vector index)."""
    if config.backend == "local":
        from core.index.fingerprint_local import LocalFingerprintIndex

        return LocalFingerprintIndex(data_dir / "index")
    if config.backend == "elasticsearch":
        from core.index.fingerprint_es import ElasticsearchFingerprintIndex

        return ElasticsearchFingerprintIndex(config.elasticsearch)
    raise ValueError(f"unknown index backend {config.backend!r}")


__all__ = ["FingerprintIndex", "VectorIndex", "make_fingerprint_index", "make_index"]
