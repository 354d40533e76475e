"""The reply language: the platform's code for the user, else the configured one."""

from __future__ import annotations

import pytest

from adapters.common import pick_lang


@pytest.mark.parametrize(("code", "default", "lang"), [
    ("zh-hans", "en", "zh_CN"), ("zh_CN", "en", "zh_CN"), ("zh-hant", "en", "zh_TW"), ("zh-TW", "en", "zh_TW"),
    ("de", "zh", "en"),  # the user's language wins, even one without a translation (English)
    (None, "zh", "zh_CN"), ("", "en", "en"), (None, "zh-TW", "zh_TW"),  # config.language: "zh" is Simplified
])
def test_pick_lang(code: str | None, default: str, lang: str) -> None:
    assert pick_lang(code, default) == lang
