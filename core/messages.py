"""Core's texts: its errors, audio input, search results, reasons and service state.

The texts are the gettext domain ``core`` in ``core/locales`` (see :mod:`core.i18n`); platform
texts live with their adapters, whose catalogues fall back to this one. ``t(key, lang)`` takes any
language code (:func:`core.i18n.normalize_lang`) and falls back to English for a text not yet
translated.
"""

from __future__ import annotations

from pathlib import Path

from core.i18n import Catalogue

CATALOGUE = Catalogue("core", Path(__file__).parent / "locales")

#: The message for each reason of ``core.evidence.judge`` a query cannot be a confident answer
#: ("not_in_catalog" is the plain "no confident match").
REASON_KEYS = {
    "no_tune": "reason_no_tune",
    "one_note": "reason_one_note",
    "too_little_melody": "reason_too_little_melody",
    "speech": "reason_speech",
}


#: ``t(key, lang, **params)``: the text for ``key`` in ``lang`` (any code
#: :func:`core.i18n.normalize_lang` reads; English when untranslated), formatted with ``params``.
t = CATALOGUE.t
