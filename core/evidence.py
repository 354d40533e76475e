"""How much tune a query carries, and whether that is enough for a confident answer.

A search always returns the closest songs, so something that is no tune at all — a held note,
a two-note siren, a glide, speech, drums, noise — still gets a best song, and with a catalog
whose melodies are unlike each other that best song can stand out by chance. The confidence of
:mod:`core.fusion` only sees scores; this module looks at the query itself: its pitch track
(SwiftF0, the query tracker of the melody path) cut into notes (``swift_f0.segment_notes``),
and counts the melody in it — voiced time, distinct pitches, how many melodic steps and of how
many sizes, how steadily the voice holds its notes.

:func:`measure` gives a :class:`QueryEvidence` (pure numbers); :func:`judge` turns it into a
reason a query cannot be a confident answer, or None. The service then caps the confidence
(:data:`NO_TUNE_FACTOR`) and tells the user why and what to try.

Thresholds are chosen on the *fit* split of the evaluation set (``humbot eval``: in-catalog
hums, sung queries and recordings that must pass, and the no-song queries that must not); the
figures are in BENCHMARKS.md on the held-out split.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from core import voice_pitch

SAMPLE_RATE = 16000
FMIN_HZ, FMAX_HZ = 80.0, 1000.0  # the melody path's voice range (core.embedders.melody)
VOICED = 0.5  # SwiftF0's calibrated voicing threshold
#: A note shorter than this is a pitch passing by (a scoop, a consonant's edge), not a note.
MIN_NOTE_S = 0.10
#: Two notes this close (semitones) are the same pitch sung a little off, not a step.
SAME_PITCH = 0.6


class Note(Protocol):
    """A note of ``swift_f0.music.segment_notes``: from ``start`` to ``end`` (s), at ``pitch_hz``."""

    start: float
    end: float
    pitch_hz: float


# Reasons, as the CLI's JSON and the message catalogue name them.
NO_TUNE = "no_tune"
SPEECH = "speech"
ONE_NOTE = "one_note"
TOO_LITTLE = "too_little_melody"
NOT_IN_CATALOG = "not_in_catalog"
REASONS = (NO_TUNE, SPEECH, ONE_NOTE, TOO_LITTLE, NOT_IN_CATALOG)

# What a query needs, at least, to be answered as a match (see the module docstring).
MIN_VOICED_S = 2.0  # seconds of pitched sound
MIN_PITCHES = 3  # distinct pitches (semitones apart)
MIN_STEPS = 4  # melodic steps between consecutive notes
MIN_STEP_SIZES = 2  # distinct step sizes (a siren or a glide repeats one)
#: Semitones per second a note's pitch may slide and still count as held.
GLIDE_ST_PER_S = 3.0
#: Frames (16 ms) of the moving average that takes vibrato out of a note: 176 ms, one cycle at
#: 5.7 Hz; a 4 Hz vibrato of ±80 cents is left at about ±30.
VIBRATO_FRAMES = 11
#: The middle share of a note its slide is measured on (scoops and fall-offs are at its ends).
NOTE_MIDDLE = 0.6
#: Speech, as the fit split of the evaluation set shows it (festival's voices, and crowd babble):
#: its notes slide (glide share 0.29–0.49, against 0.0–0.24 for sung queries; the generated
#: hums' legato reaches 0.68, so a slide alone does not make speech) *and* it is either half
#: unvoiced (voiced share 0.44–0.56; hums 0.68–0.98, sung 0.55–0.90) or narrow (3.1–6.4
#: semitones; hums 6.9–26). Or it wanders off every note: held share under 0.55 (babble
#: 0.09–0.65, hums 0.66–0.97, sung 0.83–0.99).
MAX_GLIDE_SHARE = 0.25
#: A glide (a pitch sweep) is cut into notes a semitone apart whose pitch slides: on the fit
#: split, sweeps have glide shares of 0.63–1.0 with 58–70 % one-semitone steps, or 0.79 with
#: other steps; hums slide at most 0.68 of their note time, with at most 32 % semitone steps.
GLIDE_SHARE, GLIDE_CHROMATIC, ALL_GLIDE = 0.6, 0.4, 0.75
SPOKEN_VOICED = 0.65
SPOKEN_RANGE_ST = 6.0
MIN_HELD_SHARE = 0.55
#: A query without a tune may still be a phone recording of the song itself when harmony (the
#: chroma fingerprint) picks a song by at least this margin over the next. The ordinary gate
#: (0.05 when this was measured; 0.08 since stop 31) is not enough: on the fit split, held notes
#: and sirens reached harmony margins of 0.052–0.085 (and passed it); recordings whose pitch track
#: failed had 0.126–0.188 (and one 0.056).
RECORDING_MARGIN = 0.10
#: A query judged to carry no tune keeps this share of its confidence: it still lists the
#: closest songs, but never as a confident answer.
NO_TUNE_FACTOR = 0.1


@dataclass(frozen=True)
class QueryEvidence:
    """What a query's pitch track shows of a melody. Durations in seconds, pitches in semitones."""

    duration_s: float  # the query's length
    voiced_s: float  # time SwiftF0 heard a pitch
    notes: int  # notes of at least MIN_NOTE_S
    pitches: int  # distinct pitches among them (SAME_PITCH apart)
    steps: int  # moves between consecutive notes of at least SAME_PITCH
    step_sizes: int  # distinct sizes of those moves (whole semitones, up and down apart)
    held_share: float  # share of voiced time within ±0.5 semitone of its note's pitch
    range_st: float  # highest note minus lowest
    glide_share: float  # share of the notes' time in notes whose pitch slides (> GLIDE_ST_PER_S)
    note_s: float  # median note length
    chromatic_share: float  # share of the steps that move by one semitone (a glide's do)

    @property
    def voiced_share(self) -> float:
        return self.voiced_s / self.duration_s if self.duration_s else 0.0


