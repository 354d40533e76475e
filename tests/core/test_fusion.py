"""Fusion: weighted means, gated evidence, and the calibrated confidence."""

from __future__ import annotations

from core.calibration import chance_z, confidence, standing
from core.fusion import fuse
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
    assert fused[0].confidence > 0.95 and fused[1].confidence < 0.05


def test_a_song_only_the_gated_embedder_found_gets_the_floor_plus_its_evidence() -> None:
    fused = fuse({"melody": _hits(a=(0.80, 1.0), b=(0.70, 2.0)), "harmony": _hits(c=(0.95, 7.0), d=(0.5, 0.0))}, W, G)
    assert fused[0].song_id == "c" and abs(fused[0].score - (0.70 + 3.0 * 0.35)) < 1e-9 and fused[0].offset_s == 7.0
    assert "d" not in {f.song_id for f in fused}  # no evidence, no place in the list


def test_gates_are_ignored_when_only_gated_embedders_answer() -> None:
    fused = fuse({"harmony": _hits(a=(0.6, 1.0), b=(0.5, 2.0))}, W, G)
    assert [f.song_id for f in fused] == ["a", "b"] and abs(fused[0].score - 0.6) < 1e-9


def test_confidence_rewards_level_margin_and_standing_out_and_doubts_a_larger_catalog() -> None:
    chance = [0.55, 0.52, 0.5, 0.5, 0.48, 0.45]
    sure = confidence(standing(0.95, 0.15, chance, 300))
    assert sure > 0.95
    assert confidence(standing(0.60, 0.01, chance, 300)) < 0.1
    assert confidence(standing(0.90, 0.05, chance, 300)) > confidence(standing(0.90, 0.02, chance, 300))
    assert confidence(standing(0.80, 0.05, chance, 10_000)) <= confidence(standing(0.80, 0.05, chance, 300))


def test_chance_z_measures_the_lead_over_the_rest_of_the_ranking() -> None:
    rest = [0.4, 0.5, 0.6] * 4
    assert abs(chance_z(1.0, rest) - (1.0 - 0.5) / 0.0816496580927726) < 1e-6
    # A small catalog's few runners-up are topped up with the reference chance scores: two that
    # happen to lie close together do not make an ordinary score stand out.
    assert chance_z(0.6, [0.5, 0.5]) < chance_z(0.6, [0.5] * 12) / 10
    assert chance_z(1.3, [0.5, 0.45]) > 10  # a clear match in a 3-song catalog still stands out


def test_runners_up_are_never_surer_than_what_the_top_leaves() -> None:
    fused = fuse({"melody": _hits(a=(0.9, 1.0), b=(0.88, 2.0), c=(0.5, 0.0))}, W, G)
    assert all(f.confidence <= 1.0 - fused[0].confidence + 1e-12 for f in fused[1:])


def test_fused_rows_carry_what_their_confidence_was_computed_from() -> None:
    fused = fuse({"melody": _hits(a=(0.9, 1.0), b=(0.6, 2.0), c=(0.5, 0.0), d=(0.4, 0.0))}, W, G, n_songs=1000)
    top = fused[0].standing
    assert top is not None and abs(top.margin - 0.3) < 1e-9 and abs(top.log_songs - 6.907755) < 1e-5
    assert fused[1].standing.margin < 0  # below the top: its margin is negative


def test_versions_of_one_recording_are_one_answer_and_keep_its_margin() -> None:
    """A song and its copy score alike; grouped, the margin is over the best *other* song."""
    others = {f"o{i}": (0.60 - 0.01 * i, 1.0) for i in range(10)}
    melody = _hits(a=(0.78, 10.0), **others)
    with_copy = _hits(a=(0.78, 10.0), a2=(0.779, 11.0), **others)
    harmony = _hits(a=(0.90, 10.5), **{k: (0.3, 0.0) for k in others})
    harmony_copy = _hits(a=(0.90, 10.5), a2=(0.899, 11.5), **{k: (0.3, 0.0) for k in others})
    for hits, copy_hits in (({"melody": melody}, {"melody": with_copy}),
                            ({"melody": melody, "harmony": harmony},
                             {"melody": with_copy, "harmony": harmony_copy})):
        alone = fuse(hits, W, G)
        apart = fuse(copy_hits, W, G)
        grouped = fuse(copy_hits, W, G, group_of={"a2": "a"})
        assert alone[0].confidence > 0.9
        assert apart[0].confidence < 0.5 * alone[0].confidence  # counted apart: the margin is gone
        assert grouped[0].song_id == "a" and grouped[0].versions == ("a2",)
        assert "a2" not in [f.song_id for f in grouped]
        assert abs(grouped[0].confidence - alone[0].confidence) < 1e-6
        assert [f.song_id for f in grouped] == [f.song_id for f in alone]


def test_the_best_scoring_version_stands_for_its_group() -> None:
    fused = fuse({"melody": _hits(a=(0.70, 1.0), a2=(0.75, 2.0), b=(0.50, 0.0))}, W, group_of={"a2": "a"})
    assert [(f.song_id, f.versions) for f in fused] == [("a2", ("a",)), ("b", ())]
    assert abs(fused[0].standing.margin - 0.25) < 1e-9


def test_the_default_harmony_gate_wants_a_lead_of_0_08() -> None:
    """Family T's out-of-catalog recording that harmony led by 0.079 (0.763 against 0.684) was a
    confident wrong answer under the old 0.05 margin; the default gate gives it nothing now."""
    from core.settings import SearchConfig

    gates, weights = SearchConfig().gates, SearchConfig().weights
    melody = _hits(a=(0.70, 10.0), b=(0.66, 3.0))
    harmony = _hits(b=(0.763, 21.5), a=(0.684, 11.0))
    assert fuse({"melody": melody, "harmony": harmony}, weights, gates)[0].song_id == "a"
    clear = _hits(b=(0.763, 21.5), a=(0.68, 11.0))  # a lead of 0.083 still counts
    assert fuse({"melody": melody, "harmony": clear}, weights, gates)[0].song_id == "b"
