"""The ``telegram:`` section of ``config.yaml``, owned by this adapter (``bot.config`` composes it)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator

from core.settings import Section


class TelegramConfig(Section):
    enabled: bool = False
    token: SecretStr | None = None
    admins: list[int] = []  # Telegram user ids allowed to change the catalog
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    base_url: str | None = None  # Bot API server (tests point this at a local fake)
    base_file_url: str | None = None
    # Recordings sent while the bot was down wait at Telegram (up to 24 h); answer them at start.
    drop_pending_updates: bool = False

    @model_validator(mode="after")
    def _check_webhook(self) -> TelegramConfig:
        if self.mode == "webhook" and not self.webhook_url:
            raise ValueError("telegram.webhook_url is required when telegram.mode is webhook")
        return self
