"""The texts every chat platform shows: result buttons, rate limits, song lists, statistics.

The gettext domain ``common`` in ``adapters/common/locales`` (see :mod:`core.i18n`); a key it does
not have is core's (:mod:`core.messages`), so ``t`` also gives every core text.
"""

from __future__ import annotations

from pathlib import Path

from core import messages
from core.i18n import Catalogue

CATALOGUE = Catalogue("common", Path(__file__).parent / "locales", fallback=messages.CATALOGUE)


#: ``t(key, lang, **params)``: the text for ``key`` in ``lang`` (any code
#: :func:`core.i18n.normalize_lang` reads; English when untranslated), formatted with ``params``.
t = CATALOGUE.t
