"""Queries: the ground truth holds (the audio follows the transposed, re-timed melody; a
recording sits at its offset), errors stay human-sized, and the files are real Opus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pytest

from evaluation.evalset.arrange import SongPlan, plan_song
from evaluation.evalset.effects import decode
from evaluation.evalset.queries import plan_recorded_query, plan_voice_query, render_query
from evaluation.evalset.render import render_song
from evaluation.evalset.scores import Melody

SR = 16000


@pytest.fixture(scope="module")
def song(melodies: list[Melody]) -> SongPlan:
    return plan_song(melodies[1], np.random.default_rng(11), song_id="q-song", sung=True)


def _pitch_track(path: Path) -> np.ndarray:
    """pYIN on the decoded file: MIDI pitch every 10 ms (NaN where unvoiced)."""
    f0, _, _ = librosa.pyin(
        decode(path, SR).astype(np.float64), fmin=60, fmax=900, sr=SR, frame_length=1024, hop_length=160
    )
    return librosa.hz_to_midi(f0)


def _pitch_hits(midi: np.ndarray, notes, tol: float = 0.5) -> float:
    """Share of notes (≥ 0.15 s) whose median pitch, mid-note, is within ``tol`` semitones."""
    hits = []
    for n in notes:
        if n.dur < 0.15:
            continue
        seg = midi[int((n.start + 0.3 * n.dur) * 100) : int((n.start + 0.8 * n.dur) * 100)]
        seg = seg[~np.isnan(seg)]
        hits.append(bool(len(seg)) and abs(float(np.median(seg)) - n.pitch) < tol)
    return float(np.mean(hits))


def _check_target_is_the_song(q, song: SongPlan) -> None:
    """The target notes are the song's melody from offset_s, transposed and re-timed as stated."""
    mel = [n for n in song.melody if n.start >= q.offset_s - 1e-3][: len(q.target)]
    for t, m in zip(q.target, mel):
        assert t.pitch == pytest.approx(m.pitch + q.key_shift + q.register_shift)
        assert q.offset_s + (t.start - q.lead_s) * q.tempo == pytest.approx(m.start, abs=1e-3)


@pytest.mark.parametrize("kind", ["hummed", "sung"])
def test_clean_voice_query_follows_the_transposed_melody(kind: str, song: SongPlan, tmp_path: Path) -> None:
    q = plan_voice_query(song, np.random.default_rng(3), query_id="q", kind=kind, clean=True, duration_s=9.0)
    assert abs(q.key_shift) <= 6 and 0.75 <= q.tempo <= 1.25 and 8 <= q.duration_s <= 15.5
    _check_target_is_the_song(q, song)
    midi = _pitch_track(render_query(q, tmp_path / f"{kind}.ogg", seed=3))
    # the query's own pitch track (pYIN, through Opus) sits on the target notes …
    assert _pitch_hits(midi, q.target) >= (0.85 if kind == "hummed" else 0.75)
    # … and not on the song's original key (unless the random shift happened to be tiny)
    if abs(q.key_shift) > 1:
        untransposed = [type(n)(n.start, n.dur, n.pitch - q.key_shift) for n in q.target]
        assert _pitch_hits(midi, untransposed) < 0.3


def test_query_files_are_deterministic_opus_voice_notes(song: SongPlan, tmp_path: Path) -> None:
    q = plan_voice_query(song, np.random.default_rng(4), query_id="q", kind="hummed")
    a = render_query(q, tmp_path / "a.ogg", seed=4)
    b = render_query(q, tmp_path / "b.ogg", seed=4)
    assert a.read_bytes() == b.read_bytes()
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(a)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    stream = probe["streams"][0]
    assert (
        probe["format"]["format_name"] == "ogg" and stream["codec_name"] == "opus" and stream["channels"] == 1
    )
    kbps = int(probe["format"]["bit_rate"]) / 1000
    assert 10 <= kbps <= 40 and q.channel.bitrate_kbps in (16, 20, 24, 28, 32)
    y = decode(a, SR)  # ffmpeg decodes it, to the planned length, not silent
    assert abs(len(y) / SR - q.duration_s) < 0.1 and np.sqrt(np.mean(y**2)) > 1e-3


def test_human_errors_stay_human(song: SongPlan) -> None:
    for seed in range(20):
        q = plan_voice_query(song, np.random.default_rng(seed), query_id="q", kind="hummed")
        e = q.errors
        assert e["wrong_notes"] <= 3 and e["missed_notes"] <= 2 and abs(e["drift_st"]) <= 1.0
        assert len(q.notes) == len(q.target) - e["missed_notes"]
        onsets = [n.start for n in q.notes]
        assert onsets == sorted(onsets)
        assert all(a.start + a.dur <= b.start + 1e-3 for a, b in zip(q.notes, q.notes[1:]))
        off = [abs(n.start - t.start) for n, t in zip(q.notes, q.target)] if not e["missed_notes"] else [0]
        assert max(off) < 1.0  # rhythm jitter, not a different tune


def test_recorded_query_is_the_song_at_its_offset(melodies: list[Melody], tmp_path: Path) -> None:
    plan = plan_song(melodies[2], np.random.default_rng(12), song_id="rec", sung=False)
    song_file = render_song(plan, tmp_path / "song.mp3", fmt="mp3").path
    q = plan_recorded_query(plan, np.random.default_rng(5), query_id="r")
    path = render_query(q, tmp_path / "r.ogg", song_file=song_file, seed=5)
    # find the query inside the song by onset-envelope cross-correlation
    hop = 160
    env_s = librosa.onset.onset_strength(y=decode(song_file, SR), sr=SR, hop_length=hop)
    env_q = librosa.onset.onset_strength(y=decode(path, SR), sr=SR, hop_length=hop)
    env_s, env_q = env_s - env_s.mean(), env_q - env_q.mean()
    corr = np.correlate(env_s, env_q, mode="valid")
    found = int(np.argmax(corr)) * hop / SR
    assert min(abs(found - o) for o in (q.offset_s, *q.alt_offsets_s)) < 0.05, (found, q.offset_s)
