"""Fixtures for the Telegram adapter's end-to-end tests.

The real PTB ``Application`` (inside :class:`TelegramAdapter`) talks HTTP to :class:`FakeBotAPI`
on 127.0.0.1; the real :class:`HumService` (melody path, embedded index) answers. Each test
module builds its catalog once; each test gets a fresh fake server and a freshly started bot.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Appended, not prepended: this folder must not shadow the shared helpers in tests/
sys.path.append(str(Path(__file__).parent))  # fake_bot_api and tg_support sit next to the tests

from fake_bot_api import FakeBotAPI  # noqa: E402
from tg_support import ADMIN_ID, make_service, telegram_config  # noqa: E402

from adapters.telegram import TelegramAdapter  # noqa: E402
from core.service import HumService  # noqa: E402


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HumService]:
    """Four catalog songs (Tune 1…4 by Artist 1…4); modules override this for other catalogs."""
    svc = await make_service(tmp_path_factory.mktemp("tg-svc"), [1, 2, 3, 4])
    yield svc
    await svc.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = await FakeBotAPI().start()
    yield api
    await api.close()


@pytest.fixture
async def bot(fake: FakeBotAPI, service: HumService) -> AsyncIterator[TelegramAdapter]:
    """A running adapter; at the end it is stopped and the Bot API usage checked."""
    fake.private_chat(fake.user(ADMIN_ID))  # the admin has opened a chat with the bot before
    adapter = TelegramAdapter(telegram_config(fake), service, default_lang="en")
    await adapter.start()
    yield adapter
    await adapter.stop()
    assert fake.unanswered_callbacks() == [], "every callback query must be answered"
    unexpected = [(c.method, c.result) for c in fake.errors
                  if not any(s in str(c.result) for s in fake.expected_errors)]
    assert unexpected == [], "the adapter made Bot API calls that Telegram would refuse"
