"""One SwiftF0 run per query, however many parts of a search read it (core.voice_pitch)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from audio_fixtures import tune

from core.voice_pitch import VoicePitch


def test_the_same_audio_is_tracked_once_even_by_two_threads_at_once() -> None:
    vp = VoicePitch()
    runs = []
    detect = vp._f0.detect

    def counted(*args, **kw):
        runs.append(1)
        return detect(*args, **kw)

    vp._f0.detect = counted  # count the model's runs; the cache around it is what is tested
    hum = tune(3, voice=True, sr=16000)[: 8 * 16000]
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda x: vp.detect(x, 16000, fmin=80.0, fmax=1000.0), [hum, hum.copy()])
    assert a is b and len(runs) == 1
    other = vp.detect(tune(4, voice=True, sr=16000)[: 8 * 16000], 16000, fmin=80.0, fmax=1000.0)
    assert len(runs) == 2 and not np.array_equal(other.pitch_hz[:100], a.pitch_hz[:100])
    assert vp.detect(hum, 16000, fmin=100.0, fmax=1000.0) is not a  # other settings, another track
