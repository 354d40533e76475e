"""Admission before work: how many requests may hold downloaded audio at once.

The platforms hand the adapters many updates at a time (Telegram: 256 concurrent updates), and
each search downloads its recording (up to 20 MB) *before* the service's work queue can say
"busy". Without a gate in front of the download, a burst could keep gigabytes in memory. So an
adapter takes a :class:`Ticket` before it downloads anything and gives it back once the request
is answered (or failed):

* at most ``limits.max_in_flight`` requests in flight in all;
* at most ``limits.max_in_flight_per_user`` of them from one user (one person's burst of voice
  notes cannot take every place).

A refused request is answered at once (:class:`AdmissionRefused`, a "busy" message); nothing
waits here, so the gate is safe in any coroutine and never blocks an event loop. Not
thread-safe: use it from one event loop.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import TracebackType

from core.errors import Busy
from core.settings import LimitsConfig


class AdmissionRefused(Busy):
    """Too many requests in flight: in all (``busy``) or from this user (``busy_yours``)."""


class Ticket:
    """One admitted request. Release it (or leave its ``with`` / ``async with`` block) once the
    request is answered; releasing twice is harmless."""

    def __init__(self, admission: Admission, key: Hashable | None) -> None:
        self._admission = admission
        self._key = key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._admission._release(self._key)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Ticket:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Admission:
    """A global and a per-key limit on requests in flight (see the module docstring)."""

    def __init__(self, max_in_flight: int, max_per_user: int) -> None:
        if max_in_flight < 1 or max_per_user < 1:
            raise ValueError("max_in_flight and max_per_user must be ≥ 1")
        self.max_in_flight = max_in_flight
        self.max_per_user = max_per_user
        self._total = 0
        self._by_key: dict[Hashable, int] = {}  # only keys with something in flight: memory stays bounded

    @classmethod
    def from_limits(cls, limits: LimitsConfig) -> Admission:
        return cls(limits.max_in_flight, limits.max_in_flight_per_user)

    @property
    def in_flight(self) -> int:
        return self._total

    def in_flight_of(self, key: Hashable) -> int:
        return self._by_key.get(key, 0)

    def enter(self, key: Hashable | None) -> Ticket:
        """Admit a request by ``key`` (a user id; ``None`` counts only towards the global limit),
        or raise :class:`AdmissionRefused` at once."""
        if key is not None and self._by_key.get(key, 0) >= self.max_per_user:
            raise AdmissionRefused("busy_yours")
        if self._total >= self.max_in_flight:
            raise AdmissionRefused("busy")
        self._total += 1
        if key is not None:
            self._by_key[key] = self._by_key.get(key, 0) + 1
        return Ticket(self, key)

    def _release(self, key: Hashable | None) -> None:
        self._total -= 1
        if key is not None:
            left = self._by_key.pop(key) - 1
            if left:
                self._by_key[key] = left
