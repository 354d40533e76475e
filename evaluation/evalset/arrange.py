"""An arrangement of a tune as a song: the melody plus chords, bass and drums.

Everything is decided here, from one random generator, and kept in a :class:`SongPlan` (plain
data): rendering only executes the plan, and the plan doubles as the song's ground truth (the
melody exactly as it sounds in the song, in seconds and MIDI pitches).

Times in plans are seconds from the start of the song; pitches are MIDI note numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation.evalset import instruments as gm
from evaluation.evalset import singer as synth
from evaluation.evalset.effects import Master
from evaluation.evalset.festival import SINGERS, Singer
from evaluation.evalset.scores import Melody

#: Song lengths this generator aims for (seconds, including intro and outro).
MIN_SONG_S, MAX_SONG_S = 30.0, 90.0
#: A tune longer than this at the chosen tempo is cut at a bar line.
MAX_TUNE_S = 66.0
TAIL_S = 1.5  # release/reverb tail after the last bar

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
#: Diatonic triads a folk tune is harmonised with: (root above the tonic, quality, prior weight).
_CHORDS = {
    "major": (
        (0, "maj", 0.35),
        (5, "maj", 0.2),
        (7, "maj", 0.25),
        (9, "min", 0.1),
        (2, "min", 0.08),
        (4, "min", 0.02),
    ),
    "minor": (
        (0, "min", 0.35),
        (5, "min", 0.2),
        (7, "maj", 0.22),
        (8, "maj", 0.1),
        (3, "maj", 0.08),
        (10, "maj", 0.08),
    ),
}
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: English words festival's lexicon reads as one syllable each (one word is sung per note).
EN_WORDS = (
    "la da na doo love home sun day night sea sky moon star song heart light rain road gold time my way go "
    "high down free dream sweet bright wind blue green young old long far near come see stay fly sing smile "
    "wild hold cold warm deep soft true dear oh hey shine glow snow wave tree field bird grace hope mine "
    "bells hills town"
).split()
IT_SYLLABLES = "la na da ta lo no ma ri le ne de to lu nu mi vi sa so".split()


def lyric_words(s: Singer) -> tuple[str, ...]:
    """What ``s`` sings, one per note: festival needs one-syllable words of its lexicon; the
    synthetic singer sings syllables of its language."""
    if synth.is_synthetic(s.name):
        return synth.LANGUAGES[s.language]
    return IT_SYLLABLES if s.language == "it" else EN_WORDS


@dataclass(frozen=True)
class NoteEvent:
    start: float  # seconds
    dur: float  # seconds
    pitch: int  # MIDI
    velocity: int = 90


@dataclass(frozen=True)
class Part:
    role: str  # "lead" | "chords" | "bass" | "drums" | "harmony" | "double"
    instrument: str
    program: int
    channel: int
    events: tuple[NoteEvent, ...]
    volume: int = 100  # MIDI CC7
    pan: int = 64  # MIDI CC10
    reverb: int = 40  # MIDI CC91 (reverb send)


@dataclass(frozen=True)
class SongPlan:
    song_id: str
    tune_id: str
    title: str
    artist: str
    qpm: float  # quarter notes a minute
    key: str  # "D minor" (the key it sounds in)
    meter: str
    transpose: int  # semitones from the written tune to the song
    duration_s: float
    passes: tuple[float, ...]  # song time (s) where each pass of the tune starts (tune beat 0)
    melody: tuple[NoteEvent, ...]  # the tune as it sounds in the song: ground truth
    lead: str  # "instrument" | "voice"
    lead_name: str  # instrument name, or the festival voice
    lead_part: Part | None  # the melody as MIDI (instrument lead), rendered on its own
    lyrics: tuple[str, ...]  # one word per melody note (voice lead), else ()
    band: tuple[Part, ...]
    melody_db: float  # melody RMS over band RMS where the melody plays (dB): < 0 = under the band
    lead_soundfont: str
    band_soundfont: str
    drum_kit: int
    fluid_reverb: bool
    chords: tuple[tuple[float, str], ...] = field(default=())  # (start s, "Am") for the record
    vocal_room: tuple[float, float] = (1.0, 8.0)  # sung lead's reverb: (RT60 s, direct/reverb dB)
    master: Master | None = None  # the mix bus (family B), None = the plain mix

    @property
    def sung(self) -> bool:
        return self.lead == "voice"


# --------------------------------------------------------------------------------------------


def _scale(tonic: int, mode: str) -> tuple[int, ...]:
    return tuple((tonic + s) % 12 for s in (_MAJOR if mode == "major" else _MINOR))


def _triad(root: int, quality: str) -> tuple[int, int, int]:
    return (root % 12, (root + (4 if quality == "maj" else 3)) % 12, (root + 7) % 12)


def _chord_name(root: int, quality: str) -> str:
    return _NOTE_NAMES[root % 12] + ("m" if quality == "min" else "")


def _fit(pitches: Sequence[int], lo: int, hi: int, shift: int) -> int:
    """Octave adjustment that brings ``pitches + shift`` closest to inside [lo, hi]."""
    med = float(np.median(pitches)) + shift
    best, best_cost = 0, math.inf
    for k in range(-4, 5):
        p_lo, p_hi = min(pitches) + shift + 12 * k, max(pitches) + shift + 12 * k
        cost = max(0, lo - p_lo) + max(0, p_hi - hi) + 0.01 * abs(med + 12 * k - (lo + hi) / 2)
        if cost < best_cost:
            best, best_cost = 12 * k, cost
    return best


@dataclass(frozen=True)
class _BeatNote:
    start: float  # song beats
    dur: float
    pitch: int


def _layout(m: Melody, qpm: float, rng: np.random.Generator, shift: int):
    """Passes of the tune on a bar grid: (melody in song beats, pass starts, pickup length,
    tune-end beat, total beats). Cuts a long tune at a bar line; repeats a short one."""
    bpb = m.beats_per_bar
    spb = 60.0 / qpm
    notes = list(m.notes)
    length = m.length_beats
    if length * spb > MAX_TUNE_S:  # cut at the last bar line before the limit
        limit = MAX_TUNE_S / spb
        cut = max([b for b in m.bars if b <= limit] or [limit])
        notes = [n for n in notes if n.onset < cut - 1e-6]
        length = cut
    first_full = m.bars[1] if len(m.bars) > 1 and m.bars[1] - m.bars[0] < bpb - 1e-6 else 0.0
    aligned = math.ceil((length - first_full) / bpb - 1e-6) * bpb
    last_bar = max([b for b in m.bars if b < length - 1e-6] or [0.0])
    final_full = length - last_bar >= bpb - 1e-6
    gap = bpb if (first_full > 0 and final_full) else 0.0  # so a pickup never overlaps the end
    intro_bars = int(rng.choice([1, 2])) if bpb >= 3 else int(rng.choice([2, 4]))
    intro = intro_bars * bpb
    outro = bpb * (1 if bpb >= 3 else 2)
    passes = 1
    while (intro + passes * (aligned + gap) + outro) * spb + TAIL_S < MIN_SONG_S:
        passes += 1
    starts = [intro - first_full + k * (aligned + gap) for k in range(passes)]
    out: list[_BeatNote] = []
    for s in starts:
        for n in notes:
            end = min(n.onset + n.dur, length)
            out.append(_BeatNote(s + n.onset, end - n.onset, n.pitch + shift))
    for i in range(len(out) - 1):  # monophonic: a note ends where the next one starts
        if out[i].start + out[i].dur > out[i + 1].start:
            out[i] = _BeatNote(out[i].start, max(0.05, out[i + 1].start - out[i].start), out[i].pitch)
    tune_end = starts[-1] + first_full + aligned
    total = tune_end + outro
    return out, starts, first_full, tune_end, total


def _harmonise(
    mel: Sequence[_BeatNote],
    tonic: int,
    mode: str,
    spans: list[tuple[float, float]],
    tune_span: tuple[float, float],
) -> list[tuple[int, str]]:
    """A diatonic triad per span from the melody notes sounding in it (duration-weighted, with a
    bonus for the downbeat note and for keeping the previous chord); the tonic outside the tune
    and on its last span."""
    cands = [((tonic + r) % 12, q, w) for r, q, w in _CHORDS[mode]]
    member = {(r, q): np.isin(np.arange(12), _triad(r, q)) for r, q, _ in cands}  # pitch class → in chord
    starts = np.array([n.start for n in mel])
    ends = np.array([n.start + n.dur for n in mel])  # monophonic: sorted like the starts
    pcs = np.array([n.pitch % 12 for n in mel])
    out: list[tuple[int, str]] = []
    prev = (tonic, cands[0][1])
    for a, b in spans:
        if b <= tune_span[0] + 1e-6 or a >= tune_span[1] - 1e-6 or b >= tune_span[1] - 1e-6:
            out.append((tonic, cands[0][1]))
            prev = out[-1]
            continue
        i0, i1 = np.searchsorted(ends, a, "right"), np.searchsorted(starts, b, "left")
        ov = np.minimum(b, ends[i0:i1]) - np.maximum(a, starts[i0:i1])
        w = ov * np.where(np.abs(starts[i0:i1] - a) < 1e-6, 1.6, 1.0)
        pc = pcs[i0:i1]
        best, best_score = prev, -math.inf
        for root, q, prior in cands:
            inside = member[(root, q)][pc]
            score = prior * (b - a) * 0.6 + float(np.sum(w * np.where(inside, 1.0, -0.4)))
            score += 0.15 * float(np.sum(ov[pc == root]))
            if (root, q) == prev:
                score += 0.1 * (b - a)
            if score > best_score:
                best, best_score = (root, q), score
        out.append(best)
        prev = best
    return out


def _voicing(root: int, q: str, lo: int, hi: int, center: float) -> list[int]:
    tri = _triad(root, q)
    pool = [p for p in range(lo, hi + 1) if p % 12 in tri]
    best = min(range(max(1, len(pool) - 2)), key=lambda i: abs(np.mean(pool[i : i + 3]) - center))
    return pool[best : best + 3]


def _meter_grid(m: Melody) -> tuple[float, float]:
    """(beat, subdivision) in quarter beats: 6/8-like meters beat in dotted quarters."""
    num, _, den = m.meter.partition("/")
    if den == "8" and num in ("6", "9", "12"):
        return 1.5, 0.5
    if m.beats_per_bar in (3.0, 6.0) and den == "8":
        return 1.5, 0.5
    return 1.0, 0.5


def plan_song(
    m: Melody,
    rng: np.random.Generator,
    *,
    song_id: str,
    sung: bool,
    soundfonts: Sequence[gm.SoundFont] | None = None,
    singers: Sequence[Singer] | None = None,
    melody_db_range: tuple[float, float] | None = None,
) -> SongPlan:
    """Decide the whole arrangement of ``m`` (tempo, key, instruments, parts, levels)."""
    # the full lists by default, not "whatever is installed": the same seed must give the same
    # songs on every machine (dataset.check_tools() says which apt package is missing)
    soundfonts = list(soundfonts or gm.SOUNDFONTS)
    singers = list(singers or SINGERS)
    pitches = [n.pitch for n in m.notes]
    ioi = np.diff([n.onset for n in m.notes])
    med_ioi = float(np.median(ioi[ioi > 0])) if np.any(ioi > 0) else 1.0
    rate = rng.uniform(1.6, 3.0) if sung else rng.uniform(2.0, 4.5)  # melody notes a second
    qpm = float(np.clip(60.0 * rate * med_ioi, 56.0, 150.0))
    qpm = round(qpm, 1)

    singer: Singer | None = None
    lead_inst: gm.Instrument | None = None
    key_move = int(rng.integers(-5, 7))
    if sung:
        singer = singers[int(rng.integers(len(singers)))]
        target = singer.center + rng.uniform(-2.5, 2.5)
        # the random key, moved by octaves into the singer's range (festival's ceiling included)
        shift = key_move + 12 * int(round((target - float(np.median(pitches)) - key_move) / 12))
        while max(pitches) + shift > synth.ceiling(singer):
            shift -= 12
    else:
        lead_inst = gm.LEAD[int(rng.integers(len(gm.LEAD)))]
        shift = key_move + _fit(pitches, lead_inst.lo, lead_inst.hi, key_move)
    tonic = (m.tonic + shift) % 12
    spb = 60.0 / qpm

    mel, starts, first_full, tune_end, total_beats = _layout(m, qpm, rng, shift)
    bpb = m.beats_per_bar
    beat, sub = _meter_grid(m)
    duration = total_beats * spb + TAIL_S

    def sec(b: float) -> float:
        return round(b * spb, 5)

    melody = tuple(NoteEvent(sec(n.start), sec(n.dur), n.pitch, 100) for n in mel)

    # chords: one per bar, two in long bars (≥ 4 beats)
    n_bars = int(round(total_beats / bpb))
    spans: list[tuple[float, float]] = []
    for i in range(n_bars):
        a, b = i * bpb, (i + 1) * bpb
        if bpb >= 4 and bpb % 2 == 0:
            spans += [(a, a + bpb / 2), (a + bpb / 2, b)]
        else:
            spans.append((a, b))
    tune_span = (starts[0] + first_full, tune_end)
    harmony = _harmonise(mel, tonic, m.mode, spans, tune_span)

    # humanising noise drawn in bulk (one numpy call per event is most of a plan's cost)
    vel_noise = itertools.cycle(rng.integers(-12, 13, 20000).tolist())
    jit_noise = itertools.cycle(rng.normal(0, 0.006, 20000).tolist())

    def vel(base: int, spread: int = 12) -> int:
        return min(127, max(20, base + round(next(vel_noise) * spread / 12)))

    def jit() -> float:
        return next(jit_noise)

    band: list[Part] = []
    # chords
    ci = gm.CHORDS[int(rng.integers(len(gm.CHORDS)))]
    if ci.style == "sustain":
        cstyle = "block"
    else:
        cstyle = str(rng.choice(["strum", "arpeggio", "offbeat"]))
    center = rng.uniform(58, 66)
    cev: list[NoteEvent] = []
    for (a, b), (root, q) in zip(spans, harmony):
        voice = _voicing(root, q, ci.lo, ci.hi, center)
        if cstyle == "block":
            for p in voice:
                cev.append(NoteEvent(sec(a) + abs(jit()), sec(b - a) * 0.98, p, vel(72)))
        elif cstyle == "strum":
            t = a
            while t < b - 1e-6:
                for j, p in enumerate(voice):
                    cev.append(NoteEvent(sec(t) + 0.012 * j + abs(jit()), sec(beat) * 0.85, p, vel(78)))
                t += beat
        elif cstyle == "arpeggio":
            seq = voice + [voice[1]] if len(voice) == 3 else voice
            t, j = a, 0
            while t < b - 1e-6:
                cev.append(NoteEvent(sec(t) + abs(jit()), sec(sub) * 1.6, seq[j % len(seq)], vel(74)))
                t += sub
                j += 1
        else:  # off-beat comping (oom-pah's "pah")
            t = a + (beat if bpb / beat >= 3 else beat / 2)
            while t < b - 1e-6:
                for p in voice:
                    cev.append(NoteEvent(sec(t) + abs(jit()), sec(min(beat, sub * 2)) * 0.7, p, vel(76)))
                t += beat
    band.append(
        Part(
            "chords",
            ci.name,
            ci.program,
            1,
            tuple(cev),
            volume=int(rng.integers(70, 116)),
            pan=int(rng.integers(30, 98)),
            reverb=int(rng.integers(20, 70)),
        )
    )

    # bass
    bi = gm.BASS[int(rng.integers(len(gm.BASS)))]
    bstyle = str(rng.choice(["root", "root5", "beats", "pulse"]))
    bev: list[NoteEvent] = []
    prev_p = 40
    for (a, b), (root, q) in zip(spans, harmony):
        cands = [p for p in range(bi.lo, bi.lo + 24) if p % 12 == root]
        p = min(cands, key=lambda x: abs(x - prev_p))
        prev_p = p
        fifth = p + 7 if p + 7 <= bi.hi else p - 5
        if bstyle == "root":
            bev.append(NoteEvent(sec(a) + abs(jit()), sec(b - a) * 0.95, p, vel(92)))
        elif bstyle == "root5":
            half = (b - a) / 2 if (b - a) >= 2 else b - a
            bev.append(NoteEvent(sec(a), sec(half) * 0.9, p, vel(95)))
            if half < b - a:
                bev.append(NoteEvent(sec(a + half) + abs(jit()), sec(half) * 0.9, fifth, vel(85)))
        else:
            step = beat if bstyle == "beats" else sub
            t = a
            while t < b - 1e-6:
                bev.append(NoteEvent(sec(t) + abs(jit()), sec(step) * 0.8, p, vel(88 if t == a else 78)))
                t += step
    band.append(
        Part(
            "bass",
            bi.name,
            bi.program,
            2,
            tuple(bev),
            volume=int(rng.integers(80, 120)),
            pan=int(rng.integers(54, 75)),
            reverb=int(rng.integers(0, 30)),
        )
    )

    # drums (GM channel 10)
    band_sf = soundfonts[int(rng.integers(len(soundfonts)))]
    lead_sf = band_sf if rng.random() < 0.6 else soundfonts[int(rng.integers(len(soundfonts)))]
    kit = int(rng.choice(band_sf.drum_kits))
    dstyle = str(rng.choice(["full", "full", "full", "light", "none"], p=[0.3, 0.2, 0.2, 0.2, 0.1]))
    dev: list[NoteEvent] = []
    if dstyle != "none":
        nb = max(1, int(round(bpb / beat)))
        hat = 42 if rng.random() < 0.7 else 51  # closed hi-hat or ride
        shaker = int(rng.choice([70, 54, 69]))  # maracas, tambourine, cabasa
        for i in range(n_bars):
            a = i * bpb
            if i == 0 or any(abs(a - (s + first_full)) < 1e-6 for s in starts):
                dev.append(NoteEvent(sec(a), 0.3, 49, vel(96)))  # crash at each pass
            t = a
            while t < a + bpb - 1e-6:
                pos = round(t - a, 4)
                dev.append(
                    NoteEvent(
                        sec(t) + jit(),
                        0.08,
                        hat if dstyle == "full" else shaker,
                        vel(72 if pos % beat == 0 else 56),
                    )
                )
                t += sub
            for k in range(nb):
                t = a + k * beat
                if k == 0 or (nb == 4 and k == 2) or (nb == 6 and k == 3):
                    dev.append(NoteEvent(sec(t) + jit(), 0.15, 36, vel(100)))
                elif dstyle == "full" and (nb in (2, 4, 6) and k % 2 == 1 or nb == 3):
                    dev.append(
                        NoteEvent(sec(t) + jit(), 0.15, 38 if nb != 3 else 37, vel(90 if nb != 3 else 70))
                    )
    band.append(
        Part(
            "drums",
            f"kit {kit}",
            kit,
            9,
            tuple(dev),
            volume=int(rng.integers(70, 116)),
            pan=64,
            reverb=int(rng.integers(10, 50)),
        )
    )

    # an occasional second melodic line: harmony a third below, or the melody doubled
    extra = rng.random()
    if extra < (0.18 if not sung else 0.1):
        scale = _scale(tonic, m.mode)
        hi = gm.LEAD[int(rng.integers(len(gm.LEAD)))]
        hev = []
        for n in melody:
            down = 3 if (n.pitch - 3) % 12 in scale else 4
            hev.append(NoteEvent(n.start, n.dur * 0.95, n.pitch - down, vel(70)))
        band.append(
            Part(
                "harmony",
                hi.name,
                hi.program,
                3,
                tuple(hev),
                volume=int(rng.integers(45, 75)),
                pan=int(rng.integers(20, 108)),
            )
        )
    elif extra < (0.3 if not sung else 0.35):
        di = gm.LEAD[int(rng.integers(len(gm.LEAD)))]
        octave = -12 if np.median(pitches) + shift > 62 else 0
        dbl = tuple(NoteEvent(n.start, n.dur * 0.95, n.pitch + octave, vel(75)) for n in melody)
        band.append(
            Part(
                "double",
                di.name,
                di.program,
                4,
                dbl,
                volume=int(rng.integers(45, 80)),
                pan=int(rng.integers(20, 108)),
            )
        )

    lead_part = None
    lyrics: tuple[str, ...] = ()
    if lead_inst is not None:
        legato = rng.uniform(0.8, 1.0)
        lev = tuple(
            NoteEvent(
                n.start,
                max(0.05, n.dur * legato),
                n.pitch,
                vel(104 if abs((n.start / spb) % bpb) < 1e-3 else 92, 8),
            )
            for n in melody
        )
        lead_part = Part(
            "lead",
            lead_inst.name,
            lead_inst.program,
            0,
            lev,
            volume=110,
            pan=int(rng.integers(50, 79)),
            reverb=int(rng.integers(20, 70)),
        )
        melody_db = float(rng.uniform(*(melody_db_range or (-6.0, 6.0))))
    else:
        lyrics = tuple(str(w) for w in rng.choice(lyric_words(singer), size=len(melody)))
        melody_db = float(rng.uniform(*(melody_db_range or (-4.0, 6.0))))

    key_name = f"{_NOTE_NAMES[tonic]} {m.mode}"
    chords = tuple((sec(a), _chord_name(r, q)) for (a, _), (r, q) in zip(spans, harmony))
    return SongPlan(
        song_id=song_id,
        tune_id=m.tune_id,
        title=m.title,
        artist=m.artist,
        qpm=qpm,
        key=key_name,
        meter=m.meter,
        transpose=shift,
        duration_s=round(duration, 3),
        passes=tuple(sec(s) for s in starts),
        melody=melody,
        lead="voice" if sung else "instrument",
        lead_name=singer.name if singer else lead_inst.name,
        lead_part=lead_part,
        lyrics=lyrics,
        band=tuple(band),
        melody_db=round(melody_db, 2),
        lead_soundfont=lead_sf.name,
        band_soundfont=band_sf.name,
        drum_kit=kit,
        fluid_reverb=bool(rng.random() < 0.6),
        chords=chords,
        vocal_room=(round(float(rng.uniform(0.6, 1.6)), 3), round(float(rng.uniform(4, 12)), 2)),
    )
