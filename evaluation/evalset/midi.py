"""Standard MIDI files from planned parts (via ``mido``), for fluidsynth to render."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mido

from evaluation.evalset.arrange import Part

#: 480 ticks a beat at 120 BPM: one tick is 1/960 s, so seconds map to ticks exactly enough.
_TPB = 480
_TEMPO = 500_000
_TICKS_PER_S = _TPB * 1_000_000 / _TEMPO


def _ticks(seconds: float) -> int:
    return max(0, int(round(seconds * _TICKS_PER_S)))


def write_midi(parts: Sequence[Part], path: Path, *, end_s: float) -> Path:
    """One track per part (program, volume, pan, reverb send, notes); every track lasts until
    ``end_s`` so the player — and fluidsynth's render — runs through the release tail."""
    mid = mido.MidiFile(type=1, ticks_per_beat=_TPB)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=_TEMPO, time=0))
    mid.tracks.append(meta)
    for part in parts:
        tr = mido.MidiTrack()
        ch = part.channel
        tr.append(mido.Message("program_change", channel=ch, program=part.program, time=0))
        tr.append(mido.Message("control_change", channel=ch, control=7, value=part.volume, time=0))
        tr.append(mido.Message("control_change", channel=ch, control=10, value=part.pan, time=0))
        tr.append(mido.Message("control_change", channel=ch, control=91, value=part.reverb, time=0))
        tr.append(mido.Message("control_change", channel=ch, control=93, value=0, time=0))
        events: list[tuple[int, int, mido.Message]] = []
        for e in part.events:
            on, off = _ticks(e.start), _ticks(e.start + e.dur)
            off = max(off, on + 1)
            # note-offs sort before note-ons at the same tick, so a repeated pitch re-strikes
            events.append((on, 1, mido.Message("note_on", channel=ch, note=e.pitch, velocity=e.velocity)))
            events.append((off, 0, mido.Message("note_off", channel=ch, note=e.pitch, velocity=0)))
        events.sort(key=lambda x: (x[0], x[1]))
        now = 0
        for tick, _, msg in events:
            tr.append(msg.copy(time=tick - now))
            now = tick
        end = max(now, _ticks(end_s))
        tr.append(mido.Message("control_change", channel=ch, control=123, value=0, time=end - now))
        tr.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(tr)
    mid.save(str(path))
    return path
