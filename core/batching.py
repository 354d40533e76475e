"""Micro-batching: requests that arrive within a few milliseconds share one model call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """Collects items for up to ``max_wait_s`` (or ``max_batch`` items) and runs ``fn(items)`` once.

    ``fn`` is synchronous (a model call) and maps a list of inputs to a list of outputs in order;
    ``run`` schedules it off the event loop (e.g. on the service's worker pool). An exception in
    ``fn`` is delivered to every caller of that batch.
    """

    def __init__(self, fn: Callable[[list[In]], list[Out]],
                 run: Callable[..., Awaitable[Any]], *, max_batch: int = 8, max_wait_s: float = 0.02) -> None:
        self.fn, self.run = fn, run
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: In) -> Out:
        fut: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if len(self._pending) >= self.max_batch:
            if self._flush_task is not None:
                self._flush_task.cancel()
            self._flush()
        elif self._flush_task is None:
            self._flush_task = self._spawn(self._flush_later())
        return await fut

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference until done, or the task may be collected
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush(self) -> None:
        self._flush_task = None
        batch, self._pending = self._pending, []
        if batch:
            self._spawn(self._execute(batch))

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_wait_s)
        self._flush()

    async def _execute(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            outs = await self.run(self.fn, [item for item, _ in batch])
        except BaseException as e:  # delivered to the callers, who log it
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        for (_, fut), out in zip(batch, outs):
            if not fut.done():
                fut.set_result(out)
