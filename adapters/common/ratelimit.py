"""Per-user request limits (a sliding window), shared by the chat adapters.

The platforms' own flood control (PTB's ``AIORateLimiter``, discord.py's buckets) only paces what
the *bot* sends. This limits what one *user* can make the bot do: at most
``limits.user_requests_per_minute`` searches per minute, so one person cannot fill the shared
work queue. Memory stays bounded: users idle for a whole window are forgotten.

One limiter per adapter, built from ``limits`` (:meth:`UserRateLimiter.from_limits`), and one
bucket per user: searches (Telegram recordings and ``/hum``; Discord ``/hum`` and "Find this
song") and ▶ presses (each cuts and uploads a clip) count alike, on both platforms, and a refusal
is answered with the one ``rate_limited`` text. Admins are not limited.

Why this window and not a library: discord.py's ``app_commands.checks.cooldown`` sees slash
commands only (not buttons, not Telegram) and counts admins; ``aiolimiter`` paces (waits) rather
than refuses; ``limits``' moving window would do the counting but not the "tell once per streak"
that keeps a flood from becoming a flood of replies, and would add a dependency for ~40 lines.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from core.settings import LimitsConfig


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: float = 0.0  # when refused: seconds until the oldest request leaves the window
    notify: bool = (
        False  # when refused: the first refusal of this streak; tell the user once, not on every message
    )


class UserRateLimiter:
    """At most ``limit`` requests per ``window_s`` seconds for each key (a user id).

    Not thread-safe: use it from one event loop. ``clock`` is injectable so tests step time
    explicitly instead of sleeping.
    """

    def __init__(
        self, limit: int, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be ≥ 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._quiet_until: dict[Hashable, float] = {}  # refused and already told, until then
        self._since_prune = 0

    @classmethod
    def from_limits(
        cls, limits: LimitsConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> UserRateLimiter:
        return cls(limits.user_requests_per_minute, 60.0, clock=clock)

    def hit(self, key: Hashable) -> RateDecision:
        """Count a request by ``key`` if the window has room; otherwise refuse it (not counted)."""
        now = self._clock()
        self._maybe_prune(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            self._quiet_until.pop(key, None)
            return RateDecision(True)
        retry = hits[0] + self.window_s - now
        notify = now >= self._quiet_until.get(key, float("-inf"))
        if notify:
            self._quiet_until[key] = hits[0] + self.window_s
        return RateDecision(False, retry_after_s=max(retry, 0.0), notify=notify)

    def _maybe_prune(self, now: float) -> None:
        # Amortised: every 1024 requests drop users with nothing left in their window.
        self._since_prune += 1
        if self._since_prune < 1024:
            return
        self._since_prune = 0
        cutoff = now - self.window_s
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= cutoff]:
            del self._hits[key]
            self._quiet_until.pop(key, None)

    def __len__(self) -> int:
        """Users currently tracked (for tests and metrics)."""
        return len(self._hits)
