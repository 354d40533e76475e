"""Translated texts: gettext catalogues, one domain per owner, and the one rule for languages.

Each owner of user-facing texts keeps its own gettext domain next to its code, in
``<package>/locales/<lang>/LC_MESSAGES/<domain>.po`` (core's in ``core/locales``, each adapter's in
its package), with the compiled ``.mo`` beside it and a ``<domain>.pot`` template. Messages are
*keyed*: the msgid is the key the code asks for (``"audio_too_short"``), and every language,
English included, is a catalogue of texts for those keys. A text is a ``str.format`` template
(``"{seconds:.0f}"``). Adding a language is a folder of ``.po`` files and a recompile, no code.

At run time the standard library's :mod:`gettext` reads the ``.mo`` files. After editing a
``.po`` file, recompile every catalogue (Babel, a test dependency, does the compiling)::

    python -m core.i18n compile
"""

from __future__ import annotations

import gettext
import io
import sys
from pathlib import Path
from typing import Any

DEFAULT_LANG = "en"
#: Every language humbot speaks, by gettext's names (``ll`` or ``ll_CC``): the folders of core's
#: catalogue (``core/locales/<lang>``), so a translator's new folder is a new language. English first.
LANGS = tuple(
    sorted(
        (d.name for d in (Path(__file__).parent / "locales").iterdir() if d.is_dir()),
        key=lambda lang: (lang != DEFAULT_LANG, lang),
    )
)

# Subtags that mean Traditional Chinese: the script, or a region that writes it.
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})


def normalize_lang(code: str | None) -> str:
    """The catalogue language (one of :data:`LANGS`) for any language code humbot meets.

    ``code`` is a Telegram ``language_code`` (``"zh-hans"``, ``"zh-hant"``, ``"en"``), a Discord
    locale (``"zh-CN"``, ``"zh-TW"``, ``"en-US"``), a gettext name (``"zh_TW"``) or the
    configured ``language`` (``"zh"`` is Simplified). Traditional script or a region writing it
    (Taiwan, Hong Kong, Macau) → ``"zh_TW"``; other Chinese → ``"zh_CN"``; another language →
    its ``ll_CC`` or ``ll`` catalogue (``"pt-BR"`` → ``"pt_BR"``, else ``"pt"``) when there is
    one; anything else, or nothing → English.
    """
    if not code:
        return DEFAULT_LANG
    base, *subtags = code.replace("_", "-").lower().split("-")
    if base == "zh":
        # An explicit script wins over the region ("zh-Hans-HK" is Simplified).
        return "zh_TW" if "hans" not in subtags and _TRADITIONAL.intersection(subtags) else "zh_CN"
    by_region = f"{base}_{subtags[0].upper()}" if subtags else base
    for lang in (by_region, base):
        if lang in LANGS:
            return lang
    return DEFAULT_LANG


class Catalogue:
    """One gettext domain, in every language of :data:`LANGS`.

    Parameters
    ----------
    domain : str
        The gettext domain (the ``.mo`` file's name, ``"core"``).
    localedir : Path
        The folder holding ``<lang>/LC_MESSAGES/<domain>.mo``.
    fallback : Catalogue, optional
        Where keys this domain does not have are looked up (an adapter's texts fall back to the
        shared ones, and those to core's), so one ``t`` serves every text an owner shows.
    """

    def __init__(self, domain: str, localedir: Path, fallback: Catalogue | None = None) -> None:
        self.domain = domain
        self.localedir = localedir
        self.fallback = fallback
        self._by_lang: dict[str, gettext.NullTranslations] = {}

    def _translation(self, lang: str) -> gettext.NullTranslations:
        found = self._by_lang.get(lang)
        if found is None:
            # English behind every language: a key missing in a translation shows its English text.
            found = gettext.translation(self.domain, self.localedir, languages=[lang, DEFAULT_LANG])
            self._by_lang[lang] = found
        return found

    def template(self, key: str, lang: str | None = None) -> str:
        """The unformatted text for ``key`` in ``lang`` (a code :func:`normalize_lang` reads)."""
        text = self._translation(normalize_lang(lang)).gettext(key)
        if text != key:  # gettext answers the msgid itself when no catalogue has it
            return text
        if self.fallback is not None:
            return self.fallback.template(key, lang)
        raise KeyError(f"unknown message key {key!r}")

    def t(self, key: str, lang: str | None = None, /, **params: Any) -> str:
        """The text for ``key`` in ``lang`` (English when untranslated), formatted with ``params``."""
        text = self.template(key, lang)
        return text.format(**params) if params else text

    def english(self) -> dict[str, str]:
        """This domain's own keys and their English texts (not its fallback's)."""
        path = self.localedir / DEFAULT_LANG / "LC_MESSAGES" / f"{self.domain}.mo"
        with path.open("rb") as f:
            # gettext keeps a catalogue's messages in ``_catalog`` (msgid → text; "" is the header).
            catalog: dict[object, str] = vars(gettext.GNUTranslations(f))["_catalog"]
        return {k: v for k, v in catalog.items() if isinstance(k, str) and k}


# --- compiling (a translator's tool: needs Babel, the `test` extra) ---------------------------


def compiled_mo(po_path: Path) -> bytes:
    """The ``.mo`` file Babel compiles from the ``.po`` file at ``po_path``."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as f:
        catalog = read_po(f, abort_invalid=True)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def template_pot(en_po_path: Path) -> bytes:
    """The ``.pot`` template of a domain: its keys, each with the English text as a comment."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    with en_po_path.open("rb") as f:
        english = read_po(f, abort_invalid=True)
    template = Catalog(
        domain=english.domain,
        project="humbot",
        version=english.version,
        creation_date=english.creation_date,
        revision_date=english.revision_date,
        fuzzy=False,
    )
    for message in english:
        if message.id:
            # One comment per line of the text: a comment cannot hold a line break.
            english_lines = f"English: {message.string}".split("\n")
            template.add(message.id, "", auto_comments=english_lines)
    out = io.BytesIO()
    write_po(out, template, width=0, no_location=True)
    return out.getvalue()


def catalogue_files(root: Path) -> list[tuple[Path, Path]]:
    """Every ``(.po, .mo)`` pair under ``root`` (``**/locales/<lang>/LC_MESSAGES/``)."""
    return [(po, po.with_suffix(".mo")) for po in sorted(root.glob("**/locales/*/LC_MESSAGES/*.po"))]


def template_files(root: Path) -> list[tuple[Path, Path]]:
    """Every domain's ``(English .po, .pot)`` pair under ``root`` (the template in ``locales/``)."""
    return [
        (po, po.parents[2] / f"{po.stem}.pot")
        for po in sorted(root.glob(f"**/locales/{DEFAULT_LANG}/LC_MESSAGES/*.po"))
    ]


def packages(repo: Path) -> list[Path]:
    """The repository's top-level packages, where catalogues live (not ``.venv`` or ``tests``)."""
    return sorted(d for d in repo.iterdir() if (d / "__init__.py").is_file())


def compile_all(root: Path) -> list[Path]:
    """Write every ``.mo`` and ``.pot`` under ``root`` from its ``.po`` files; the paths written."""
    written = []
    for po, mo in catalogue_files(root):
        mo.write_bytes(compiled_mo(po))
        written.append(mo)
    for po, pot in template_files(root):
        pot.write_bytes(template_pot(po))
        written.append(pot)
    return written


def main(argv: list[str]) -> int:
    if argv != ["compile"]:
        print("usage: python -m core.i18n compile", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parents[1]
    for package in packages(repo):
        for path in compile_all(package):
            print(path.relative_to(repo))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
