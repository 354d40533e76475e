"""The soak test of issue #16, short: 20 users for 45 s through both chat platforms, Elasticsearch
SIGKILLed once and restarted during it (``bench/bench_soak.py`` runs the long one: 200 users, 5 min,
two kills).

Everything is real except the platforms: a real Elasticsearch node, the bot in its own process
(the service on the Elasticsearch backend and the python-telegram-bot and discord.py adapters, as
``humbot serve`` runs them), the fake Bot API and the fake Discord of the adapter tests. Users send
good voice notes, press buttons (rapidly, too), send bursts and every hostile input; admins add songs,
one while the node is down and some with hostile titles.

Invariants: every update answered (the Telegram adapter's deliberate quiet drops of a flood, after
its one "slow down", are counted apart), none answered twice, no traceback text in any reply, every
acknowledged add in the catalog and searchable in Elasticsearch once the node is back.
Like the other Elasticsearch tests, it fails (never skips) when the test server is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from es_server import EsNotInstalled, installed

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))

from soak import SoakConfig, format_report, run_soak  # noqa: E402


@pytest.mark.slow
async def test_soak_every_update_answered_once_and_no_acknowledged_write_lost_across_an_es_kill() -> None:
    try:
        installed()
    except EsNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    cfg = SoakConfig(users=20, minutes=0.75, songs=4, adds=1, es_kills=1, es_fast_start=True,
                     drain_timeout_s=90, write_timeout_s=90, log=lambda s: print(s, flush=True))
    report = await run_soak(cfg)
    text = format_report(report)
    print(text)

    assert len(report.outages) == 1, text
    assert report.unanswered == [], text
    assert report.twice == [], text
    assert report.tracebacks == [], text
    # Quiet drops happen only where the Telegram gate means them: a flood, after one "slow down".
    assert all(t.platform == "telegram" and t.kind in ("burst", "rapid_press") for t in report.quiet_drops), text
    w = report.writes
    assert w["acked"], text
    assert w["during_outage"] >= 1, text  # the durable write queue was exercised
    assert w["lost_catalog"] == [] and w["lost_es"] == [], text
    assert w["queue_pending"] == 0 and w["queue_dead"] == 0, text
