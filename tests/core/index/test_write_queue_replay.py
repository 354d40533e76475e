"""The queue replay's backoff (core.index.write_queue.replay_retrying): the waits, what is retried,
what gives up — with an injected sleep, so nothing waits for real."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.errors import IndexMismatch
from core.index.write_queue import replay_retrying


class Away(Exception):
    """Stands for the backend's "cluster unavailable" error (logged by whoever noticed it)."""


async def _replay(failures: list[BaseException], **kw: object) -> tuple[int, list[float]]:
    """Run a replay that raises ``failures`` in turn, then succeeds; (attempts, waits slept)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = 0
    async for attempt in replay_retrying(0.5, 30.0, give_up=(IndexMismatch,), quiet=(Away,), sleep=sleep, **kw):
        with attempt:
            attempts += 1
            if failures:
                raise failures.pop(0)
    return attempts, slept


async def test_waits_double_from_the_first_up_to_the_cap_and_never_stop() -> None:
    attempts, slept = await _replay([Away()] * 12)
    # The hand-rolled loop this replaces: sleep(delay); delay = min(delay * 2, max).
    expected, delay = [], 0.5
    for _ in range(12):
        expected.append(delay)
        delay = min(delay * 2, 30.0)
    assert attempts == 13 and slept == expected
    assert slept[:7] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


async def test_a_long_outage_stays_at_the_cap() -> None:
    _, slept = await _replay([Away()] * 2000)
    assert set(slept[6:]) == {30.0}


async def test_an_index_needing_reindex_gives_up_at_once() -> None:
    with pytest.raises(IndexMismatch):
        await _replay([Away(), IndexMismatch(detail="embedders changed")])


async def test_cancellation_is_never_retried() -> None:
    with pytest.raises(asyncio.CancelledError):
        await _replay([asyncio.CancelledError()])


async def test_an_unexpected_error_is_logged_with_the_wait_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.replay")
    with caplog.at_level(logging.ERROR, logger="test.replay"):
        attempts, slept = await _replay([Away(), RuntimeError("boom"), Away()], logger=logger)
    assert attempts == 4 and slept == [0.5, 1.0, 2.0]
    records = [r for r in caplog.records if r.name == "test.replay"]
    assert [r.getMessage() for r in records] == ["replaying queued writes failed; retrying in 1 s"]
    assert records[0].exc_info is not None and str(records[0].exc_info[1]) == "boom"