def measure(samples: np.ndarray) -> QueryEvidence:
    """The melodic evidence in a query. ``samples``: (n,) float32 mono at :data:`SAMPLE_RATE`.

    The pitch track is the melody embedder's own (:func:`core.voice_pitch.shared`): in a search
    SwiftF0 runs once for both.
    """
    from swift_f0 import PitchResult
    from swift_f0.music import segment_notes

    track = voice_pitch.shared().detect(samples, SAMPLE_RATE, fmin=FMIN_HZ, fmax=FMAX_HZ)
    voiced = (track.confidence >= VOICED) & (track.pitch_hz > 0)
    frame_s = float(track.timestamps[1] - track.timestamps[0]) if len(track.timestamps) > 1 else 0.016
    # The shared tracker hands back SwiftF0's own result; PitchTrack is the protocol it meets.
    notes = [n for n in segment_notes(cast(PitchResult, track)) if n.end - n.start >= MIN_NOTE_S]
    midi = np.array([69.0 + 12.0 * np.log2(n.pitch_hz / 440.0) for n in notes])
    return QueryEvidence(
        duration_s=len(samples) / SAMPLE_RATE,
        voiced_s=float(voiced.sum() * frame_s),
        notes=len(notes),
        pitches=_distinct(midi),
        steps=int(np.sum(np.abs(np.diff(midi)) >= SAME_PITCH)) if len(midi) > 1 else 0,
        step_sizes=_step_sizes(midi),
        held_share=_held_share(track.timestamps, track.pitch_hz, voiced, notes),
        range_st=float(midi.max() - midi.min()) if len(midi) else 0.0,
        glide_share=_glide_share(track.timestamps, track.pitch_hz, voiced, notes),
        note_s=float(np.median([n.end - n.start for n in notes])) if notes else 0.0,
        chromatic_share=_chromatic_share(midi),
    )  # fmt: skip


