"""Text that users give the bot (titles, artists, genres), made safe to store and to echo.

A title is shown in chat replies, in ``songs list`` (one row per song) and in clip file names,
so what is stored must be one line of visible text of bounded length: control characters and
invisible format characters (bidi overrides such as U+202E, which reverse how the rest of a reply
reads) are removed, line breaks and runs of spaces become one space, and the length is capped.
"""

from __future__ import annotations

import unicodedata

#: Characters a title or artist keeps (longer ones end in "…"). The longest titles of real
#: catalogs ("… (feat. …) [2011 Remaster]") stay well under it; a chat message holds many of them.
MAX_LABEL_CHARS = 200

#: Format characters kept: the zero-width joiner and non-joiner shape emoji sequences and scripts
#: such as Persian and the Indic ones. Every other Cf (bidi embeddings, overrides and isolates,
#: zero-width space, BOM…) is dropped.
_KEPT_FORMAT = frozenset("\u200c\u200d")


def clean_label(text: str | None, limit: int = MAX_LABEL_CHARS) -> str | None:
    """``text`` as one line of at most ``limit`` visible characters, or None when nothing is left.

    >>> clean_label("  Ode\\nto   Joy \\u202e ")
    'Ode to Joy'
    """
    if text is None:
        return None
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Zl", "Zp") or ch in "\t\n\v\f\r\x1c\x1d\x1e\x85":
            kept.append(" ")
        elif category[0] != "C" or ch in _KEPT_FORMAT:
            kept.append(ch)
    one_line = " ".join("".join(kept).split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1].rstrip() + "…"
    return one_line or None


def clock(seconds: float) -> str:
    """A duration as a clock reads: ``1200`` → ``"20:00"``, ``3725`` → ``"1:02:05"``."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
