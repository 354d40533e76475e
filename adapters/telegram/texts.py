"""Telegram's texts: /start, /help, the command menus, progress and usage messages.

The gettext domain ``telegram`` in ``adapters/telegram/locales`` (see :mod:`core.i18n`); a key it
does not have is a shared one (:mod:`adapters.common.texts`) or core's, so ``t`` gives every text
the adapter shows.
"""

from __future__ import annotations

from pathlib import Path

from adapters.common import texts as common
from core.i18n import Catalogue

CATALOGUE = Catalogue("telegram", Path(__file__).parent / "locales", fallback=common.CATALOGUE)


#: ``t(key, lang, **params)``: the text for ``key`` in ``lang`` (any code
#: :func:`core.i18n.normalize_lang` reads; English when untranslated), formatted with ``params``.
t = CATALOGUE.t
