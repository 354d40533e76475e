"""Discord adapter: ``/hum``, the "Find this song" message menu, ``/help`` and admin commands.

Runs on discord.py app commands inside humbot's own event loop (:class:`DiscordAdapter`); the
platform-neutral pieces (texts, result formatting, limits) come from :mod:`core` and
:mod:`adapters.common`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter, sync_global_commands

__all__ = ["DiscordAdapter", "sync_global_commands"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``bot.config`` imports this package's ``config`` module, and every CLI
    # command reads the config, so importing the package must not load discord.py.
    if name in __all__:
        from adapters.discord import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
