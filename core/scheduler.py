"""The service's work pool: requests are served in the order they arrived, not job by job.

A search is not one job but several (decode, resample, evidence, landmarks, each embedder's
embedding, re-ranking, clip), each submitted when the one before it is done. On a first-in,
first-out pool the jobs of 20 simultaneous searches interleave, so every search waits for the
other 19 at every step and all of them finish near the end (issue #16 item 9: the first answer
after 10.1 s against 3.4 s for a lone search). :class:`PriorityPool` instead gives each job the
:class:`Ticket` of the *request* it belongs to, and its workers always take the job of the oldest
request first: the first search is answered in about a lone search's time, the next one after it.
It stays work-conserving: while the oldest request waits on something else (the index, the
catalog), its workers run the next requests' jobs.

A request's ticket is handed out once, when the request is admitted (:func:`request`, a
decorator on the service's entry points), and travels in a :class:`contextvars.ContextVar`:
asyncio copies the context into each task it creates (``asyncio.gather``, ``create_task``), so
every nested ``_run`` of the request finds it. A micro-batch that serves several requests runs
at its oldest member's ticket (:func:`oldest`, see :mod:`core.batching`). A job outside any
request (a re-index, a test's job) gets a ticket of its own when it is submitted.

Order, exactly: tickets compare by ``(rank, seq)``. ``seq`` is the admission order, one counter
for the process; ``rank`` is ``seq`` plus the kind's handicap (:data:`HANDICAPS`). Searches have
none: two searches are served in the order they were admitted (however close together they came:
no two tickets are equal).

Imports (``add_song``: decoding and embedding a whole song, up to tens of seconds of CPU, for
an admin who expects to wait) give way to the next :data:`IMPORT_HANDICAP` searches
admitted after them, and to no more: an import is never starved by a stream of searches, and a
burst of searches is not held up by an import that arrived just before it. Jobs of one request
go in the order they were submitted.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

#: Searches admitted after an import that are served before it (see the module's docstring).
IMPORT_HANDICAP = 10
#: Each kind's handicap: requests admitted after it that go first (the half: ties are impossible,
#: the import goes right after the last of them). Unknown kinds have none.
HANDICAPS: dict[str, float] = {"search": 0.0, "import": IMPORT_HANDICAP + 0.5}


@dataclass(frozen=True, order=True)
class Ticket:
    """A request's place in the queue: lower goes first (compares by ``(rank, seq)``)."""

    rank: float
    seq: int
    kind: str = field(default="job", compare=False)


_counter = itertools.count(1)  # next() on a count is atomic in CPython
#: The ticket of the request the running code belongs to (None outside any request).
REQUEST: ContextVar[Ticket | None] = ContextVar("humbot_request", default=None)


def admit(kind: str = "job") -> Ticket:
    """A new ticket, after every ticket handed out so far (before its kind's handicap)."""
    seq = next(_counter)
    return Ticket(seq + HANDICAPS.get(kind, 0), seq, kind)


def current() -> Ticket:
    """The running request's ticket, or a new one for a job that belongs to no request."""
    return REQUEST.get() or admit()


def oldest(tickets: Iterable[Ticket | None]) -> Ticket | None:
    """The ticket that goes first among ``tickets`` (None: none of them has one)."""
    return min((t for t in tickets if t is not None), default=None)


def request(kind: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async entry point: each call is a request, admitted (given its ticket) when
    it is called, and the ticket is the running context's until the call returns."""

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def admitted(*args: P.args, **kwargs: P.kwargs) -> T:
            token = REQUEST.set(admit(kind))
            try:
                return await fn(*args, **kwargs)
            finally:
                REQUEST.reset(token)

        return admitted

    return decorate


class PriorityPool:
    """``workers`` threads that run submitted jobs, the lowest :class:`Ticket` first.

    Like :class:`concurrent.futures.ThreadPoolExecutor`: ``submit`` returns a
    :class:`~concurrent.futures.Future` (wrap it with :func:`asyncio.wrap_future`; a job
    cancelled before it starts is skipped), and ``shutdown`` runs what is queued, then stops.
    ``by_request=False`` takes jobs in submission order instead, whatever their tickets (a
    ThreadPoolExecutor's order, for comparisons: ``bench/bench_burst.py --fifo``).
    """

    def __init__(self, workers: int, *, name: str = "humbot-work", by_request: bool = True) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.by_request = by_request
        self._heap: list[tuple[Any, ...]] = []
        self._jobs = itertools.count()  # submission order: the tie-break within a ticket
        self._cond = threading.Condition()
        self._closed = False
        # Daemon threads: a service nobody closed does not keep the interpreter from exiting.
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, ticket: Ticket, fn: Callable[..., T], *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new jobs after shutdown")
            n = next(self._jobs)
            heapq.heappush(self._heap, ((ticket, n) if self.by_request else (n,), fut, fn, args))
            self._cond.notify()
        return fut

    def queued(self) -> int:
        """Jobs waiting for a worker (not counting those running)."""
        with self._cond:
            return len(self._heap)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if not self._heap:  # closed and drained
                    return
                _, fut, fn, args = heapq.heappop(self._heap)
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as e:  # delivered to the awaiting caller, as an executor does
                fut.set_exception(e)
            else:
                fut.set_result(result)
            del fut, fn, args  # do not keep the last job's arguments (audio) alive while idle

    def shutdown(self, wait: bool = True) -> None:
        """No new jobs; the queued ones still run. ``wait``: return once they are done."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join()
