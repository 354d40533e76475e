"""Configuration: one YAML file, validated by pydantic, with ``${ENV_VAR}`` expansion.

``config.yaml`` in the repository documents every key. Values may reference the environment as
``${NAME}`` or ``${NAME:-default}`` (expanded before validation), which is how secrets (bot
tokens, Elasticsearch credentials) stay out of the file. Secrets are ``SecretStr``: they print
as ``**********`` in logs and reprs.

Why not pydantic-settings: its YAML source reads the file but does not expand ``${NAME:-default}``
inside values, which is how ``config.yaml`` and every deployment's copy of it name their secrets;
its environment source would instead override whole keys (``HUMBOT_TELEGRAM__TOKEN``), a second
way to configure with its own precedence rules to document. Keeping the documented file format
means keeping :func:`expand_env` (25 lines over PyYAML's parse), so the dependency would add a
layer without removing one. Validation, defaults and secrets are pydantic's either way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError, model_validator

from adapters.discord.config import DiscordConfig
from adapters.telegram.config import TelegramConfig
from core.errors import ConfigError
from core.settings import EmbeddersConfig, IndexConfig, LimitsConfig, SearchConfig, Section

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Config(Section):
    data_dir: Path = Path("./data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    language: str = "en"  # replies when the platform tells no language
    index: IndexConfig = IndexConfig()
    embedders: EmbeddersConfig = EmbeddersConfig()
    search: SearchConfig = SearchConfig()
    limits: LimitsConfig = LimitsConfig()
    telegram: TelegramConfig = TelegramConfig()
    discord: DiscordConfig = DiscordConfig()

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.limits.min_query_seconds >= self.limits.max_query_seconds:
            raise ValueError("limits.min_query_seconds must be below limits.max_query_seconds")
        if self.telegram.enabled and not self.telegram.token:
            raise ValueError("telegram.token is required when telegram.enabled is true")
        if self.discord.enabled and not self.discord.token:
            raise ValueError("discord.token is required when discord.enabled is true")
        return self

    @property
    def panns_checkpoint(self) -> Path:
        return self.embedders.panns.checkpoint or self.data_dir / "models" / "Cnn14_mAP=0.431.pth"


def expand_env(value: Any) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(detail=f"environment variable {name} is not set")

        expanded = _ENV_REF.sub(sub, value)
        # "${TOKEN:-}" with no value means "not set", not an empty token.
        return None if expanded == "" and _ENV_REF.fullmatch(value) else expanded
    return value


def _format_errors(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def parse_config(raw: dict[str, Any] | None, *, data_dir: Path | None = None) -> Config:
    tree = expand_env(raw or {})
    if data_dir is not None:
        tree["data_dir"] = str(data_dir)
    try:
        return Config.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(detail=_format_errors(e)) from None


def default_config_path() -> Path:
    return Path(os.environ.get("HUMBOT_CONFIG", "config.yaml"))


def load_config(path: Path | None = None, *, data_dir: Path | None = None) -> Config:
    """Read and validate ``path`` (default ``$HUMBOT_CONFIG`` or ``./config.yaml``).

    A missing default file means "all defaults"; a missing explicit file is an error.
    """
    explicit = path is not None
    path = path or default_config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(detail=f"config file {path} does not exist")
        return parse_config({}, data_dir=data_dir)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(detail=f"{path} is not valid YAML: {e}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(detail=f"{path} must hold a mapping of settings")
    return parse_config(raw, data_dir=data_dir)
