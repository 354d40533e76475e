"""Shared fixtures: generated audio, a generated PANNs checkpoint, ready services."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_fixtures import encode, tune
from es_server import EsNotInstalled, EsServer


@pytest.fixture(scope="session")
def es_server() -> EsServer:
    """One real Elasticsearch node per session, started on first use (see tests/es_server.py)."""
    try:
        server = EsServer(heap="512m", fast_start=True)
    except EsNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def panns_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Cnn14 saved in the real checkpoint format (≈327 MB, made once)."""
    from core.embedders.panns import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("models") / "cnn14-test.pth", seed=0)


@pytest.fixture(scope="session")
def tune_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private melody cache, so the tests parse the real corpus instead of trusting ~/.cache."""
    return tmp_path_factory.mktemp("evalset-cache")


@pytest.fixture(scope="session")
def melodies(tune_cache: Path) -> list:
    """Ten real tunes from music21's corpus (evaluation.evalset), parsed once per session."""
    from evaluation.evalset.scores import load_melodies

    return load_melodies(10, cache_dir=tune_cache, workers=2)


@pytest.fixture(scope="session")
def song_tunes() -> dict[int, bytes]:
    """Six catalog songs (≈25–35 s each) as FLAC bytes, keyed by seed."""
    return {seed: encode(tune(seed), "flac") for seed in range(1, 7)}
