"""The bot side of the soak test (``bench/soak.py``): what ``humbot serve`` runs, in a process of its own.

The simulator (users, the fake Bot API, the fake Discord, the Elasticsearch node it kills) runs in
another process, so the memory sampled here (``/proc/<pid>/status`` of this process, read by the
simulator) is the bot's alone: service, index client, both adapters — not the fakes' records.

What it does, from the JSON spec file the simulator writes (``--spec``):

1. points discord.py at the fake Discord (REST base and gateway URL: the one thing ``humbot
   serve`` cannot be configured to do) and waits until Elasticsearch answers;
2. builds the service from the spec's config exactly as ``humbot serve`` does
   (:func:`bot.wiring.build_service`), starts it and adds the catalog songs listed in the spec;
3. starts the Telegram and the Discord adapter, prints ``SOAK-READY {json}`` on stdout;
4. on SIGTERM stops the adapters (in-flight work finishes and is answered) and the service, prints
   ``SOAK-LOGSTATS {json}`` (log records by level, logged exceptions by type, the first ERROR
   lines) and ``SOAK-STOPPED``.

Logs go to the spec's ``log`` file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class LogStats(logging.Handler):
    """Counts what the bot logs: records per level, exceptions per type, the first errors' text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.levels: collections.Counter[str] = collections.Counter()
        self.exceptions: collections.Counter[str] = collections.Counter()
        self.warnings: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if record.exc_info and record.exc_info[0] is not None:
            self.exceptions[f"{record.exc_info[0].__module__}.{record.exc_info[0].__qualname__}"] += 1
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break the count
            text = str(record.msg)
        if record.levelno >= logging.ERROR and len(self.errors) < 30:
            self.errors.append(f"{record.name}: {text[:300]}")
        elif record.levelno == logging.WARNING:
            self.warnings[f"{record.name}: {text[:70]}"] += 1

    def summary(self) -> dict:
        return {"levels": dict(self.levels), "exceptions": dict(self.exceptions), "errors": self.errors,
                "warnings": dict(self.warnings.most_common(25))}


def patch_discord(url: str) -> None:
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = f"{url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url.replace("http://", "ws://", 1) + "/gateway")


def wait_for_es(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3) as r:
                if json.load(r).get("status") in ("green", "yellow"):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Elasticsearch at {url} not healthy after {timeout_s:.0f} s")


async def serve(spec: dict, stats: LogStats) -> None:
    from adapters.discord import DiscordAdapter
    from adapters.telegram import TelegramAdapter
    from bot.config import parse_config
    from bot.wiring import build_service

    cfg = parse_config(spec["config"], data_dir=Path(spec["data_dir"]))
    patch_discord(spec["discord_url"])
    await asyncio.to_thread(wait_for_es, spec["es_url"], 300.0)
    service = build_service(cfg)
    await service.start()
    seeded = []
    t0 = time.monotonic()
    for s in spec["songs"]:
        data = await asyncio.to_thread(Path(s["path"]).read_bytes)
        result = await service.add_song(data, filename=Path(s["path"]).name, title=s["title"], artist=s["artist"],
                                        added_by="soak")
        seeded.append(result.song.song_id)
    seed_s = time.monotonic() - t0
    adapters = [TelegramAdapter(cfg.telegram, service, default_lang=cfg.language),
                DiscordAdapter(cfg.discord, service, default_lang=cfg.language)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for a in adapters:
            await a.start()
        print("SOAK-READY " + json.dumps({"pid": os.getpid(), "songs": seeded, "seed_s": seed_s}), flush=True)
        await stop.wait()
        t_stop = time.monotonic()
        for a in reversed(adapters):
            await a.stop()
        print("SOAK-DRAINED " + json.dumps({"stop_s": time.monotonic() - t_stop}), flush=True)
    finally:
        await service.close()
    print("SOAK-LOGSTATS " + json.dumps(stats.summary()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    spec = json.loads(parser.parse_args().spec.read_text())
    logging.basicConfig(level=logging.INFO, filename=spec["log"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("numba", "matplotlib", "httpx", "elastic_transport", "urllib3", "discord.gateway",
                  "discord.client", "discord.http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stats = LogStats()
    logging.getLogger().addHandler(stats)
    asyncio.run(serve(spec, stats))
    print("SOAK-STOPPED", flush=True)


if __name__ == "__main__":
    main()
