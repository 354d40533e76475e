"""Turning any exception into text fit for a user — and the traceback into the log."""

from __future__ import annotations

import logging

from core import messages
from core.errors import AudioError, HumbotError

_log = logging.getLogger("adapters")


def error_text(
    exc: BaseException, lang: str, *, logger: logging.Logger | None = None, what: str = "request"
) -> str:
    """The message to show for ``exc``.

    A :class:`core.errors.HumbotError` is expected (bad audio, busy, backend down): its own
    message in ``lang``, logged in one line. Anything else is a bug: logged with its traceback,
    and the user gets the generic "something went wrong" — never the exception text.
    """
    logger = logger or _log
    if isinstance(exc, HumbotError):
        # The user's input is not our problem (INFO); an unavailable dependency is (WARNING).
        level = logging.INFO if isinstance(exc, AudioError) else logging.WARNING
        logger.log(level, "%s refused: %s: %s", what, type(exc).__name__, exc)
        return exc.user_message(lang)
    logger.error("%s failed", what, exc_info=exc)
    return messages.t("error_internal", lang)
