"""The report's pure parts: the reliability table and ECE, per-split figures from handcrafted rows,
and the re-encoded copies of the duplicates experiment."""

from __future__ import annotations

import inspect
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evaluation.evaluate import build_report, is_right, plan_reencode, reencode, reliability_table, split_report


def test_reliability_table_on_a_handcrafted_example() -> None:
    conf = [0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.95, 1.0]
    right = [False, False, True, True, True, True, False, True]
    bins, ece = reliability_table(conf, right)
    assert len(bins) == 10 and sum(b.n for b in bins) == 8
    b0, b1, b9 = bins[0], bins[1], bins[9]
    assert (b0.n, b0.mean_confidence, b0.share_right) == (1, pytest.approx(0.05), 0.0)
    assert (b1.n, b1.mean_confidence, b1.share_right) == (2, pytest.approx(0.15), 0.5)
    # 1.0 falls in the last bin, with the four 0.95s
    assert (b9.n, b9.mean_confidence, b9.share_right) == (5, pytest.approx(0.96), 0.8)
    assert all(b.n == 0 and b.mean_confidence is None for b in bins[2:9])
    assert (b9.lo, b9.hi) == (0.9, 1.0)
    # ECE = 1/8·|0 − 0.05| + 2/8·|0.5 − 0.15| + 5/8·|0.8 − 0.96|
    assert ece == pytest.approx(0.05 / 8 + 2 / 8 * 0.35 + 5 / 8 * 0.16)


def test_reliability_of_a_perfect_and_an_empty_set() -> None:
    assert reliability_table([0.0, 1.0, 1.0], [False, True, True])[1] == pytest.approx(0.0)
    bins, ece = reliability_table([], [])
    assert ece == 0.0 and len(bins) == 10 and sum(b.n for b in bins) == 0
    with pytest.raises(ValueError):
        reliability_table([0.5], [True, False])


def _row(kind: str, split: str, *, expected: str | None = None, rank: int | None = None, match: bool = False,
         conf: float = 0.1, subkind: str | None = None, reason: str | None = None) -> dict:
    return {"kind": kind, "subkind": subkind, "split": split, "expected": expected, "rank": rank, "match": match,
            "confidence": conf, "reason": reason, "latency_ms": 100.0}  # fmt: skip


ROWS = [
    _row("hummed", "held-out", expected="a", rank=1, match=True, conf=0.95),
    _row("hummed", "held-out", expected="b", rank=3, match=False, conf=0.3, reason="not_in_catalog"),
    _row("sung", "fit", expected="c", rank=1, match=True, conf=0.9),
    _row("recorded", "held-out", match=True, conf=0.92),  # out of catalog, wrongly confident
    _row("sung", "held-out", conf=0.2, reason="not_in_catalog"),
    _row("nosong", "held-out", subkind="held", conf=0.05, reason="one_note"),
    _row("nosong", "held-out", subkind="held", match=True, conf=0.91),
    _row("nosong", "fit", subkind="speech", conf=0.02, reason="speech"),
]


def test_right_means_the_expected_song_first() -> None:
    assert [is_right(r) for r in ROWS] == [True, False, True, False, False, False, False, False]


def test_split_report_counts_each_family_on_its_split() -> None:
    r = split_report(ROWS, "held-out")
    assert r.split == "held-out" and r.overall.n == 2 and r.overall.top1 == 0.5
    assert [k.kind for k in r.kinds] == ["hummed"]
    assert r.out_of_catalog == 2 and r.false_match_rate == 0.5
    assert r.out_of_catalog_by_kind == {"recorded": {"n": 1, "false_match_rate": 1.0},
                                        "sung": {"n": 1, "false_match_rate": 0.0}}  # fmt: skip
    assert [(s.subkind, s.n, s.matched) for s in r.nosong] == [("held", 2, 0.5)] and r.nosong_match_rate == 0.5
    # three confident answers on this split, one of them right
    assert r.confident == 3 and r.precision_confident == pytest.approx(1 / 3)
    assert r.in_catalog_matched == 0.5
    assert r.reliability.n == 6 and r.reliability.bins[9].n == 3
    assert r.reasons["nosong"] == {"one_note": 1, "match": 1}
    assert split_report(ROWS, "fit").nosong[0].subkind == "speech"
    assert split_report(ROWS, "all").reliability.n == len(ROWS)


