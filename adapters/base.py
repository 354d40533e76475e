"""What ``humbot serve`` needs from a chat adapter: start, and stop gracefully."""

from __future__ import annotations

from typing import Protocol


class Adapter(Protocol):
    name: str

    async def start(self) -> None:
        """Connect and begin handling messages; returns once running (work continues in tasks)."""

    async def stop(self) -> None:
        """Stop taking new work, let in-flight searches finish, disconnect."""
