"""Helpers for the Telegram adapter's end-to-end tests: audio, services, waiting for answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from audio_fixtures import SR, encode, tune
from fake_bot_api import TOKEN, FakeBotAPI

from adapters.telegram import TelegramAdapter
from adapters.telegram.config import TelegramConfig
from bot.config import parse_config
from bot.wiring import build_service
from core.service import HumService

ADMIN_ID = 424242
NOTES = 32  # ≈ 20 s songs: enough for 10 s queries at any offset, quick to embed


def song(seed: int, fmt: str = "flac") -> bytes:
    """Catalog song ``seed`` (the "instrumental" rendering of the tune)."""
    return encode(tune(seed, notes=NOTES), fmt)


def hum(seed: int, start_s: float = 2.0, seconds: float = 10.0, fmt: str = "ogg") -> bytes:
    """``seconds`` of song ``seed`` hummed from ``start_s``: an Opus voice note by default."""
    y = tune(seed, notes=NOTES, voice=True)
    a = int(start_s * SR)
    return encode(y[a : a + int(seconds * SR)], fmt)


def silence(seconds: float) -> bytes:
    return encode(np.zeros(int(seconds * SR), np.float32), "ogg")


def melody_config(data_dir: Path, **sections: object):
    raw: dict = {"embedders": {"panns": {"enabled": False}}}
    raw.update(sections)
    return parse_config(raw, data_dir=data_dir)


async def make_service(data_dir: Path, seeds: list[int], **sections: object) -> HumService:
    svc = build_service(melody_config(data_dir, **sections))
    await svc.start()
    for seed in seeds:
        await svc.add_song(song(seed), filename=f"tune{seed}.flac", title=f"Tune {seed}", artist=f"Artist {seed}",
                           added_by="test")
    return svc


def telegram_config(fake: FakeBotAPI, **overrides: object) -> TelegramConfig:
    section = {"enabled": True, "token": TOKEN, "admins": [ADMIN_ID], "base_url": fake.base_url,
               "base_file_url": fake.base_file_url, **overrides}
    return parse_config({"telegram": section}).telegram



async def final_reply(fake: FakeBotAPI, request: dict, *, timeout: float = 30.0) -> dict:
    """The bot's text reply to ``request`` once it is an answer (not "listening…"/"adding…")."""
    def done() -> dict | None:
        for m in fake.replies_to(request):
            if "text" in m and not m["text"].startswith(("🎧", "⏳")):
                return m
        return None

    return await fake.wait_for(done, timeout=timeout)


async def clip_reply(fake: FakeBotAPI, request: dict, count: int = 1, *, timeout: float = 30.0) -> list[dict]:
    """The bot's audio replies to ``request`` (at least ``count``)."""
    def done() -> list[dict] | None:
        clips = [m for m in fake.replies_to(request) if "audio" in m]
        return clips if len(clips) >= count else None

    return await fake.wait_for(done, timeout=timeout)


async def settle(adapter: TelegramAdapter, fake: FakeBotAPI) -> None:
    """Stop the bot once everything pushed so far has been fetched: afterwards nothing more can
    happen, so "the bot did not answer X" becomes a deterministic check."""
    await fake.wait_for(lambda: fake.pending_updates == 0 or None)
    await adapter.stop()
