"""Recording prints: copies of one recording meet, other recordings of the same tune do not."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import SR, encode, reharmonised, tune

from core import audio as audio_mod
from core import same_recording as sr


def _print(data: bytes, suffix: str) -> sr.RecordingPrint:
    decoded = audio_mod.decode_bytes(data, sample_rate=SR, max_seconds=600, suffix=suffix)
    return sr.recording_print(decoded.samples, SR)


@pytest.fixture(scope="module")
def original() -> sr.RecordingPrint:
    return _print(encode(tune(3), "flac"), ".flac")


PAD_S = 1.0
TRIM_S = 3.0


@pytest.mark.parametrize(("make", "suffix", "offset_s"), [
    (lambda y: encode(y, "mp3", extra=("-b:a", "48k")), ".mp3", 0.0),
    (lambda y: encode(y, "ogg"), ".ogg", 0.0),  # Opus at 24 kb/s, a voice note's
    (lambda y: encode(0.5 * y, "m4a"), ".m4a", 0.0),  # −6 dB
    (lambda y: encode(y, "flac", extra=("-ar", "22050")), ".flac", 0.0),  # another sample rate
    (lambda y: encode(np.concatenate([np.zeros(int(PAD_S * SR), np.float32), y]), "mp3"), ".mp3", -PAD_S),
    (lambda y: encode(y[int(TRIM_S * SR):], "ogg"), ".ogg", TRIM_S),
], ids=["mp3-48k", "opus-24k", "aac-minus-6dB", "22kHz", "padded-1s", "trimmed-3s"])
def test_copies_of_a_recording_are_the_same_recording(original: sr.RecordingPrint, make, suffix: str,
                                                      offset_s: float) -> None:
    copy = _print(make(tune(3)), suffix)
    m = sr.compare(copy, original)
    assert m.similarity >= sr.SAME_THRESHOLD
    assert sr.is_same(m, copy.duration_s, original.duration_s)
    assert abs(m.offset_s - offset_s) <= 0.1  # a frame or two of codec delay


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_another_harmonisation_of_the_tune_is_not_the_same_recording(seed: int) -> None:
    """Same melody notes at the same times, other timbre and bass: chroma calls it the song, the print does not."""
    a = _print(encode(tune(seed), "flac"), ".flac")
    b = _print(encode(reharmonised(seed), "flac"), ".flac")
    m = sr.compare(b, a)
    assert abs(m.offset_s) <= 0.1  # it does align: the tune is the same…
    assert m.similarity < sr.SAME_THRESHOLD  # …the recording is not
    assert not sr.is_same(m, b.duration_s, a.duration_s)


def test_different_songs_and_silence_are_not_the_same_recording(original: sr.RecordingPrint) -> None:
    other = _print(encode(tune(4), "flac"), ".flac")
    assert sr.compare(other, original).similarity < 0.5
    silent = sr.recording_print(np.zeros(5 * SR, np.float32), SR)
    assert len(silent.peaks) == 0 and silent.duration_s == pytest.approx(5.0, abs=0.1)
    assert sr.compare(silent, original) == sr.Match(0.0, 0.0, 0.0)


def test_an_excerpt_is_not_a_version(original: sr.RecordingPrint) -> None:
    """Most of the song missing: the same audio, but a clip of it, not another copy of the recording."""
    excerpt = _print(encode(tune(3)[5 * SR : 12 * SR], "flac"), ".flac")
    m = sr.compare(excerpt, original)
    assert m.similarity >= sr.SAME_THRESHOLD and abs(m.offset_s - 5.0) <= 0.1
    assert not sr.is_same(m, excerpt.duration_s, original.duration_s)


def test_print_is_stored_and_read_back_and_other_versions_are_refused(original: sr.RecordingPrint) -> None:
    array = original.to_array()
    assert array.dtype == np.uint16 and array.shape == (len(original.peaks) + 1, 2)
    back = sr.RecordingPrint.from_array(array)
    assert back is not None and back.n_frames == original.n_frames
    assert np.array_equal(back.peaks, original.peaks)
    stale = array.copy()
    stale[0, 1] = sr.VERSION + 1
    assert sr.RecordingPrint.from_array(stale) is None