def test_report_text_headlines_the_chosen_split() -> None:
    rep = build_report(ROWS, songs=3, embedders=["melody"], import_cpu_s_per_audio_min=1.0, headline="fit")
    assert rep.overall.n == 3 and rep.out_of_catalog == 2  # the top-level figures are "all"
    text = rep.as_text()
    assert text.index("split: fit") < text.index("split: held-out") < text.index("split: all")
    assert text.count("ECE") == 1 and "reliability (fit" in text
    assert rep.as_text("held-out").index("split: held-out") < rep.as_text("held-out").index("split: fit")


def test_in_catalog_figures_are_split_by_how_the_song_carries_its_tune() -> None:
    rows = [
        {**_row("hummed", "held-out", expected="a", rank=1), "song_lead": "voice"},
        {**_row("hummed", "held-out", expected="b", rank=None), "song_lead": "voice"},
        {**_row("sung", "held-out", expected="c", rank=1), "song_lead": "voice"},
        {**_row("hummed", "held-out", expected="d", rank=1), "song_lead": "instrument"},
        {**_row("hummed", "held-out"), "song_lead": "voice"},  # out of catalog: not counted
    ]
    r = split_report(rows, "held-out")
    voice = {k.kind: (k.n, k.top1) for k in r.by_lead["voice"]}
    assert voice == {"hummed": (2, 0.5), "sung": (1, 1.0), "overall": (3, pytest.approx(2 / 3))}
    assert {k.kind: (k.n, k.top1) for k in r.by_lead["instrument"]} == {"hummed": (1, 1.0), "overall": (1, 1.0)}
    rep = build_report(rows, songs=4, embedders=["melody"], import_cpu_s_per_audio_min=1.0, family="b")
    text = rep.as_text()
    assert "family b (reported only" in text
    assert "songs whose melody is sung (voice): hummed 50.0% of 2, sung 100.0% of 1, overall 66.7% of 3" in text


def test_a_copy_is_another_codec_louder_or_softer_and_later() -> None:
    seen = set()
    for i in range(40):
        fmt = ("mp3", "flac", "wav")[i % 3]
        r = plan_reencode(f"s{i:08x}", fmt)
        assert r == plan_reencode(f"s{i:08x}", fmt)  # deterministic
        assert r.codec != fmt and r.ext in ("ogg", "m4a", "mp3")
        assert 96 <= r.bitrate_kbps <= 192 and 3 <= abs(r.gain_db) <= 6 and 0.8 <= r.lead_silence_s <= 1.2
        seen.add(r.codec)
    assert seen == {"opus", "aac", "mp3"}


@pytest.mark.parametrize("song", ["s00000000", "s00000001", "s00000002"])  # opus, mp3, aac
def test_reencode_writes_the_copy(tmp_path: Path, song: str) -> None:
    sr = 22050
    t = np.arange(2 * sr) / sr
    wav = tmp_path / "in.wav"
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", str(sr), "-ac", "1", "-i", "pipe:0", str(wav)],
                   input=pcm, check=True)  # fmt: skip
    r = plan_reencode(song, "wav")
    out = reencode(wav, tmp_path / f"copy.{r.ext}", r)
    dur = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(out)], capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert dur == pytest.approx(2.0 + r.lead_silence_s, abs=0.1)


def test_add_song_takes_on_duplicate() -> None:
    """The duplicates experiment calls ``add_song(..., on_duplicate="version")``."""
    from core.service import HumService

    if "on_duplicate" not in inspect.signature(HumService.add_song).parameters:
        pytest.skip("HumService.add_song(on_duplicate=...) and AddResult.duplicate_of are not there yet")
    from core.types import AddResult, Song

    assert "duplicate_of" in AddResult.__dataclass_fields__ and "version_of" in Song.__dataclass_fields__
