"""Discord adapter: ``/hum``, the "Find this song" message menu, ``/help`` and admin commands.

Runs on discord.py app commands inside humbot's own event loop (:class:`DiscordAdapter`); the
platform-neutral pieces (texts, result formatting, limits) come from :mod:`core` and
:mod:`adapters.common`.
"""

from adapters.discord.adapter import DiscordAdapter, sync_global_commands

__all__ = ["DiscordAdapter", "sync_global_commands"]
