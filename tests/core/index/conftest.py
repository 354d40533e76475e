"""Fixtures for the index tests: a real Elasticsearch node (one per session) and index factories.

The node (``es_server``, in tests/conftest.py) is Elastic's own test distribution installed by ``.ci/install-elasticsearch.sh``; when
it is missing the Elasticsearch tests fail (they never skip) with the command that installs it.
It starts on first use, so ``-k local`` runs without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from index_fixtures import SPECS, es_config

from core.index.base import VectorIndex
from core.index.elasticsearch import ElasticsearchIndex
from core.index.local import LocalIndex

BACKENDS = ["local", "elasticsearch"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_index(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., VectorIndex]:
    """``make_index()`` → a new (unopened) index of ``backend`` over the same storage each call."""
    if backend == "local":
        return lambda **_: LocalIndex(tmp_path / "index")
    server = request.getfixturevalue("es_server")
    cfg = es_config(server)
    return lambda **overrides: ElasticsearchIndex(cfg.model_copy(update=overrides), tmp_path)


@pytest.fixture
async def index(make_index: Callable[..., VectorIndex]) -> AsyncIterator[VectorIndex]:
    ix = make_index()
    await ix.open(SPECS)
    yield ix
    await ix.close()
