"""Fusion: weighted means, gated evidence, and the calibrated confidence."""

from __future__ import annotations

from core.fusion import confidence, fuse
from core.settings import Gate
from core.types import IndexHit

W = {"melody": 1.0, "harmony": 3.0}
G = {"harmony": Gate(score=0.6, margin=0.05)}


def _hits(**songs: tuple[float, float]) -> list[IndexHit]:
    return [IndexHit(s, score, off) for s, (score, off) in songs.items()]


def _view(fused):
    return [(f.song_id, round(f.score, 6), f.offset_s) for f in fused]


def test_an_unconvincing_gated_embedder_changes_nothing() -> None:
    melody = _hits(a=(0.80, 10.0), b=(0.78, 3.0))
    alone = fuse({"melody": melody}, W)
    low = _hits(b=(0.55, 40.0), a=(0.40, 11.0))  # a hum: chroma scores stay low...
    close = _hits(b=(0.75, 40.0), a=(0.73, 11.0))  # ...or a song not in the catalog: no clear lead
    for harmony in (low, close):
        assert _view(fuse({"melody": melody, "harmony": harmony}, W, G)) == _view(alone)


def test_a_convincing_recording_match_lifts_its_song_and_pins_the_offset() -> None:
    melody = _hits(a=(0.80, 10.0), b=(0.74, 3.0))
    harmony = _hits(b=(0.80, 21.5), a=(0.50, 11.0))
    fused = fuse({"melody": melody, "harmony": harmony}, W, G)
    assert fused[0].song_id == "b"
    assert abs(fused[0].score - (0.74 + 3.0 * (0.80 - 0.6))) < 1e-9
    assert fused[0].offset_s == 21.5
    assert fused[0].confidence > 0.99 and fused[1].confidence < 0.01


def test_a_song_only_the_gated_embedder_found_gets_the_floor_plus_its_evidence() -> None:
    fused = fuse({"melody": _hits(a=(0.80, 1.0), b=(0.70, 2.0)), "harmony": _hits(c=(0.95, 7.0), d=(0.5, 0.0))}, W, G)
    assert fused[0].song_id == "c" and abs(fused[0].score - (0.70 + 3.0 * 0.35)) < 1e-9 and fused[0].offset_s == 7.0
    assert "d" not in {f.song_id for f in fused}  # no evidence, no place in the list


def test_gates_are_ignored_when_only_gated_embedders_answer() -> None:
    fused = fuse({"harmony": _hits(a=(0.6, 1.0), b=(0.5, 2.0))}, W, G)
    assert [f.song_id for f in fused] == ["a", "b"] and abs(fused[0].score - 0.6) < 1e-9


def test_confidence_rewards_level_and_margin() -> None:
    assert confidence(0.95, 0.15) > 0.99
    assert confidence(0.60, 0.01) < 0.1
    assert confidence(0.90, 0.05) > confidence(0.90, 0.02)
