"""The request-ordered work pool (core.scheduler) and the tickets requests carry (issue #16 item 9)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core import scheduler
from core.batching import MicroBatcher
from core.scheduler import PriorityPool, Ticket


def _blocked(pool: PriorityPool) -> tuple[threading.Event, object]:
    """A job that holds the pool's only worker until the event is set (and once it is running)."""
    gate, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(30)

    fut = pool.submit(scheduler.admit(), hold)
    assert started.wait(30)
    return gate, fut


def test_a_busy_worker_then_serves_the_oldest_request_first() -> None:
    """Jobs of requests 1..5 queued interleaved (as simultaneous searches submit them) run
    request by request, each request's jobs in the order they were submitted."""
    pool = PriorityPool(1)
    try:
        gate, hold = _blocked(pool)
        tickets = [scheduler.admit("search") for _ in range(5)]
        ran: list[tuple[int, int]] = []
        futs = [pool.submit(t, ran.append, (r, step)) for step in range(3) for r, t in enumerate(tickets)]
        assert pool.queued() == 15
        gate.set()
        for f in [hold, *futs]:
            f.result(30)
        assert ran == [(r, step) for r in range(5) for step in range(3)]
    finally:
        pool.shutdown()


def test_in_job_order_the_same_jobs_interleave() -> None:
    """The comparison mode (bench_burst --fifo): submission order, as a ThreadPoolExecutor."""
    pool = PriorityPool(1, by_request=False)
    try:
        gate, hold = _blocked(pool)
        tickets = [scheduler.admit("search") for _ in range(3)]
        ran: list[tuple[int, int]] = []
        futs = [pool.submit(t, ran.append, (r, step)) for step in range(2) for r, t in enumerate(tickets)]
        gate.set()
        for f in [hold, *futs]:
            f.result(30)
        assert ran == [(r, step) for step in range(2) for r in range(3)]
    finally:
        pool.shutdown()


def test_an_import_gives_way_to_the_next_searches_and_no_more() -> None:
    pool = PriorityPool(1)
    try:
        gate, hold = _blocked(pool)
        ran: list[str] = []
        imp = scheduler.admit("import")
        searches = [scheduler.admit("search") for _ in range(scheduler.IMPORT_HANDICAP + 3)]
        futs = [pool.submit(t, ran.append, f"s{i}") for i, t in enumerate(reversed(searches))]
        futs.append(pool.submit(imp, ran.append, "import"))
        gate.set()
        for f in [hold, *futs]:
            f.result(30)
        n = scheduler.IMPORT_HANDICAP
        assert ran.index("import") == n  # after the n searches admitted right after it
        assert ran[n + 1 :] == [f"s{i}" for i in (2, 1, 0)]  # (listed newest first above)
    finally:
        pool.shutdown()


def test_results_errors_cancellation_and_shutdown() -> None:
    pool = PriorityPool(1)
    gate, hold = _blocked(pool)
    t = scheduler.admit()
    ok = pool.submit(t, lambda x: x * 2, 21)
    bad = pool.submit(t, lambda: 1 / 0)
    ran: list[int] = []
    skipped = pool.submit(t, ran.append, 1)
    assert skipped.cancel()
    last = pool.submit(t, ran.append, 2)
    gate.set()
    pool.shutdown(wait=True)  # runs what was queued, then stops
    assert hold.done() and ok.result() == 42 and last.done()
    with pytest.raises(ZeroDivisionError):
        bad.result()
    assert ran == [2]
    with pytest.raises(RuntimeError):
        pool.submit(t, ran.append, 3)


def test_tickets_go_in_admission_order() -> None:
    a, b = scheduler.admit("search"), scheduler.admit("search")
    assert a < b and scheduler.oldest([None, b, a]) == a and scheduler.oldest([None]) is None
    assert isinstance(scheduler.current(), Ticket)  # outside any request: a ticket of its own


async def test_a_requests_ticket_reaches_its_nested_tasks_and_ends_with_it() -> None:
    seen: list[Ticket | None] = []

    async def part() -> None:
        await asyncio.sleep(0)
        seen.append(scheduler.REQUEST.get())

    @scheduler.request("search")
    async def search(name: str) -> Ticket | None:
        """A search."""
        await asyncio.gather(part(), part())
        return scheduler.REQUEST.get()

    first, second = await search("a"), await search("b")
    assert first is not None and second is not None and first < second
    assert seen == [first, first, second, second]
    assert scheduler.REQUEST.get() is None
    assert search.__doc__ == "A search."


async def test_a_micro_batch_runs_at_its_oldest_members_ticket() -> None:
    tickets = [scheduler.admit("search") for _ in range(3)]
    batches: list[tuple[list[int], Ticket | None]] = []

    async def run(fn, items):
        batches.append((list(items), scheduler.REQUEST.get()))
        return fn(items)

    batcher = MicroBatcher(lambda items: [i * 10 for i in items], run, max_batch=8, max_wait_s=0.05)

    async def ask(i: int) -> int:
        scheduler.REQUEST.set(tickets[i])  # this task's own context
        return await batcher.submit(i)

    assert await asyncio.gather(ask(2), ask(0), ask(1)) == [20, 0, 10]
    assert batches == [([2, 0, 1], tickets[0])]
