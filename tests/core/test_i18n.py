"""Languages and catalogues: the one language rule, keyed gettext lookups, and the shipped .po/.mo files."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core import messages
from core.i18n import (LANGS, Catalogue, catalogue_files, compiled_mo, normalize_lang, packages, template_files,
                       template_pot)

REPO = Path(__file__).resolve().parents[2]
# Every domain's English .po file (core's, adapters/common's, each platform's).
ENGLISH_POS = [po for package in packages(REPO) for po, _ in template_files(package)]


@pytest.mark.parametrize(("code", "lang"), [
    # Telegram language_code
    ("en", "en"), ("zh-hans", "zh_CN"), ("zh-hant", "zh_TW"), ("zh", "zh_CN"), ("zh-tw", "zh_TW"),
    ("zh-hk", "zh_TW"), ("de", "en"),
    # Discord locales
    ("en-US", "en"), ("en-GB", "en"), ("zh-CN", "zh_CN"), ("zh-TW", "zh_TW"), ("pt-BR", "en"),
    # gettext names, config.language, BCP 47 with script and region
    ("zh_CN", "zh_CN"), ("zh_TW", "zh_TW"), ("zh-SG", "zh_CN"), ("zh-MO", "zh_TW"), ("zh-Hant-TW", "zh_TW"),
    ("zh-Hans-HK", "zh_CN"), ("ZH-HANT", "zh_TW"),
    # nothing said
    (None, "en"), ("", "en"),
])
def test_normalize_lang_maps_every_platform_code_to_a_catalogue_language(code: str | None, lang: str) -> None:
    assert normalize_lang(code) == lang
    assert lang in LANGS


def _write_catalogue(localedir: Path, domain: str, texts: dict[str, dict[str, str]]) -> None:
    """A real compiled catalogue: .po files (one per language) compiled by :func:`compiled_mo`."""
    for lang in {lang for by_lang in texts.values() for lang in by_lang}:
        folder = localedir / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        body = "".join(f'\nmsgid "{key}"\nmsgstr "{by_lang[lang]}"\n' for key, by_lang in texts.items()
                       if lang in by_lang)
        po = folder / f"{domain}.po"
        po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n' + body, "utf-8")
        (folder / f"{domain}.mo").write_bytes(compiled_mo(po))


def test_a_catalogue_formats_falls_back_to_english_then_to_its_owners_fallback(tmp_path: Path) -> None:
    _write_catalogue(tmp_path / "base", "base", {"shared": {"en": "Shared {n}", "zh_TW": "共用 {n}"}})
    _write_catalogue(tmp_path / "own", "own", {"hello": {"en": "Hello {name}", "zh_CN": "你好 {name}",
                                                         "zh_TW": "你好 {name}"},
                                               "only_en": {"en": "English only"}})
    base = Catalogue("base", tmp_path / "base")
    own = Catalogue("own", tmp_path / "own", fallback=base)
    assert own.t("hello", "zh-Hant", name="Ann") == "你好 Ann"
    assert own.t("hello", "de", name="Ann") == "Hello Ann"
    assert own.t("only_en", "zh-CN") == "English only"  # untranslated: English, not the fallback domain
    assert own.t("shared", "zh-TW", n=2) == "共用 2" and own.t("shared", "zh-CN", n=2) == "Shared 2"
    assert own.template("hello") == "Hello {name}"  # no params: the text as it is
    assert own.english() == {"hello": "Hello {name}", "only_en": "English only"}
    with pytest.raises(KeyError, match="nope"):
        own.t("nope", "en")


def test_core_texts_keep_their_english_and_translate_to_both_chineses() -> None:
    assert messages.t("audio_too_large", "en", size_mb=30.0, limit_mb=20) == (
        "That file is 30.0 MB; the limit is 20 MB. A short recording of 10–20 seconds is all I need.")
    assert messages.t("audio_too_large", "zh", size_mb=30.0, limit_mb=20).startswith("文件大小为 30.0 MB")
    assert messages.t("audio_too_large", "zh-TW", size_mb=30.0, limit_mb=20).startswith("檔案大小為 30.0 MB")
    assert set(messages.REASON_KEYS.values()) <= set(messages.CATALOGUE.english())
    # Platform texts live with their adapters now.
    assert not [k for k in messages.CATALOGUE.english() if k.startswith(("telegram_", "discord_", "cmd_"))]


def test_every_domain_is_found() -> None:
    assert sorted(po.stem for po in ENGLISH_POS) == ["common", "core", "discord", "telegram"]


@pytest.mark.parametrize("po", [po for package in packages(REPO) for po, _ in catalogue_files(package)],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_committed_mo_files_are_the_compiled_po_files(po: Path) -> None:
    """Nobody forgot ``python -m core.i18n compile`` after editing a .po file."""
    assert po.with_suffix(".mo").read_bytes() == compiled_mo(po), "run: python -m core.i18n compile"


@pytest.mark.parametrize("en_po", ENGLISH_POS, ids=lambda p: p.stem)
def test_committed_templates_are_up_to_date(en_po: Path) -> None:
    assert (en_po.parents[2] / f"{en_po.stem}.pot").read_bytes() == template_pot(en_po), \
        "run: python -m core.i18n compile"


def _fields(text: str) -> list[tuple[str, str]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


@pytest.mark.parametrize("en_po", ENGLISH_POS, ids=lambda p: p.stem)
@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_every_language_translates_every_text_with_the_same_fields(en_po: Path, lang: str) -> None:
    with en_po.open("rb") as f:
        english = {m.id: m.string for m in read_po(f) if m.id}
    po = en_po.parents[2] / lang / "LC_MESSAGES" / en_po.name
    with po.open("rb") as f:
        translated = {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}
    assert sorted(english) == sorted(translated)
    assert all(english.values())  # English is a real catalogue, not the keys
    for key, text in english.items():
        assert _fields(translated[key]) == _fields(text), key
