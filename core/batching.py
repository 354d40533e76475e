"""Micro-batching: requests that arrive within a few milliseconds share one model call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from core import scheduler

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """Collects items and runs ``fn(items)`` once for up to ``max_batch`` of them.

    When no batch is running, the items that arrived in the same turn of the event loop go at
    once: a lone query does not wait for company that is not coming. While a batch runs, new
    items are collected for up to ``max_wait_s`` (or ``max_batch`` items), so a burst shares
    model calls.

    ``fn`` is synchronous (a model call) and maps a list of inputs to a list of outputs in order;
    ``run`` schedules it off the event loop (e.g. on the service's worker pool). An exception in
    ``fn`` is delivered to every caller of that batch.

    A batch serves several requests: ``run`` is called with the oldest one's ticket as the
    current request (:data:`core.scheduler.REQUEST`), so on a :class:`core.scheduler.PriorityPool`
    it goes where its oldest member's own job would have gone.
    """

    def __init__(
        self,
        fn: Callable[[list[In]], list[Out]],
        run: Callable[..., Awaitable[Any]],
        *,
        max_batch: int = 8,
        max_wait_s: float = 0.02,
    ) -> None:
        self.fn, self.run = fn, run
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        # Each item with its caller's request ticket (None outside any request).
        self._pending: list[tuple[In, asyncio.Future[Out], scheduler.Ticket | None]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._running = 0  # batches handed to `run` and not finished
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: In) -> Out:
        fut: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut, scheduler.REQUEST.get()))
        if len(self._pending) >= self.max_batch:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = (
                loop.call_soon(self._flush)
                if not self._running
                else loop.call_later(self.max_wait_s, self._flush)
            )
        return await fut

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference until done, or the task may be collected
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush(self) -> None:
        self._flush_handle = None
        batch, self._pending = self._pending, []
        if batch:
            self._running += 1  # counted now, not when the task starts: the next submit must see it
            self._spawn(self._execute(batch))

    async def _execute(self, batch: list[tuple[In, asyncio.Future[Out], scheduler.Ticket | None]]) -> None:
        # This task's own context (a copy of whoever flushed): the batch's priority is its oldest member's.
        scheduler.REQUEST.set(scheduler.oldest(ticket for _, _, ticket in batch))
        try:
            outs = await self.run(self.fn, [item for item, _, _ in batch])
        except BaseException as e:  # delivered to the callers, who log it
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        finally:
            self._running -= 1
        for (_, fut, _), out in zip(batch, outs):
            if not fut.done():
                fut.set_result(out)
