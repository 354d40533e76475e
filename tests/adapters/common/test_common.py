"""The platform-neutral adapter pieces: formatting, rate limit, button payloads, prechecks, errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from adapters.common import (
    KeepVersion,
    NotIt,
    Play,
    SongsPage,
    UserRateLimiter,
    error_text,
    format_offset,
    format_response,
    format_songs_page,
    format_stats,
    parse_title_artist,
    precheck,
)
from adapters.common import actions
from core.audio import check_size
from core.errors import BackendUnavailable, Busy, TooLarge, TooShort
from core.service import ServiceStats
from core.settings import LimitsConfig
from core.types import IndexStats, SearchResponse, SearchResult, Song


def _song(n: int, title: str | None = None, artist: str | None = "Artist") -> Song:
    return Song(f"{n:012x}", title or f"Song {n}", artist, 200.0 + n, f"s{n}.mp3", f"{n:064x}", ".mp3", None,
                datetime(2024, 1, 1, tzinfo=UTC))


def _response(confidences: list[float], *, match: bool, truncated: bool = False, offsets=None,
              reason: str | None = None) -> SearchResponse:
    offsets = offsets or [83.4] * len(confidences)
    results = [SearchResult(_song(i), 0.9 - i / 10, c, o) for i, (c, o) in enumerate(zip(confidences, offsets), 1)]
    return SearchResponse("q" * 12, results, match, 10.0, truncated, None, reason=reason)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (83.4, "1:23"), (59.6, "1:00"), (3725, "1:02:05"),
                                               (-3, "0:00")])
def test_format_offset(seconds: float, text: str) -> None:
    assert format_offset(seconds) == text


def test_confident_answer_is_a_numbered_list() -> None:
    text = format_response(_response([0.87, 0.05], match=True), "en")
    assert text.splitlines() == ["Best matches:", "1. Song 1 — Artist · 87 % · at 1:23",
                                 "2. Song 2 — Artist · 5 % · at 1:23"]


def test_a_result_found_in_several_versions_says_so() -> None:
    from dataclasses import replace

    response = _response([0.87, 0.05], match=True)
    response.results[0] = replace(response.results[0], versions=(_song(7),))
    response.results[1] = replace(response.results[1], versions=(_song(8), _song(9)))
    assert format_response(response, "en").splitlines()[1:] == [
        "1. Song 1 — Artist · 87 % · at 1:23 (+1 version)", "2. Song 2 — Artist · 5 % · at 1:23 (+2 versions)"]
    assert format_response(response, "zh").splitlines()[2].endswith("（另有 2 个版本）")


def test_no_confident_match_is_said_with_candidates_tips_and_truncation_note() -> None:
    text = format_response(_response([0.2, 0.1], match=False, truncated=True), "en", max_query_seconds=30)
    lines = text.splitlines()
    assert lines[0] == "No confident match. The closest songs in the catalog:"
    assert lines[1].startswith("1. Song 1") and lines[2].startswith("2. Song 2")
    assert lines[4].startswith("Tips: hum 10–20 s of the chorus")
    assert lines[-1] == "Only the first 30 seconds were used."


@pytest.mark.parametrize(("reason", "en", "zh"), [
    ("one_note", "I only heard one note — hum a longer part of the tune (8–15 s)", "我只听到了一个音"),
    ("too_little_melody", "I heard only a few notes going back and forth", "我只听到几个音来回重复"),
    ("speech", "That sounds like speech, not a tune", "这听起来像说话"),
    ("no_tune", "I couldn't hear a tune in that", "我没有听到旋律"),
])
def test_a_query_without_a_tune_is_told_why_and_what_to_try(reason: str, en: str, zh: str) -> None:
    resp = _response([0.02, 0.01], match=False, reason=reason)
    lines = format_response(resp, "en").splitlines()
    assert lines[0].startswith(en)
    assert lines[2] == "The closest songs in the catalog (none is a match):"
    assert lines[3].startswith("1. Song 1") and "Tips" not in "\n".join(lines)
    assert format_response(resp, "zh").startswith(zh)
    # "not in the catalog" stays the plain honest answer with tips
    plain = format_response(_response([0.2], match=False, reason="not_in_catalog"), "en")
    assert plain.startswith("No confident match.") and "Tips:" in plain


def test_chinese_results_and_empty_catalog() -> None:
    assert format_response(_response([0.9], match=True), "zh").splitlines()[1] == "1. Song 1 — Artist · 90 % · 位于 1:23"
    empty = SearchResponse("q", [], False, 5.0, False, None)
    assert format_response(empty, "en") == "The catalog is empty — an admin has to add songs first."


def test_long_titles_are_shortened_and_results_dropped_to_fit() -> None:
    resp = _response([0.9] * 5, match=True)
    resp.results[0] = SearchResult(_song(1, title="x" * 500, artist=None), 0.9, 0.9, 0.0)
    line = format_response(resp, "en").splitlines()[1]
    assert len(line) < 120 and "…" in line and " — " not in line
    short = format_response(resp, "en", max_chars=120)
    assert len(short) <= 120 and short.startswith("Best matches:")


def test_escape_is_applied_to_titles_and_artists() -> None:
    resp = _response([0.9], match=True)
    resp.results[0] = SearchResult(_song(1, title="*bold*", artist="_x_"), 0.9, 0.9, 0.0)
    text = format_response(resp, "en", escape=lambda s: s.replace("*", r"\*").replace("_", r"\_"))
    assert r"1. \*bold\* — \_x\_ ·" in text


def test_control_and_bidi_characters_never_reach_a_reply() -> None:
    # A catalog from before titles were cleaned: a right-to-left override would reverse the rest
    # of the reply, a bell or escape is junk; the joiners of emoji sequences and scripts stay.
    resp = _response([0.9], match=True)
    resp.results[0] = SearchResult(_song(1, title="Evil\u202e txet\x07\x1b[31m", artist="A\u2066B\u200b\nC"),
                                   0.9, 0.9, 0.0)
    line = format_response(resp, "en").splitlines()[1]
    assert line.startswith("1. Evil txet[31m — AB C · ")
    from adapters.common.formatting import visible

    assert visible("👩\u200d💻 Ode\u2028to\tJoy\u200c ") == "👩\u200d💻 Ode to Joy\u200c"
    assert format_songs_page([_song(2, title="\u202dX")], offset=0, total=1, lang="en").splitlines()[1].startswith(
        f"{_song(2).song_id} · X — Artist")


def test_songs_page_and_stats() -> None:
    page = format_songs_page([_song(11), _song(12, artist=None)], offset=10, total=12, lang="en").splitlines()
    assert page == ["Songs 11–12 of 12:", "00000000000b · Song 11 — Artist · 3:31", "00000000000c · Song 12 · 3:32"]
    assert format_songs_page([], offset=0, total=0, lang="en").startswith("No songs yet")
    stats = ServiceStats(songs=3, queries=10, matched=7, feedback_correct=3, feedback_wrong=1,
                         index=IndexStats("local", 3, {"melody": 90}, True), embedders=["melody"], notes=["note!"])
    text = format_stats(stats, "en")
    assert "Songs in the catalog: 3" in text and "Queries served: 10 (7 confident matches)" in text
    assert "Hit rate from feedback: 75 % (3 of 4 rated answers)" in text and text.endswith("note!")
    none = ServiceStats(0, 0, 0, 0, 0, IndexStats("elasticsearch", 0, {}, False, pending=2), [])
    text = format_stats(none, "zh")
    assert "暂无反馈" in text and "不可用" in text and "等待写入索引：2" in text


def test_rate_limiter_sliding_window_explains_once() -> None:
    now = [0.0]
    limiter = UserRateLimiter(3, 60.0, clock=lambda: now[0])
    allowed = []
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        allowed.append(limiter.hit("a").allowed)
    assert allowed == [True, True, True]
    now[0] = 30.0
    refused = limiter.hit("a")
    assert not refused.allowed and refused.notify and refused.retry_after_s == pytest.approx(30.0)
    assert not limiter.hit("a").notify  # told already
    assert limiter.hit("b").allowed  # per user
    now[0] = 60.0  # the request of t=0 left the window: room for one
    assert limiter.hit("a").allowed
    decision = limiter.hit("a")
    assert not decision.allowed and decision.notify  # a new streak is explained again
    assert decision.retry_after_s == pytest.approx(10.0)


def test_rate_limiter_forgets_idle_users_and_reads_limits() -> None:
    now = [0.0]
    limiter = UserRateLimiter.from_limits(LimitsConfig(user_requests_per_minute=2), clock=lambda: now[0])
    assert limiter.limit == 2
    for user in range(2000):
        limiter.hit(user)
    now[0] = 120.0
    for _ in range(1024):
        limiter.hit("active")
    assert len(limiter) == 1


@pytest.mark.parametrize("action", [Play("0123456789ab", 83), NotIt("feedfacecafe", "0123456789ab"), SongsPage(3),
                                    KeepVersion("0123456789abcdef01234567")])
def test_button_payloads_round_trip_and_fit(action) -> None:
    data = actions.encode(action)
    assert len(data.encode()) <= 64
    assert actions.decode(data) == action


@pytest.mark.parametrize("data", [None, "", "play:42", "p:abc", "p:abc:-1", "s:x", "n:only", "x" * 65, "p:a:b:c"])
def test_foreign_payloads_decode_to_none(data) -> None:
    assert actions.decode(data) is None


def test_payload_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError):
        actions.encode(Play("a:b", 1))


@pytest.mark.parametrize(("text", "expected"), [
    ("Night Song - The Hummers", ("Night Song", "The Hummers")),
    ("Ob-La-Di, Ob-La-Da – The Beatles", ("Ob-La-Di, Ob-La-Da", "The Beatles")),
    ("Song - Live - Band", ("Song - Live", "Band")),
    ("Just a title", ("Just a title", None)),
    ("  ", (None, None)),
    (None, (None, None)),
])
def test_parse_title_artist(text, expected) -> None:
    assert parse_title_artist(text) == expected


def test_precheck_refuses_from_announced_size_and_duration() -> None:
    class Service:  # the two things precheck uses of HumService, with the real size check
        limits = LimitsConfig()

        def check_upload_size(self, size: int | None) -> None:
            if size is not None:
                check_size(size, self.limits.max_upload_mb)

    service = Service()
    with pytest.raises(TooLarge):
        precheck(service, size_bytes=25 * 2**20, duration_s=10)
    with pytest.raises(TooShort):
        precheck(service, size_bytes=1000, duration_s=1)
    precheck(service, size_bytes=1000, duration_s=2)  # rounded durations get the benefit of the doubt
    precheck(service, size_bytes=None, duration_s=None)


def test_error_text_shows_humbot_errors_and_hides_bugs(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.adapters")
    assert error_text(Busy(), "en", logger=log) == "I'm busy with other songs right now — please try again in a moment."
    assert error_text(BackendUnavailable(), "zh", logger=log) == "搜索暂时不可用，请几分钟后再试。"
    with caplog.at_level(logging.ERROR, logger="test.adapters"):
        text = error_text(KeyError("secret internals"), "en", logger=log, what="search")
    assert text == "Something went wrong on my side. Please try again." and "secret" not in text
    assert caplog.records[-1].exc_info[0] is KeyError
