"""``humbot serve`` when an adapter cannot start: the others are stopped, the console gets one
friendly line (no traceback), and the exit status says it failed.

The real CLI runs in a subprocess; Telegram talks to the fake Bot API served by this test's event
loop, and Discord's REST base points at a closed local port (a Discord that cannot be reached).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

sys.path.append(str(Path(__file__).resolve().parents[1] / "adapters" / "telegram"))  # the fake Bot API
from fake_bot_api import TOKEN, FakeBotAPI  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# `humbot` itself, with discord.py's REST base moved first (as tests/adapters/discord does it).
LAUNCH = ("import sys, discord.http\n"
          "discord.http.Route.BASE = sys.argv.pop(1)\n"
          "from bot.cli import main\n"
          "sys.argv[0] = 'humbot'\n"
          "main()\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = await FakeBotAPI().start()
    yield api
    await api.close()


def _config(tmp_path: Path, fake: FakeBotAPI, **telegram: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"),
        "embedders": {"panns": {"enabled": False}},
        "telegram": {"enabled": True, "token": TOKEN, "base_url": fake.base_url,
                     "base_file_url": fake.base_file_url, **telegram},
        "discord": {"enabled": True, "token": "discord-test-token"},
    }))
    return path


async def _serve(config: Path) -> tuple[int, str]:
    discord_base = f"http://127.0.0.1:{_closed_port()}/api/v10"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, discord_base, "--config", str(config), "serve", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 240)
    except TimeoutError:
        proc.kill()
        raise AssertionError("humbot serve kept running after an adapter failed to start") from None
    return proc.returncode, (out + err).decode()


async def test_an_adapter_that_cannot_start_stops_the_ones_already_running(tmp_path: Path,
                                                                           fake: FakeBotAPI) -> None:
    code, console = await _serve(_config(tmp_path, fake))
    assert code == 1, console
    assert "The discord adapter could not start: ClientConnectorError" in console
    assert "Traceback" not in console
    # Telegram had started (polling) and was stopped properly: its last getUpdates (timeout 0)
    # acknowledges what it fetched, and nothing polls any more.
    polls = fake.calls_of("getUpdates")
    assert polls and polls[-1].params.get("timeout") == 0, [c.params for c in polls]
    await asyncio.sleep(1.5)
    assert len(fake.calls_of("getUpdates")) == len(polls)


async def test_webhook_mode_without_a_secret_says_what_to_set(tmp_path: Path, fake: FakeBotAPI) -> None:
    cfg = _config(tmp_path, fake, mode="webhook", webhook_url="https://bot.example.org/hook")
    code, console = await _serve(cfg)
    assert code == 1, console
    assert "telegram.webhook_secret is required in webhook mode" in console
    assert "TELEGRAM_WEBHOOK_SECRET" in console and "Traceback" not in console
    assert fake.calls == []  # refused before connecting anywhere (and Discord was never tried)
