"""Decoding every format users send, and every bad-input class with its user-facing message."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from audio_fixtures import SR, encode, tune

from core import audio
from core.errors import CorruptAudio, EmptyAudio, NotAudio, SilentAudio, TooLarge, TooShort

FORMATS = ["ogg", "mp3", "m4a", "flac", "wav", "webm", "mp4"]


@pytest.fixture(scope="module")
def melody() -> np.ndarray:
    return tune(11, notes=16)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decodes_each_format_to_mono_float32(melody: np.ndarray, fmt: str) -> None:
    data = encode(melody, fmt)
    out = audio.decode_bytes(data, sample_rate=16000, max_seconds=60, suffix=f".{fmt}")
    assert out.sample_rate == 16000
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert out.duration_s == pytest.approx(len(melody) / SR, abs=0.15)
    assert not out.truncated
    # The decoded signal is the tune (same envelope), not noise or silence.
    # Lossy codecs add a few ms of priming delay: allow a small lag.
    env_ref, env_out = _envelope(audio.Audio(melody, SR).resampled(16000).samples), _envelope(out.samples)
    n = min(len(env_ref), len(env_out)) - 10
    best = max(np.corrcoef(env_ref[:n], env_out[lag : lag + n])[0, 1] for lag in range(10))
    assert best > 0.8


def _envelope(y: np.ndarray, block: int = 160) -> np.ndarray:
    """Mean absolute amplitude per 10 ms block (16 kHz input)."""
    n = len(y) // block * block
    return np.abs(y[:n]).reshape(-1, block).mean(1)


def test_real_opus_voice_note_from_ffmpeg(melody: np.ndarray) -> None:
    data = encode(melody, "ogg")
    assert data[:4] == b"OggS"
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", "-"],
                           input=data, capture_output=True, check=True)
    assert probe.stdout.strip() == b"opus"
    out = audio.clean(audio.decode_bytes(data, sample_rate=16000, max_seconds=30), min_seconds=2)
    assert out.duration_s > 2


def test_long_input_is_capped_and_flagged(melody: np.ndarray) -> None:
    out = audio.decode_bytes(encode(melody, "ogg"), sample_rate=16000, max_seconds=3.0)
    assert out.truncated
    assert out.duration_s == pytest.approx(3.0, abs=0.02)


def test_clean_trims_silence_and_normalises_loudness() -> None:
    y = np.concatenate([np.zeros(SR), 0.05 * tune(3, notes=8), np.zeros(SR)]).astype(np.float32)
    out = audio.clean(audio.Audio(y, SR), min_seconds=1)
    assert out.duration_s < len(y) / SR - 1.5  # both silent seconds mostly gone
    rms = float(np.sqrt(np.mean(out.samples**2)))
    assert rms == pytest.approx(audio.TARGET_RMS, rel=0.2) or np.abs(out.samples).max() > 0.98


@pytest.mark.parametrize(
    ("make", "error", "phrase"),
    [
        (lambda: b"", EmptyAudio, "empty"),
        (lambda: b"hello, this is a text file\n" * 100, NotAudio, "doesn't look like audio"),
        (lambda: b"OggS" + bytes(range(256)) * 40, CorruptAudio, "damaged"),
        (lambda: b"ID3\x04\x00" + np.random.default_rng(1).bytes(20000), CorruptAudio, "damaged"),
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(5000), NotAudio, "doesn't look like audio"),
    ],
    ids=["empty", "text", "garbage-ogg", "garbage-mp3", "image"],
)
def test_unusable_files_raise_typed_errors_with_friendly_text(make, error, phrase) -> None:
    with pytest.raises(error) as info:
        out = audio.decode_bytes(make(), sample_rate=16000, max_seconds=30)
        audio.clean(out, min_seconds=2)
    assert phrase in info.value.user_message("en")
    assert info.value.user_message("zh") != info.value.user_message("en")
    assert "Traceback" not in str(info.value)


def test_silence_is_rejected() -> None:
    data = encode(np.zeros(SR * 5, np.float32), "ogg")
    with pytest.raises(SilentAudio) as info:
        audio.clean(audio.decode_bytes(data, sample_rate=16000, max_seconds=30), min_seconds=2)
    assert "couldn't hear anything" in str(info.value)


def test_faint_noise_counts_as_silence() -> None:
    noise = (np.random.default_rng(0).standard_normal(SR * 4) * 1e-4).astype(np.float32)
    with pytest.raises(SilentAudio):
        audio.clean(audio.Audio(noise, SR), min_seconds=2)


def test_too_short_names_the_length() -> None:
    data = encode(tune(4, notes=40)[: SR], "ogg")
    with pytest.raises(TooShort) as info:
        audio.clean(audio.decode_bytes(data, sample_rate=16000, max_seconds=30), min_seconds=2)
    assert "only 1.0 s long" in str(info.value) or "only 0.9 s long" in str(info.value)


def test_oversized_upload_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge) as info:
        audio.check_size(25 * 1024 * 1024, max_mb=20)
    assert "25.0 MB" in str(info.value) and "20 MB" in str(info.value)
    audio.check_size(19 * 1024 * 1024, max_mb=20)  # under the limit: no error


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_clip_is_an_excerpt_in_the_requested_format(tmp_path, fmt: str) -> None:
    src = tmp_path / "song.flac"
    src.write_bytes(encode(tune(5), "flac"))
    data = audio.encode_clip(src, start_s=4.0, duration_s=6.0, fmt=fmt)
    clip = tmp_path / f"clip.{fmt}"
    clip.write_bytes(data)
    out = audio.decode_file(clip, sample_rate=16000, max_seconds=60)
    assert out.duration_s == pytest.approx(6.0, abs=0.1)


def test_typed_errors_survive_pickling_across_processes() -> None:
    """A worker process's decoding error reaches the parent as the same typed, translated error."""
    import pickle

    from core.errors import CorruptAudio

    err = pickle.loads(pickle.dumps(CorruptAudio()))
    assert type(err) is CorruptAudio and err.key == CorruptAudio.key and str(err) == str(CorruptAudio())
