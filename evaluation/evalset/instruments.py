"""General MIDI programs an arrangement picks from, with the ranges they sound good in.

Ranges are MIDI note numbers; a part is moved by octaves to fit. Programs are GM (0-based).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instrument:
    program: int
    name: str
    lo: int
    hi: int
    style: str = ""  # for chord instruments: "sustain" | "pluck"


LEAD = (
    Instrument(73, "flute", 60, 96),
    Instrument(40, "violin", 55, 100),
    Instrument(71, "clarinet", 50, 91),
    Instrument(68, "oboe", 58, 91),
    Instrument(56, "trumpet", 55, 82),
    Instrument(65, "alto sax", 49, 81),
    Instrument(66, "tenor sax", 44, 75),
    Instrument(21, "accordion", 53, 89),
    Instrument(22, "harmonica", 60, 84),
    Instrument(0, "piano", 48, 96),
    Instrument(4, "electric piano", 48, 90),
    Instrument(11, "vibraphone", 53, 89),
    Instrument(80, "square lead", 48, 96),
    Instrument(81, "saw lead", 48, 96),
    Instrument(75, "pan flute", 60, 96),
    Instrument(78, "whistle", 60, 96),
    Instrument(74, "recorder", 60, 96),
    Instrument(24, "nylon guitar", 48, 84),
    Instrument(26, "jazz guitar", 48, 84),
    Instrument(27, "clean guitar", 48, 84),
    Instrument(29, "overdriven guitar", 48, 84),
    Instrument(8, "celesta", 60, 96),
    Instrument(12, "marimba", 53, 89),
    Instrument(57, "trombone", 40, 72),
    Instrument(60, "french horn", 41, 77),
    Instrument(42, "cello", 36, 76),
    Instrument(69, "english horn", 52, 81),
    Instrument(64, "soprano sax", 56, 87),
    Instrument(110, "fiddle", 55, 100),
    Instrument(16, "organ", 48, 90),
    Instrument(85, "voice lead", 48, 84),
    Instrument(105, "banjo", 48, 84),
)

CHORDS = (
    Instrument(0, "piano", 50, 74, "pluck"),
    Instrument(1, "bright piano", 50, 74, "pluck"),
    Instrument(4, "electric piano", 50, 74, "pluck"),
    Instrument(5, "electric piano 2", 50, 74, "pluck"),
    Instrument(6, "harpsichord", 50, 74, "pluck"),
    Instrument(24, "nylon guitar", 48, 71, "pluck"),
    Instrument(25, "steel guitar", 48, 71, "pluck"),
    Instrument(26, "jazz guitar", 48, 71, "pluck"),
    Instrument(27, "clean guitar", 48, 71, "pluck"),
    Instrument(46, "harp", 48, 76, "pluck"),
    Instrument(16, "organ", 50, 74, "sustain"),
    Instrument(19, "church organ", 50, 74, "sustain"),
    Instrument(21, "accordion", 50, 74, "sustain"),
    Instrument(48, "strings", 48, 74, "sustain"),
    Instrument(49, "slow strings", 48, 74, "sustain"),
    Instrument(50, "synth strings", 48, 74, "sustain"),
    Instrument(88, "new age pad", 48, 74, "sustain"),
    Instrument(89, "warm pad", 48, 74, "sustain"),
    Instrument(90, "polysynth", 48, 74, "sustain"),
    Instrument(61, "brass section", 50, 72, "sustain"),
)

BASS = (
    Instrument(32, "acoustic bass", 28, 52),
    Instrument(33, "finger bass", 28, 52),
    Instrument(34, "pick bass", 28, 52),
    Instrument(35, "fretless bass", 28, 52),
    Instrument(38, "synth bass", 28, 52),
    Instrument(39, "synth bass 2", 28, 52),
    Instrument(43, "contrabass", 28, 52),
    Instrument(58, "tuba", 28, 50),
    Instrument(70, "bassoon", 34, 55),
)


@dataclass(frozen=True)
class SoundFont:
    name: str
    path: Path
    drum_kits: tuple[int, ...]  # GM drum-kit programs (bank 128) it holds
    package: str  # the Debian package that installs it


#: Debian packages: fluid-soundfont-gm, timgm6mb-soundfont.
SOUNDFONTS = (
    SoundFont(
        "FluidR3_GM",
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        (0, 8, 16, 24, 25, 32, 40),
        "fluid-soundfont-gm",
    ),
    SoundFont("TimGM6mb", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), (0,), "timgm6mb-soundfont"),
)


#: Family B's soundfont (``musescore-general-soundfont-small``): never heard by the salience
#: network's training songs nor by family A, so a figure on it is a figure on a new timbre.
FAMILY_B_SOUNDFONTS = (
    SoundFont(
        "MuseScore_General_Lite",
        Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
        (0, 8, 16, 24, 25, 32, 40, 48),
        "musescore-general-soundfont-small",
    ),
)


def soundfont(name: str) -> SoundFont:
    return next(s for s in SOUNDFONTS + FAMILY_B_SOUNDFONTS if s.name == name)


def missing_soundfonts(fonts: tuple[SoundFont, ...] = SOUNDFONTS) -> list[SoundFont]:
    return [s for s in fonts if not s.path.exists()]
