"""Helpers for tests that run a real service: a fast config, and voice notes of test tunes."""

from __future__ import annotations

from pathlib import Path

from audio_fixtures import SR, encode, tune

from bot.config import parse_config


def melody_only_config(data_dir: Path, **overrides):
    """A config with the melody path only (fast; no checkpoint needed)."""
    raw = {"embedders": {"panns": {"enabled": False}}}
    for key, value in overrides.items():
        raw[key] = value
    return parse_config(raw, data_dir=data_dir)


def voice_note(seed: int, start_s: float, seconds: float, *, shift: float = 0.0, tempo: float = 1.0) -> bytes:
    """An Opus voice note humming ``seconds`` of song ``seed`` from ``start_s`` (song time)."""
    y = tune(seed, voice=True, shift=shift, tempo=tempo)
    a = int(start_s * tempo * SR)
    return encode(y[a : a + int(seconds * SR)], "ogg")
