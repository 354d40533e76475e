"""The search's ranking (core.service.search.rank): which paths are fused, and the query's verdict."""

from __future__ import annotations

from core import evidence
from core.service.search import rank
from core.settings import SearchConfig
from core.types import IndexHit

SEARCH = SearchConfig()  # the shipped weights and gates: melody, and harmony gated
HELD_NOTE = evidence.QueryEvidence(
    duration_s=10.0, voiced_s=10.0, notes=1, pitches=1, steps=0, step_sizes=0, held_share=1.0,
    range_st=0.0, glide_share=0.0, note_s=10.0, chromatic_share=0.0,
)  # fmt: skip


def _hits(**songs: float) -> list[IndexHit]:
    return [IndexHit(s, score, 1.0) for s, score in songs.items()]


# A hum's melody ranking that names "a" with a clear lead, and a chroma ranking that would lift
# "z" by a wide margin: what a held note or a sustained chord gives on a long real track.
MELODY = _hits(a=0.82, b=0.62, c=0.61, d=0.60, e=0.60, f=0.59)
HARMONY = _hits(z=0.93, a=0.70, b=0.69, c=0.68)


def _ranked(hits, heard=None, *, searched: bool):
    return rank(hits, heard, SEARCH, n_songs=300, groups={}, fingerprint_searched=searched)


def test_with_the_fingerprint_searched_the_harmony_gate_adds_nothing() -> None:
    alone = _ranked({"melody": MELODY}, searched=True).fused
    both = _ranked({"melody": MELODY, "harmony": HARMONY}, searched=True).fused
    assert [(f.song_id, f.score, f.confidence) for f in both] == [
        (f.song_id, f.score, f.confidence) for f in alone
    ]
    assert both[0].song_id == "a"


def test_without_a_fingerprint_index_harmony_stands_in_for_it() -> None:
    fused = _ranked({"melody": MELODY, "harmony": HARMONY}, searched=False).fused
    assert fused[0].song_id == "z" and fused[0].confidence > 0.5
    assert (
        abs(fused[0].score - (0.59 + SEARCH.weights["harmony"] * (0.93 - SEARCH.gates["harmony"].score)))
        < 1e-9
    )


def test_a_held_note_is_judged_unless_harmony_stands_in_for_the_fingerprint() -> None:
    """A held note's chroma can pass even the recording gate (lead 0.23 > RECORDING_MARGIN): once
    the fingerprint has been searched it proves nothing, and the note is judged for what it is."""
    judged = _ranked({"harmony": HARMONY}, HELD_NOTE, searched=True)
    assert judged.reason == evidence.judge(HELD_NOTE) is not None
    assert judged.factor == evidence.NO_TUNE_FACTOR
    assert judged.fused[0].song_id == "z"  # with nothing else, chroma still lists the closest songs
    stand_in = _ranked({"harmony": HARMONY}, HELD_NOTE, searched=False)
    assert stand_in.reason is None and stand_in.fused[0].song_id == "z"


def test_a_tuneful_query_keeps_its_confidence() -> None:
    assert _ranked({"melody": MELODY}, None, searched=True).factor == 1.0
