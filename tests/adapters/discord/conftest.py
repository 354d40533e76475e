"""Fixtures for the Discord adapter tests: a fake Discord, a real melody-path service, a running adapter.

The adapter under test is the real one (real discord.py client, real ``login()``, real gateway
session); only Discord itself is replaced by :mod:`fake_discord`. The service's index is wrapped
in :class:`FaultyIndex`, so tests can inject a backend outage or hold a search in flight.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from audio_fixtures import encode, tune

# Appended, not prepended: these names must not shadow anything (e.g. tests/conftest.py).
sys.path.append(str(Path(__file__).parent))  # fake_discord, discord_support

from discord_support import FaultyIndex  # noqa: E402
from fake_discord import ADMIN_ROLE, ADMIN_USER, GUILD_ID, FakeDiscord  # noqa: E402

from adapters.discord import DiscordAdapter  # noqa: E402
from adapters.discord.config import DiscordConfig  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.wiring import build_service  # noqa: E402
from core.service import HumService  # noqa: E402

CATALOG = {1: ("Tune 1", "Artist 1"), 2: ("Tune 2", "Artist 2"), 3: ("Tune 3", "Artist 3")}


@pytest.fixture(scope="package")
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    server.patch_discord()
    yield server
    await server.close()


@pytest.fixture(scope="package")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HumService]:
    svc = build_service(parse_config({"embedders": {"panns": {"enabled": False}}},
                                     data_dir=tmp_path_factory.mktemp("discord-svc")))
    svc.backends.index = FaultyIndex(svc.index)
    await svc.start()
    for seed, (title, artist) in CATALOG.items():
        await svc.add_song(encode(tune(seed), "flac"), filename=f"{title}.flac", title=title, artist=artist,
                           added_by="test")
    yield svc
    await svc.close()


@pytest.fixture(scope="package")
def faulty(service: HumService) -> FaultyIndex:
    assert isinstance(service.index, FaultyIndex)
    return service.index


@pytest.fixture(scope="package")
def discord_config() -> DiscordConfig:
    return DiscordConfig(enabled=True, token="test-token", admin_user_ids=[ADMIN_USER],
                         admin_role_ids=[ADMIN_ROLE], test_guilds=[GUILD_ID])


@pytest.fixture(scope="package")
async def adapter(fake: FakeDiscord, service: HumService, discord_config: DiscordConfig
                  ) -> AsyncIterator[DiscordAdapter]:
    a = DiscordAdapter(discord_config, service)
    await a.start()
    yield a
    await a.stop()
