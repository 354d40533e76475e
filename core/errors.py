"""Typed errors whose text is fit to show a user.

Every error the service raises for a user's input or for an unavailable dependency is a
:class:`HumbotError`. It carries a message *key* from :mod:`core.messages` plus parameters, so
each adapter can render it in the user's language; ``str(err)`` is the English text. Tracebacks
never reach users: adapters log them and show ``err.user_message(lang)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import messages


class HumbotError(Exception):
    """Base class: an expected failure with a user-facing message."""

    key = "error_internal"

    def __init__(self, key: str | None = None, /, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(self.user_message("en"))

    def user_message(self, lang: str | None = "en") -> str:
        return messages.t(self.key, lang, **self.params)

    def __reduce__(self) -> tuple[Callable[..., HumbotError], tuple[type[HumbotError], str, dict[str, Any]]]:
        # Rebuilt from its key and parameters (pickled across processes), not from its text.
        return _rebuild, (type(self), self.key, self.params)


def _rebuild(cls: type[HumbotError], key: str, params: dict[str, Any]) -> HumbotError:
    return cls(key, **params)


class AudioError(HumbotError):
    """The audio a user sent cannot be used (their input, not our fault)."""


class EmptyAudio(AudioError):
    key = "audio_empty"


class NotAudio(AudioError):
    key = "audio_not_audio"


class CorruptAudio(AudioError):
    key = "audio_corrupt"


class TooLarge(AudioError):
    key = "audio_too_large"  # params: size_mb, limit_mb


class TooShort(AudioError):
    key = "audio_too_short"  # params: seconds, min_seconds


class SilentAudio(AudioError):
    key = "audio_silent"


class SongNotFound(HumbotError):
    key = "song_not_found"  # params: song_id


class UploadExpired(HumbotError):
    """A held upload ("Keep as a version") is gone: expired, or already added."""

    key = "upload_expired"


class BackendUnavailable(HumbotError):
    """The search backend cannot be reached; the user should retry later."""

    key = "backend_unavailable"


class BackendSlow(BackendUnavailable):
    """The cluster did not answer a search within ``search_timeout_s``: under load it is slow,
    not down (the 200-user soak saw 182 such timeouts while the node was up), so the user is
    asked to retry in a moment rather than told search is unavailable."""

    key = "busy"


class BackendTooOld(HumbotError):
    """The search cluster runs a server version this humbot cannot use."""

    key = "backend_too_old"  # params: found, needed


class Busy(HumbotError):
    """Too much work is queued; the user should retry in a moment."""

    key = "busy"


class CatalogBusy(HumbotError):
    """Another process has held the catalog's write lock for too long (a long rebuild)."""

    key = "catalog_busy"


class IndexMismatch(HumbotError):
    """The index was built by other embedders or another mapping: ``humbot reindex`` fixes it."""

    key = "index_mismatch"  # params: detail


class ConfigError(HumbotError):
    key = "config_invalid"  # params: detail
