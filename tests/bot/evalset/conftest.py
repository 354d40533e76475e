"""Fixtures for the evaluation-set generator: a few real tunes parsed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evalset.scores import Melody, load_melodies


@pytest.fixture(scope="session")
def tune_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private melody cache, so the tests parse the real corpus instead of trusting ~/.cache."""
    return tmp_path_factory.mktemp("evalset-cache")


@pytest.fixture(scope="session")
def melodies(tune_cache: Path) -> list[Melody]:
    return load_melodies(10, cache_dir=tune_cache, workers=2)
