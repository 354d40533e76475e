"""Song plans: varied arrangements whose melody truth is the tune, sung or played."""

from __future__ import annotations

import numpy as np

from evaluation.evalset.arrange import MAX_SONG_S, MIN_SONG_S, _triad, plan_song
from evaluation.evalset.festival import MAX_SUNG_MIDI
from evaluation.evalset.scores import Melody


def _plans(melodies: list[Melody], n: int = 40):
    return [
        plan_song(
            melodies[i % len(melodies)], np.random.default_rng([5, i]), song_id=f"s{i}", sung=i % 3 == 0
        )
        for i in range(n)
    ]


def test_arrangements_vary_and_the_melody_is_not_always_loudest(melodies: list[Melody]) -> None:
    plans = _plans(melodies)
    assert len({p.lead_name for p in plans}) >= 12
    assert len({p.band[0].instrument for p in plans}) >= 8  # chord instruments
    assert len({p.band_soundfont for p in plans} | {p.lead_soundfont for p in plans}) == 2
    assert np.std([p.qpm for p in plans]) > 10
    assert all(MIN_SONG_S <= p.duration_s <= MAX_SONG_S for p in plans)
    db = np.array([p.melody_db for p in plans])
    assert 0.2 <= np.mean(db < 0) <= 0.8  # melody under the band in a good share of songs
    roles = [{part.role for part in p.band} for p in plans]
    assert all({"chords", "bass", "drums"} <= r for r in roles)
    drums = [part for p in plans for part in p.band if part.role == "drums"]
    assert all(d.channel == 9 for d in drums)
    assert np.mean([len(d.events) > 0 for d in drums]) >= 0.75


def test_melody_truth_is_the_tune_transposed_and_timed(melodies: list[Melody]) -> None:
    for i, p in enumerate(_plans(melodies, 10)):
        m = melodies[i % len(melodies)]
        spb = 60.0 / p.qpm
        first = [n for n in p.melody if n.start < p.passes[0] + m.length_beats * spb - 1e-6]
        for got, want in zip(first, m.notes):
            assert got.pitch == want.pitch + p.transpose
            assert abs(got.start - (p.passes[0] + want.onset * spb)) < 1e-3
        if p.lead_part is not None:  # the instrument plays exactly the truth
            assert [(e.start, e.pitch) for e in p.lead_part.events] == [(n.start, n.pitch) for n in p.melody]


def test_sung_plans_fit_festival_and_have_one_word_per_note(melodies: list[Melody]) -> None:
    sung = [p for p in _plans(melodies, 30) if p.sung]
    assert sung
    for p in sung:
        assert max(n.pitch for n in p.melody) <= MAX_SUNG_MIDI
        assert len(p.lyrics) == len(p.melody) and p.lead_part is None


def test_chords_agree_with_the_melody(melodies: list[Melody]) -> None:
    inside = total = 0.0
    for p in _plans(melodies, 20):
        starts = [t for t, _ in p.chords] + [p.duration_s]
        for (t0, name), t1 in zip(p.chords, starts[1:]):
            minor = name.endswith("m")
            root = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"].index(name.rstrip("m"))
            tri = _triad(root, "min" if minor else "maj")
            for n in p.melody:
                ov = min(t1, n.start + n.dur) - max(t0, n.start)
                if ov > 0:
                    total += ov
                    inside += ov * (n.pitch % 12 in tri)
    assert inside / total > 0.6  # a triad covers 3 of 7 scale tones: chance is ~0.45