def judge(ev: QueryEvidence) -> str | None:
    """Why ``ev`` cannot be a confident answer (one of :data:`REASONS`), or None if it carries a tune.

    Checked from the emptiest query up, so the reason names what is missing first: nothing
    pitched (noise, drums, silence, a mostly unvoiced recording) → ``no_tune``; one pitch
    (a held note, "mmm", a tone) → ``one_note``; a few pitches, one step size repeated or notes
    that are one slide (a siren, a glide, two notes) → ``too_little_melody``; notes that slide instead of being held
    (speech) → ``speech``.
    """
    if ev.voiced_s < MIN_VOICED_S or ev.notes == 0:
        return NO_TUNE
    if ev.pitches <= 1:
        return ONE_NOTE
    glide = ev.glide_share > GLIDE_SHARE and (
        ev.chromatic_share > GLIDE_CHROMATIC or ev.glide_share > ALL_GLIDE
    )
    if ev.pitches < MIN_PITCHES or ev.steps < MIN_STEPS or ev.step_sizes < MIN_STEP_SIZES or glide:
        return TOO_LITTLE
    spoken = ev.glide_share > MAX_GLIDE_SHARE and (
        ev.voiced_share < SPOKEN_VOICED or ev.range_st < SPOKEN_RANGE_ST
    )
    if spoken or ev.held_share < MIN_HELD_SHARE:
        return SPEECH
    return None


def _distinct(midi: np.ndarray) -> int:
    """Pitch classes of a set of notes: greedy clusters, each spanning less than SAME_PITCH·2."""
    count, last = 0, -np.inf
    for p in np.sort(midi):
        if p - last >= SAME_PITCH:
            count, last = count + 1, p
    return count


def _step_sizes(midi: np.ndarray) -> int:
    steps = np.diff(midi)
    steps = steps[np.abs(steps) >= SAME_PITCH]
    return len(set(np.round(steps).astype(int).tolist()))


def _note_frames(
    times: np.ndarray, hz: np.ndarray, voiced: np.ndarray, notes: Sequence[Note]
) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """Per note: (its pitch, the MIDI of its voiced frames smoothed over one vibrato cycle, their times).

    Vibrato (4–7 Hz, up to ±1 semitone in real singing) swings around the note; a moving
    average over :data:`VIBRATO_FRAMES` frames removes most of it, so what is left is the
    pitch's trend: held in singing, sliding in speech.
    """
    for n in notes:
        at = np.flatnonzero((times >= n.start) & (times < n.end) & voiced)
        if len(at) < 4:
            continue
        midi = 69.0 + 12.0 * np.log2(hz[at] / 440.0)
        k = min(VIBRATO_FRAMES, len(midi))
        smooth = np.convolve(
            np.pad(midi, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid"
        )
        yield 69.0 + 12.0 * np.log2(n.pitch_hz / 440.0), smooth, times[at]


def _chromatic_share(midi: np.ndarray) -> float:
    steps = np.abs(np.diff(midi))
    steps = steps[steps >= SAME_PITCH]
    return float(np.mean(steps < 1.5)) if len(steps) else 0.0


def _held_share(times: np.ndarray, hz: np.ndarray, voiced: np.ndarray, notes: Sequence[Note]) -> float:
    if not voiced.any():
        return 0.0
    held = sum(
        int(np.sum(np.abs(smooth - pitch) <= 0.5))
        for pitch, smooth, _ in _note_frames(times, hz, voiced, notes)
    )
    return held / int(voiced.sum())


def _glide_share(times: np.ndarray, hz: np.ndarray, voiced: np.ndarray, notes: Sequence[Note]) -> float:
    """Share of note time in notes whose pitch slides by more than GLIDE_ST_PER_S.

    Spoken syllables glide (intonation falls or rises through each); sung and hummed notes are
    held. The slope is fitted on the middle of each note (:data:`NOTE_MIDDLE`), so a singer's
    scoop into a note or fall off its end does not count, and vibrato has no trend.
    """
    total = slid = 0.0
    for _, smooth, t in _note_frames(times, hz, voiced, notes):
        cut = int(len(t) * (1 - NOTE_MIDDLE) / 2)
        mid = slice(cut, len(t) - cut)
        if len(t[mid]) < 4:
            continue
        slope = np.polyfit(t[mid], smooth[mid], 1)[0]
        dur = t[-1] - t[0]
        total += dur
        slid += dur * (abs(slope) > GLIDE_ST_PER_S)
    return slid / total if total else 0.0
