"""The ``discord:`` section of ``config.yaml``, owned by this adapter (``bot.config`` composes it)."""

from __future__ import annotations

from pydantic import SecretStr

from core.settings import Section


class DiscordConfig(Section):
    enabled: bool = False
    token: SecretStr | None = None
    admin_user_ids: list[int] = []
    admin_role_ids: list[int] = []
    test_guilds: list[int] = []  # commands synced here at start (instant); global sync is explicit
