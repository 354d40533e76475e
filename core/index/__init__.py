"""Vector index backends behind one interface (:class:`core.index.base.VectorIndex`)."""

from __future__ import annotations

from pathlib import Path

from core.index.base import VectorIndex
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


__all__ = ["VectorIndex", "make_index"]
