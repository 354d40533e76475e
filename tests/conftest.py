"""Shared fixtures: generated audio, a generated PANNs checkpoint, ready services."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_fixtures import SR, encode, tune

from bot.config import parse_config


@pytest.fixture(scope="session")
def panns_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Cnn14 saved in the real checkpoint format (≈327 MB, made once)."""
    from core.embedders.panns import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("models") / "cnn14-test.pth", seed=0)


def melody_only_config(data_dir: Path, **overrides):
    """A config with the melody path only (fast; no checkpoint needed)."""
    raw = {"embedders": {"panns": {"enabled": False}}}
    for key, value in overrides.items():
        raw[key] = value
    return parse_config(raw, data_dir=data_dir)


@pytest.fixture(scope="session")
def song_tunes() -> dict[int, bytes]:
    """Six catalog songs (≈25–35 s each) as FLAC bytes, keyed by seed."""
    return {seed: encode(tune(seed), "flac") for seed in range(1, 7)}


def voice_note(seed: int, start_s: float, seconds: float, *, shift: float = 0.0, tempo: float = 1.0) -> bytes:
    """An Opus voice note humming ``seconds`` of song ``seed`` from ``start_s`` (song time)."""
    y = tune(seed, voice=True, shift=shift, tempo=tempo)
    a = int(start_s * tempo * SR)
    return encode(y[a : a + int(seconds * SR)], "ogg")
