"""Singing with festival (``text2wave -mode singing``): a real, if robotic, singing voice.

Festival's singing mode reads an XML score: one ``<DURATION><PITCH>word</PITCH></DURATION>`` per
note, and ``<REST>`` for silences. Two quirks, measured with festival 2.5 on Debian:

* ``BEATS`` durations are scaled by BPM/50 instead of BPM/60 (``singing-mode.scm`` says "change
  this back to 60"), so every note comes out 17 % short. We give ``SECONDS`` instead, which is
  exact: a 30 s score renders to 30.02 s.
* Octave numbers in ``NOTE`` are one higher than scientific pitch ("A5" = 440 Hz). We give
  ``FREQ`` in Hz instead, which also allows detuned (human) pitches.

Each word must be one syllable (one note, one syllable), hence the word lists in ``arrange``.
Voices: ``kal_diphone`` (festvox-kallpc16k), ``ked_diphone`` (festvox-kdlpc16k), both US English
male, and ``lp_diphone`` (festvox-italp16k), Italian female, which sings Italian syllables.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf

#: festival's diphone voices render at this rate.
FESTIVAL_SR = 16000
#: The highest note festival's LPC diphone voices survive: above ~520 Hz text2wave segfaults
#: (measured: 500 Hz works, 550 Hz crashes, for kal, ked and lp alike). MIDI 70 = 466 Hz.
MAX_SUNG_MIDI = 70
_VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))


@dataclass(frozen=True)
class Singer:
    name: str  # festival voice, e.g. "kal_diphone"
    language: str  # "en" | "it": which words it sings
    center: int  # comfortable median pitch (MIDI)
    package: str  # the Debian package that provides it


SINGERS = (
    Singer("kal_diphone", "en", 54, "festvox-kallpc16k"),
    Singer("ked_diphone", "en", 52, "festvox-kdlpc16k"),
    Singer("lp_diphone", "it", 62, "festvox-italp16k"),
)


def _installed(voice: str) -> bool:
    return any(any(d.glob(f"*/{voice}")) for d in _VOICE_DIRS if d.exists())


def missing_voices() -> list[Singer]:
    """The singers whose festival voice is not installed."""
    return [s for s in SINGERS if not _installed(s.name)]


def singer(name: str) -> Singer:
    return next(s for s in SINGERS if s.name == name)


def midi_to_hz(p: float) -> float:
    return 440.0 * 2 ** ((p - 69.0) / 12.0)


@dataclass(frozen=True)
class SungNote:
    start: float  # seconds
    dur: float  # seconds
    pitch: float  # MIDI, fractional allowed
    word: str


def singing_xml(notes: Sequence[SungNote]) -> str:
    """The festival singing score: notes back to back, silences as rests, from t = 0."""
    rows = []
    t = 0.0
    for i, n in enumerate(notes):
        if n.start > t + 0.01:
            rows.append(f'<REST SECONDS="{n.start - t:.4f}"></REST>')
            t = n.start
        nxt = notes[i + 1].start if i + 1 < len(notes) else n.start + n.dur
        end = n.start + n.dur
        if nxt - end < 0.03:  # a tiny gap: sing through it (legato) so timing stays exact
            end = nxt
        dur = max(0.05, end - t)
        word = escape(n.word)
        rows.append(
            f'<DURATION SECONDS="{dur:.4f}"><PITCH FREQ="{midi_to_hz(n.pitch):.2f}">{word}</PITCH></DURATION>'
        )
        t += dur
    body = "\n".join(rows)
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" '
        f'"Singing.v0_1.dtd" []>\n<SINGING BPM="60">\n{body}\n</SINGING>\n'
    )


def sing(notes: Sequence[SungNote], voice: str, *, workdir: Path | None = None) -> np.ndarray:
    """Sing ``notes`` with festival voice ``voice``: mono float32 at 16 kHz, aligned so that
    sample 0 is time 0 of the notes' timeline (a leading rest is rendered as silence)."""
    if not notes:
        raise ValueError("nothing to sing")
    if max(n.pitch for n in notes) > MAX_SUNG_MIDI + 0.5:
        raise ValueError(f"festival cannot sing above MIDI {MAX_SUNG_MIDI} (it crashes)")
    with tempfile.TemporaryDirectory(dir=workdir, prefix="sing-") as d:
        xml = Path(d) / "song.xml"
        wav = Path(d) / "song.wav"
        xml.write_text(singing_xml(notes), encoding="utf-8")
        proc = subprocess.run(
            ["text2wave", "-mode", "singing", "-eval", f"(voice_{voice})", str(xml), "-o", str(wav)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0 or not wav.exists():
            raise RuntimeError(f"festival singing failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
        y, sr = sf.read(wav, dtype="float32", always_2d=False)
    if sr != FESTIVAL_SR:
        raise RuntimeError(f"festival wrote {sr} Hz, expected {FESTIVAL_SR}")
    return y


# ----------------------------------------------------------------------------- speaking


@dataclass(frozen=True)
class Speaker:
    name: str  # festival voice, e.g. "kal_diphone"
    language: str  # "en" | "it": which sentences it reads


#: The same diphone voices, in festival's plain text-to-speech mode.
SPEAKERS = (
    Speaker("kal_diphone", "en"),
    Speaker("ked_diphone", "en"),
    Speaker("lp_diphone", "it"),
)

#: Things people say into a voice note instead of humming. ASCII only: lp_diphone's letter-to-
#: sound rules have no entry for accented letters and silently drop the whole utterance.
SENTENCES = {
    "en": (
        "Hey, I am running a little late, see you at the station in ten minutes.",
        "Can you find the song they played at the wedding last night?",
        "I have no idea what it is called, it goes something like this.",
        "Remind me to buy bread and milk on the way home.",
        "The meeting moved to Thursday afternoon, three o'clock in the small room.",
        "Sorry, wrong chat, please ignore that last message.",
        "It was on the radio this morning, a woman singing, quite old I think.",
        "Could you send me the address again? I lost it somewhere.",
        "We are going to the park first and then to the market.",
        "Testing, testing, one two three, can anybody hear me?",
        "My phone is almost out of battery so I will call you later.",
        "The train was cancelled again, so I am taking the bus.",
        "Honestly I only remember the chorus and not even all of it.",
        "Tell your brother that the keys are under the blue pot.",
        "What was the name of that band we saw in the summer?",
        "I think it starts slowly and then gets much faster.",
    ),
    "it": (
        "Ciao, sono in ritardo, ci vediamo alla stazione tra dieci minuti.",
        "Mi puoi dire come si chiama questa canzone?",
        "Non ricordo il titolo, ma faceva piu o meno cosi.",
        "Domani mattina andiamo al mercato e poi al parco.",
        "Scusa, ho sbagliato chat, ignora il messaggio.",
        "Il treno e in ritardo di mezz'ora, come sempre.",
        "Ricordati di comprare il pane e il latte.",
        "La riunione e spostata a giovedi pomeriggio.",
        "La passavano alla radio stamattina, era una canzone vecchia.",
        "Chiamami quando arrivi a casa, per favore.",
    ),
}


def speaker(name: str) -> Speaker:
    return next(s for s in SPEAKERS if s.name == name)


def speak(text: str, voice: str, *, stretch: float = 1.0, workdir: Path | None = None) -> np.ndarray:
    """Read ``text`` aloud with festival voice ``voice`` (``text2wave``'s plain TTS mode).

    ``stretch``: festival's ``Duration_Stretch`` (> 1 = slower). Returns mono float32 at
    :data:`FESTIVAL_SR`, shape (n,), as long as festival takes to say it (≈ 0.3 s a word).
    """
    with tempfile.TemporaryDirectory(dir=workdir, prefix="speak-") as d:
        txt = Path(d) / "text.txt"
        wav = Path(d) / "text.wav"
        txt.write_text(text, encoding="ascii", errors="ignore")
        proc = subprocess.run(
            [
                "text2wave",
                "-eval",
                f"(voice_{voice})",
                "-eval",
                f"(Parameter.set 'Duration_Stretch {stretch:.3f})",
                str(txt),
                "-o",
                str(wav),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0 or not wav.exists() or wav.stat().st_size < 100:
            raise RuntimeError(f"festival speech failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
        y, sr = sf.read(wav, dtype="float32", always_2d=False)
    if sr != FESTIVAL_SR:
        raise RuntimeError(f"festival wrote {sr} Hz, expected {FESTIVAL_SR}")
    return y
