"""Render a :class:`SongPlan` to an audio file: fluidsynth for the band and an instrumental lead,
festival or :mod:`evaluation.evalset.singer` for a sung lead, numpy for the mix, ffmpeg for the file.

The band and the lead are rendered separately so the mix can set the melody's level exactly
(``plan.melody_db``: lead RMS over band RMS where the melody plays); the two may come from
different soundfonts.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from evaluation.evalset import effects
from evaluation.evalset import singer as synth
from evaluation.evalset.arrange import SongPlan
from evaluation.evalset.festival import FESTIVAL_SR, SungNote, sing
from evaluation.evalset.instruments import soundfont
from evaluation.evalset.midi import write_midi

DEFAULT_SR = 22050


@dataclass(frozen=True)
class RenderedSong:
    path: Path
    duration_s: float
    lead_rms_db: float  # measured, where the melody plays (dBFS, before the final normalisation)
    band_rms_db: float


def fluidsynth(parts, sf_name: str, *, sr: int, end_s: float, reverb: bool, workdir: Path) -> np.ndarray:
    """Render MIDI parts with the fluidsynth CLI: float32 stereo, exactly ``end_s`` long."""
    mid = write_midi(parts, workdir / "parts.mid", end_s=end_s)
    raw = workdir / "parts.raw"
    cmd = [
        "fluidsynth",
        "-ni",
        "-q",
        "-F",
        str(raw),
        "-T",
        "raw",
        "-O",
        "float",
        "-E",
        "little",
        "-r",
        str(sr),
        "-g",
        "0.5",
        "-R",
        "1" if reverb else "0",
        "-C",
        "0",
        # load only the samples the song plays: FluidR3 is 148 MB and loading it all costs more
        # CPU than rendering a minute of music
        "-o",
        "synth.dynamic-sample-loading=1",
        "-o",
        "synth.cpu-cores=1",
        # a real synth's voice limit; without it, long-release presets (pads, harp) played as
        # arpeggios keep hundreds of voices alive and cost seconds of CPU a song
        "-o",
        "synth.polyphony=40",
        str(soundfont(sf_name).path),
        str(mid),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not raw.exists():
        raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    y = np.fromfile(raw, dtype="<f4").reshape(-1, 2)
    n = int(round(end_s * sr))
    if len(y) < n:
        y = np.concatenate([y, np.zeros((n - len(y), 2), np.float32)])
    return y[:n]


def sing_melody(plan: SongPlan, *, sr: int, workdir: Path) -> np.ndarray:
    """The sung lead: festival (or the synthetic singer of :mod:`evaluation.evalset.singer`) singing the
    melody with the plan's lyrics, with a vocal reverb."""
    if synth.is_synthetic(plan.lead_name):
        syl = [synth.SungSyllable(n.start, n.dur, n.pitch, w) for n, w in zip(plan.melody, plan.lyrics)]
        y = synth.sing(
            syl,
            synth.voice_from_id(plan.lead_name),
            sr=FESTIVAL_SR,
            total_s=plan.duration_s,
            rng=np.random.default_rng(_stable("voice|" + plan.song_id)),
        )
    else:
        notes = [SungNote(n.start, n.dur, n.pitch, w) for n, w in zip(plan.melody, plan.lyrics)]
        y = sing(notes, plan.lead_name, workdir=workdir)
    if sr != FESTIVAL_SR:
        g = np.gcd(sr, FESTIVAL_SR)
        y = signal.resample_poly(y, sr // g, FESTIVAL_SR // g).astype(np.float32)
    rt60, drr = plan.vocal_room
    ir = effects.room_ir(
        np.random.default_rng(_stable(plan.song_id)), sr, rt60=rt60, drr_db=drr, predelay_s=0.02
    )
    y = effects.apply_ir(y, ir)
    n = int(round(plan.duration_s * sr))
    y = np.pad(y, (0, max(0, n - len(y))))[:n]
    return np.stack([y, y], 1)


def _stable(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little")


def render_song(plan: SongPlan, path: Path, *, sr: int = DEFAULT_SR, fmt: str = "mp3") -> RenderedSong:
    with tempfile.TemporaryDirectory(prefix="humbot-song-") as d:
        work = Path(d)
        band = fluidsynth(
            plan.band,
            plan.band_soundfont,
            sr=sr,
            end_s=plan.duration_s,
            reverb=plan.fluid_reverb,
            workdir=work,
        )
        if plan.lead_part is not None:
            lead = fluidsynth(
                [plan.lead_part],
                plan.lead_soundfont,
                sr=sr,
                end_s=plan.duration_s,
                reverb=plan.fluid_reverb,
                workdir=work,
            )
        else:
            lead = sing_melody(plan, sr=sr, workdir=work)
    a = int(plan.melody[0].start * sr)
    b = int((plan.melody[-1].start + plan.melody[-1].dur) * sr)
    lead_rms, band_rms = effects.rms(lead[a:b]), effects.rms(band[a:b])
    if lead_rms <= 0 or band_rms <= 0:
        raise RuntimeError(f"song {plan.song_id}: a silent render (lead {lead_rms:.2g}, band {band_rms:.2g})")
    gain = effects.db(plan.melody_db) * band_rms / lead_rms
    mix = band + gain * lead
    if plan.master is not None:
        mix = effects.master(mix, sr, plan.master, np.random.default_rng(_stable("master|" + plan.song_id)))
    fade = min(len(mix), int(0.8 * sr))  # the tail fades out instead of stopping dead
    mix[len(mix) - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    mix = effects.peak_normalise(mix, -1.0)
    effects.encode(
        mix,
        sr,
        path,
        fmt,
        metadata={"title": plan.title, "artist": plan.artist, "album": "humbot evaluation set"},
    )
    return RenderedSong(path, len(mix) / sr, 20 * np.log10(lead_rms * gain), 20 * np.log10(band_rms))
