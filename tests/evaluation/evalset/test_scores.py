"""Melodies from the music21 corpus: long enough, distinct, well-formed, cached."""

from __future__ import annotations

import dataclasses
import json

from evaluation.evalset.scores import MIN_SECONDS, MODERATE_QPM, Melody, Note, is_variant, load_melodies


def test_melodies_are_long_distinct_and_well_formed(melodies: list[Melody]) -> None:
    assert len(melodies) == 10
    assert len({m.tune_id for m in melodies}) == 10
    assert len({m.collection for m in melodies}) >= 4  # the sources are interleaved
    for m in melodies:
        assert m.seconds(MODERATE_QPM) >= MIN_SECONDS, m.tune_id
        assert m.title and m.artist
        onsets = [n.onset for n in m.notes]
        assert onsets == sorted(onsets) and len(set(onsets)) == len(onsets)  # monophonic
        assert all(n.dur > 0 and 30 <= n.pitch <= 100 for n in m.notes)
        assert all(a.onset + a.dur <= b.onset + 1e-6 for a, b in zip(m.notes, m.notes[1:]))
        assert m.bars[0] == 0.0 and list(m.bars) == sorted(m.bars) and m.mode in ("major", "minor")
    for i, a in enumerate(melodies):
        for b in melodies[i + 1 :]:
            assert not is_variant(a, b), (a.title, b.title)


def test_a_variant_of_a_tune_is_recognised(melodies: list[Melody]) -> None:
    m = melodies[0]
    notes = [Note(n.pitch + 5, n.onset, n.dur) for n in m.notes]  # another key …
    notes[7] = Note(notes[7].pitch + 2, notes[7].onset, notes[7].dur)  # … and a changed note
    variant = dataclasses.replace(m, tune_id="x", title="Other title", notes=tuple(notes))
    assert is_variant(m, variant)
    assert not any(is_variant(variant, other) for other in melodies[1:])


def test_cache_round_trip_and_exclusion(melodies: list[Melody], tune_cache) -> None:
    cached = list(tune_cache.rglob("*.json"))
    assert cached, "parsed tunes are cached"
    again = load_melodies(10, cache_dir=tune_cache, workers=1)
    assert [m.to_json() for m in again] == [m.to_json() for m in melodies]
    assert Melody.from_json(json.loads(json.dumps(melodies[0].to_json()))) == melodies[0]
    more = load_melodies(2, cache_dir=tune_cache, workers=1, exclude=melodies)
    assert not any(is_variant(a, b) for a in more for b in melodies)
