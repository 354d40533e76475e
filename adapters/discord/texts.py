"""Discord's texts: /help, command and option descriptions, Discord-only failures.

The gettext domain ``discord`` in ``adapters/discord/locales`` (see :mod:`core.i18n`); a key it
does not have is a shared one (:mod:`adapters.common.texts`) or core's, so ``t`` gives every text
the adapter shows.
"""

from __future__ import annotations

from pathlib import Path

from adapters.common import texts as common
from core.i18n import Catalogue

CATALOGUE = Catalogue("discord", Path(__file__).parent / "locales", fallback=common.CATALOGUE)


#: ``t(key, lang, **params)``: the text for ``key`` in ``lang`` (any code
#: :func:`core.i18n.normalize_lang` reads; English when untranslated), formatted with ``params``.
t = CATALOGUE.t
