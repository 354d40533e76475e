"""Voice-note queries of a song, with the errors real people make, and their ground truth.

Three kinds:

* **hummed** — the formant voice of :mod:`evaluation.evalset.hum` ("hm", "da", "na", …);
* **sung** — festival's singing mode, with the song's own words when the song is sung;
* **recorded** — the song itself played from a speaker in a room and recorded by a phone.

Hummed and sung queries take 8–15 s of the song's melody from a random note and add human
errors: their own key (±6 semitones, not necessarily in tune with A440), their own tempo
(×0.75–1.25), pitch drift, a few wrong or missed notes, imprecise intonation and rhythm. All
queries then go through a room, background noise, a phone's band limits and Opus at 16–32 kbps
in OGG (the real ffmpeg), like a Telegram voice note.

Ground truth (:class:`QueryPlan`): the song, ``offset_s`` — where in the song the query's first
note (or, for recordings, its first sample) is — and ``alt_offsets_s`` (other places where the
very same notes recur: repeats, second verses), ``key_shift`` in semitones, ``tempo`` (query
speed over song speed, > 1 = faster). To map a query time *t* to song time: ``offset_s +
(t - lead_s) * tempo``; a song pitch *p* sounds in the query at ``p + key_shift + register_shift``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evaluation.evalset import effects
from evaluation.evalset import singer as synth
from evaluation.evalset.arrange import IT_SYLLABLES, SongPlan
from evaluation.evalset.festival import FESTIVAL_SR, MAX_SUNG_MIDI, SINGERS, SungNote, sing, singer
from evaluation.evalset.hum import SYLLABLES, HumNote, HumVoice, hum, random_voice

QUERY_SR = 16000
KINDS = ("hummed", "sung", "recorded")
BITRATES_KBPS = (16, 20, 24, 28, 32)


@dataclass(frozen=True)
class QueryNote:
    start: float  # seconds in the query
    dur: float
    pitch: float  # MIDI as performed (fractional)


@dataclass(frozen=True)
class Channel:
    """What happens between the voice (or speaker) and the file."""

    rt60: float
    drr_db: float
    noise: str
    snr_db: float
    lo_hz: float
    hi_hz: float
    drive: float  # soft-clipping drive (1 = clean)
    peak_db: float
    bitrate_kbps: int


@dataclass(frozen=True)
class QueryPlan:
    query_id: str
    kind: str  # "hummed" | "sung" | "recorded"
    song_id: str | None  # the catalog song it should find; None for an out-of-catalog query
    source_id: str  # the song (in the catalog or not) it was taken from
    offset_s: float
    alt_offsets_s: tuple[float, ...]
    excerpt_s: float  # song seconds the query covers
    key_shift: float  # semitones (its key), not counting register_shift
    register_shift: int  # whole octaves (in semitones) to the performer's range
    tempo: float
    duration_s: float  # length of the query audio
    lead_s: float  # silence before the first note (hummed/sung) in the query
    performer: str  # "hum:hm/female", "festival:kal_diphone", "phone"
    notes: tuple[QueryNote, ...]  # as performed, errors included (hummed/sung)
    target: tuple[QueryNote, ...]  # the same notes without the errors
    errors: dict = field(default_factory=dict)
    voice: dict = field(default_factory=dict)  # HumVoice fields (hummed)
    words: tuple[str, ...] = ()  # sung
    channel: Channel | None = None

    def truth(self) -> dict:
        """The JSON-able ground truth (everything but the note lists)."""
        d = asdict(self)
        d.pop("notes")
        d.pop("target")
        return d


# ------------------------------------------------------------------------------ excerpts


def _occurrences(mel, i: int, j: int) -> list[float]:
    """Song times where the notes mel[i:j] recur exactly (same pitches and rhythm)."""
    k = j - i
    pat_p = [n.pitch for n in mel[i:j]]
    pat_t = np.diff([n.start for n in mel[i:j]])
    out = []
    for s in range(0, len(mel) - k + 1):
        if s == i or [n.pitch for n in mel[s : s + k]] != pat_p:
            continue
        if np.allclose(np.diff([n.start for n in mel[s : s + k]]), pat_t, atol=2e-3):
            out.append(round(mel[s].start, 3))
    return out


def _pick_excerpt(song: SongPlan, rng: np.random.Generator, song_span: float) -> tuple[int, int, float]:
    """A random start note whose following ``song_span`` seconds stay inside the melody:
    (first note, end note (exclusive), start time)."""
    mel = song.melody
    end = mel[-1].start + mel[-1].dur
    ok = [i for i, n in enumerate(mel) if n.start + song_span <= end + 1e-6]
    if not ok:
        ok = [0]
    i = int(rng.choice(ok))
    s0 = mel[i].start
    j = i
    while j < len(mel) and mel[j].start < s0 + song_span - 0.05:
        j += 1
    return i, max(j, i + 1), s0


def _persona(rng: np.random.Generator) -> tuple[str, float, float]:
    """(who, comfortable median MIDI pitch, formant scale)."""
    who = str(rng.choice(["male", "female", "child"], p=[0.45, 0.45, 0.1]))
    center = {"male": rng.uniform(47, 55), "female": rng.uniform(57, 65), "child": rng.uniform(63, 69)}[who]
    scale = {
        "male": rng.uniform(0.95, 1.05),
        "female": rng.uniform(1.12, 1.2),
        "child": rng.uniform(1.25, 1.35),
    }[who]
    return who, float(center), float(scale)


def _perform(target: list[QueryNote], rng: np.random.Generator, *, clean: bool, legato: float):
    """Human errors on the target notes: missed and wrong notes, intonation, drift, rhythm."""
    if clean:
        return [QueryNote(n.start, n.dur * legato, n.pitch) for n in target], {
            "wrong_notes": 0,
            "missed_notes": 0,
            "drift_st": 0.0,
            "pitch_sd_st": 0.0,
            "timing_sd_s": 0.0,
        }
    notes = list(target)
    n = len(notes)
    missed = 0
    if n > 6:
        for _ in range(int(rng.binomial(n, 0.03))):
            if missed >= 2 or len(notes) <= 6:
                break
            k = int(rng.integers(1, len(notes)))
            prev = notes[k - 1]
            gone = notes.pop(k)
            notes[k - 1] = QueryNote(prev.start, gone.start + gone.dur - prev.start, prev.pitch)  # held over
            missed += 1
    wrong = 0
    pitches = [nn.pitch for nn in notes]
    for _ in range(min(3, int(rng.binomial(len(notes), 0.04)))):
        k = int(rng.integers(0, len(notes)))
        pitches[k] += float(rng.choice([-2, -1, 1, 2]))
        wrong += 1
    pitch_sd = float(rng.uniform(0.05, 0.3))
    drift = float(rng.uniform(-1.0, 1.0))
    total = max(nn.start + nn.dur for nn in notes)
    walk = np.cumsum(rng.normal(0, 0.04, len(notes)))
    timing_sd = float(rng.uniform(0.01, 0.04))
    wobble_amp, wobble_hz = rng.uniform(0.0, 0.04), rng.uniform(0.05, 0.2)  # local tempo wander
    out: list[QueryNote] = []
    t0 = notes[0].start
    for k, nn in enumerate(notes):
        rel = nn.start - t0
        warp = rel + wobble_amp * np.sin(2 * np.pi * wobble_hz * rel) / (2 * np.pi * wobble_hz)
        start = t0 + warp + (rng.normal(0, timing_sd) if k else 0.0)
        p = pitches[k] + rng.normal(0, pitch_sd) + drift * (nn.start - t0) / max(total - t0, 1e-3) + walk[k]
        out.append(QueryNote(start, nn.dur, float(p)))
    fixed: list[QueryNote] = []
    for k, nn in enumerate(out):  # keep onsets ordered and notes from overlapping
        start = max(nn.start, fixed[-1].start + 0.06) if fixed else nn.start
        nxt = out[k + 1].start if k + 1 < len(out) else start + nn.dur
        dur = max(0.05, min(nn.dur, nxt - start) * legato) if k + 1 < len(out) else nn.dur * legato
        fixed.append(QueryNote(round(start, 4), round(dur, 4), round(nn.pitch, 3)))
    errors = {
        "wrong_notes": wrong,
        "missed_notes": missed,
        "drift_st": round(drift, 3),
        "pitch_sd_st": round(pitch_sd, 3),
        "timing_sd_s": round(timing_sd, 4),
    }
    return fixed, errors


def _voice_channel(rng: np.random.Generator, clean: bool) -> Channel:
    if clean:
        return Channel(0.0, 99.0, "none", 99.0, 0.0, 0.0, 1.0, -3.0, int(rng.choice(BITRATES_KBPS)))
    return Channel(
        rt60=round(float(rng.uniform(0.15, 0.7)), 3),
        drr_db=round(float(rng.uniform(3, 15)), 2),
        noise=str(rng.choice(effects.NOISE_KINDS)),
        snr_db=round(float(rng.uniform(8, 30)), 2),
        lo_hz=round(float(rng.uniform(80, 250)), 1),
        hi_hz=round(float(rng.uniform(3400, 7500)), 1),
        drive=round(float(rng.choice([1.0, 1.0, 1.0, rng.uniform(1.5, 4.0)])), 3),
        peak_db=round(float(rng.uniform(-12, -1)), 2),
        bitrate_kbps=int(rng.choice(BITRATES_KBPS)),
    )


def plan_voice_query(
    song: SongPlan,
    rng: np.random.Generator,
    *,
    query_id: str,
    kind: str,
    in_catalog: bool = True,
    clean: bool = False,
    duration_s: float | None = None,
    voices: Sequence[str] = (),
) -> QueryPlan:
    """A hummed or sung query of ``song``. ``clean``: no errors, room or noise (key and tempo
    still change) — for tests that check the ground truth. ``voices``: hum and sing with these
    voices of :mod:`evaluation.evalset.singer` (family B) instead of :mod:`evaluation.evalset.hum` and festival."""
    if kind not in ("hummed", "sung"):
        raise ValueError(kind)
    total = duration_s or float(rng.uniform(8.0, 15.0))
    lead = float(rng.uniform(0.2, 0.8))
    tail = float(rng.uniform(0.3, 0.8))
    tempo = float(rng.uniform(0.75, 1.25))
    key_shift = round(float(rng.uniform(-6.0, 6.0)), 3)
    i, j, s0 = _pick_excerpt(song, rng, (total - lead - tail) * tempo)
    span_end = s0 + (total - lead - tail) * tempo
    mel = song.melody
    target: list[QueryNote] = []
    for n in mel[i:j]:
        end = min(n.start + n.dur, span_end)
        target.append(
            QueryNote(lead + (n.start - s0) / tempo, max(0.05, (end - n.start) / tempo), n.pitch + key_shift)
        )
    med = float(np.median([n.pitch for n in target]))
    words: tuple[str, ...] = ()
    voice: dict = {}
    if voices:
        vname = str(voices[int(rng.integers(len(voices)))])
        sv = synth.voice_from_id(vname)
        register = 12 * int(round((sv.center + rng.uniform(-3, 3) - med) / 12))
        if kind == "hummed":
            syl = str(rng.choice(synth.HUM_SYLLABLES))
            voice = {"synth_voice": vname, "hum": syl}
            performer = f"synth-hum:{syl}/{vname}"
            legato = 1.0 if syl in ("m", "mm") else float(rng.uniform(0.75, 0.95))
        else:
            same = (
                song.sung
                and synth.is_synthetic(song.lead_name)
                and synth.voice_from_id(song.lead_name).language == sv.language
            )
            words = (
                tuple(song.lyrics[i:j])
                if same
                else tuple(str(w) for w in rng.choice(synth.LANGUAGES[sv.language], size=j - i))
            )
            voice = {"synth_voice": vname}
            performer = f"synth:{vname}"
            legato = float(rng.uniform(0.8, 1.0))
    elif kind == "hummed":
        who, center, scale = _persona(rng)
        register = 12 * int(round((center - med) / 12))
        syl = str(rng.choice(SYLLABLES, p=[0.35, 0.1, 0.2, 0.15, 0.1, 0.1]))
        hv = random_voice(rng, syl, scale)
        voice = asdict(hv)
        performer = f"hum:{syl}/{who}"
        legato = 1.0 if syl in ("hm", "mm") else float(rng.uniform(0.75, 0.95))
    else:
        singers = list(SINGERS)
        if song.sung:  # people sing the words they know; same language, so same kind of voice
            lang = singer(song.lead_name).language
            singers = [s for s in singers if s.language == lang] or singers
        sg = singers[int(rng.integers(len(singers)))]
        register = 12 * int(round((sg.center + rng.uniform(-3, 3) - med) / 12))
        while max(n.pitch for n in target) + register > MAX_SUNG_MIDI - 1.5:  # room for drift/errors
            register -= 12
        if song.sung and singer(song.lead_name).language == sg.language:
            words = tuple(song.lyrics[i:j])
        else:
            pool = IT_SYLLABLES if sg.language == "it" else ("la", "da", "na", "doo", "oh")
            words = tuple(str(w) for w in rng.choice(pool, size=j - i))
        voice = {"festival_voice": sg.name}
        performer = f"festival:{sg.name}"
        legato = float(rng.uniform(0.85, 1.0))
    target = [QueryNote(n.start, n.dur, n.pitch + register) for n in target]
    notes, errors = _perform(target, rng, clean=clean, legato=legato)
    if kind == "sung":
        if not voices:
            notes = [QueryNote(n.start, n.dur, min(n.pitch, MAX_SUNG_MIDI)) for n in notes]
        words = (
            words[: len(notes)] if len(words) >= len(notes) else words + ("la",) * (len(notes) - len(words))
        )
        if len(notes) < len(target):  # a missed note: its word goes too
            words = tuple(words[: len(notes)])
    end = max(n.start + n.dur for n in notes)
    return QueryPlan(
        query_id=query_id,
        kind=kind,
        song_id=song.song_id if in_catalog else None,
        source_id=song.song_id,
        offset_s=s0,
        alt_offsets_s=tuple(_occurrences(mel, i, j)),
        excerpt_s=round(span_end - s0, 4),
        key_shift=key_shift,
        register_shift=register,
        tempo=round(tempo, 4),
        duration_s=round(end + tail, 4),
        lead_s=round(lead, 4),
        performer=performer,
        notes=tuple(notes),
        target=tuple(target),
        errors=errors,
        voice=voice,
        words=words,
        channel=_voice_channel(rng, clean),
    )


def plan_recorded_query(
    song: SongPlan,
    rng: np.random.Generator,
    *,
    query_id: str,
    in_catalog: bool = True,
    duration_s: float | None = None,
) -> QueryPlan:
    """A phone recording of the song playing from a speaker across a room."""
    total = duration_s or float(rng.uniform(8.0, 15.0))
    start = round(float(rng.uniform(0.0, max(0.0, song.duration_s - total - 0.5))), 3)
    pass_len = song.passes[1] - song.passes[0] if len(song.passes) > 1 else None
    alt = ()
    if pass_len:
        alt = tuple(
            round(start + k * pass_len, 3)
            for k in range(-len(song.passes), len(song.passes) + 1)
            if k and 0 <= start + k * pass_len <= song.duration_s - total
        )
    ch = Channel(
        rt60=round(float(rng.uniform(0.25, 0.9)), 3),
        drr_db=round(float(rng.uniform(0, 10)), 2),
        noise=str(rng.choice(["babble", "street", "pink", "fan", "brown"])),
        snr_db=round(float(rng.uniform(3, 20)), 2),
        lo_hz=round(float(rng.uniform(150, 400)), 1),
        hi_hz=round(float(rng.uniform(4000, 7500)), 1),
        drive=round(float(rng.uniform(1.0, 2.5)), 3),
        peak_db=round(float(rng.uniform(-10, -1)), 2),
        bitrate_kbps=int(rng.choice(BITRATES_KBPS)),
    )
    return QueryPlan(
        query_id=query_id,
        kind="recorded",
        song_id=song.song_id if in_catalog else None,
        source_id=song.song_id,
        offset_s=start,
        alt_offsets_s=alt,
        excerpt_s=round(total, 4),
        key_shift=0.0,
        register_shift=0,
        tempo=1.0,
        duration_s=round(total, 4),
        lead_s=0.0,
        performer="phone",
        notes=(),
        target=(),
        channel=ch,
    )


# ------------------------------------------------------------------------------ rendering


def _through_channel(y: np.ndarray, ch: Channel, rng: np.random.Generator, sr: int) -> np.ndarray:
    if ch.drive > 1.0:
        y = np.tanh(ch.drive * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)
    if ch.rt60 > 0:
        y = effects.apply_ir(y, effects.room_ir(rng, sr, rt60=ch.rt60, drr_db=ch.drr_db))
    if ch.noise != "none":
        y = effects.add_noise(y, effects.background(ch.noise, len(y), sr, rng), ch.snr_db)
    if ch.lo_hz or ch.hi_hz:
        y = effects.bandlimit(y, sr, ch.lo_hz or None, ch.hi_hz or None)
    return effects.peak_normalise(y, ch.peak_db)


def render_query(q: QueryPlan, path: Path, *, song_file: Path | None = None, seed: int = 0) -> Path:
    """Execute a query plan into an OGG/Opus file at ``path``. ``song_file``: the rendered song
    (recorded queries only). ``seed`` drives the noise and room samples."""
    rng = np.random.default_rng([seed, 7])
    sr = QUERY_SR
    n = int(round(q.duration_s * sr))
    if "synth_voice" in q.voice:
        sv = synth.voice_from_id(q.voice["synth_voice"])
        if q.kind == "hummed":
            notes = [synth.SungSyllable(x.start, x.dur, x.pitch, "m") for x in q.notes]
            y = synth.hum_line(notes, sv, sr=sr, total_s=q.duration_s, rng=rng, syllable=q.voice["hum"])
        else:
            notes = [synth.SungSyllable(x.start, x.dur, x.pitch, w) for x, w in zip(q.notes, q.words)]
            y = synth.sing(notes, sv, sr=sr, total_s=q.duration_s, rng=rng)
    elif q.kind == "hummed":
        notes = [HumNote(x.start, x.dur, x.pitch) for x in q.notes]
        y = hum(notes, HumVoice(**q.voice), sr=sr, total_s=q.duration_s, rng=rng)
    elif q.kind == "sung":
        sung = [SungNote(x.start, x.dur, x.pitch, w) for x, w in zip(q.notes, q.words)]
        with tempfile.TemporaryDirectory(prefix="humbot-q-") as d:
            y = sing(sung, q.voice["festival_voice"], workdir=Path(d))
        assert FESTIVAL_SR == sr
    elif q.kind == "recorded":
        if song_file is None:
            raise ValueError("a recorded query needs the song's file")
        y = effects.decode(song_file, sr, start_s=q.offset_s, duration_s=q.duration_s)
        # a phone speaker: no bass, little treble, a resonance
        y = effects.bandlimit(y, sr, q.channel.lo_hz, q.channel.hi_hz)
    else:
        raise ValueError(q.kind)
    y = np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)
    if q.kind == "recorded":
        mic = Channel(
            q.channel.rt60,
            q.channel.drr_db,
            q.channel.noise,
            q.channel.snr_db,
            90.0,
            7800.0,
            q.channel.drive,
            q.channel.peak_db,
            q.channel.bitrate_kbps,
        )
        y = _through_channel(y, mic, rng, sr)
    else:
        y = _through_channel(y, q.channel, rng, sr)
    # Opus always decodes at 48 kHz; feeding libopus 16 kHz directly spares a resampler
    return effects.encode(y, sr, path, "ogg", bitrate_kbps=q.channel.bitrate_kbps)
