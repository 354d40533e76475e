"""humbot's evaluation: generated data sets (:mod:`evaluation.evalset`), ``humbot eval``
(:mod:`evaluation.evaluate`) and the melody network's training (:mod:`evaluation.train_salience`).

None of it is needed to run the bot. Its heavy dependencies (music21 for the public-domain scores,
mido for MIDI, matplotlib for the plots) come with the ``eval`` extra, and rendering needs
FluidSynth and a General MIDI soundfont from the system (``scripts/install.sh`` installs both).
The app imports this package only for ``humbot eval`` and ``humbot demo``, after
:func:`require_extra`.
"""

from __future__ import annotations

import importlib.util

#: The Python modules of the ``eval`` extra (pyproject.toml's ``[project.optional-dependencies]``).
EXTRA_MODULES = ("music21", "mido", "matplotlib")

INSTALL_HINT = (
    "pip install 'humbot[eval]' (in a checkout: pip install -e '.[eval]'), "
    "and FluidSynth with a soundfont: apt install fluidsynth fluid-soundfont-gm"
)


class MissingExtra(RuntimeError):
    """The ``eval`` extra is not installed; the message says how to install it."""


def missing_modules() -> list[str]:
    """The modules of :data:`EXTRA_MODULES` that cannot be imported here."""
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def require_extra(command: str) -> None:
    """Raise :class:`MissingExtra` naming ``command`` when the ``eval`` extra is missing."""
    missing = missing_modules()
    if missing:
        raise MissingExtra(
            f"`humbot {command}` needs the evaluation extra, which is not installed "
            f"(missing: {', '.join(missing)}). Install it with: {INSTALL_HINT}."
        )
