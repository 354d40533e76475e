"""Multi-pitch posteriorgram of a polyphonic mix from Basic Pitch (Spotify, ICASSP 2022).

Basic Pitch is a small CNN trained on mixes of instruments and voices; its "contour" output is,
per frame, the probability that some source sounds at each pitch (3 bins per semitone from A0).
Its ONNX weights (228 kB, Apache 2.0) are vendored from the ``basic-pitch==0.4.0`` wheel in
``weights/basic_pitch/`` with their licence: the package itself declares TensorFlow as a
dependency, which nothing here uses. The file runs through onnxruntime.

Audio is cut into the model's 2 s windows with 30 frames of overlap, exactly as
``basic_pitch.inference.run_inference`` does, and the overlaps are trimmed off again.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from core import threads as thread_budget
from core.errors import ConfigError

MODEL_SAMPLE_RATE = 22050
HOP = 256  # samples per output frame at MODEL_SAMPLE_RATE (86.13 frames/s)
FRAME_RATE = MODEL_SAMPLE_RATE / HOP
BINS_PER_OCTAVE = 36
FMIN_HZ = 27.5  # bin 0: A0
N_BINS = 264
_WINDOW = MODEL_SAMPLE_RATE * 2 - HOP  # model input, samples
_OVERLAP_FRAMES = 30
_STEP = _WINDOW - _OVERLAP_FRAMES * HOP
_BATCH = 16  # windows per model call (32 s of audio)


#: Basic Pitch's ICASSP 2022 model, unchanged from its wheel (weights/basic_pitch/README.md).
MODEL_PATH = Path(__file__).with_name("weights") / "basic_pitch" / "nmp.onnx"


def model_path() -> Path:
    if not MODEL_PATH.is_file():
        raise ConfigError(detail=f"Basic Pitch's model file is missing ({MODEL_PATH}): reinstall humbot")
    return MODEL_PATH


class PitchPosterior:
    """``posterior(samples, sr)`` → (frames, N_BINS) float32 in [0, 1] at :data:`FRAME_RATE`."""

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # A job's thread budget (core.threads: one), like SwiftF0: the service runs
        # `limits.workers` jobs side by side.
        opts.intra_op_num_threads = thread_budget.onnx_threads() if threads is None else threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path()), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        # Outputs are named after TensorFlow's graph; "contour" is the one with N_BINS bins.
        self._output = next(o.name for o in self._session.get_outputs() if o.shape[-1] == N_BINS)
        # No lock: InferenceSession.run is thread-safe, so two imports can run the model at once.

    def posterior(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        windows, n_frames = self.windows(samples, sample_rate)
        batches = [windows[b : b + _BATCH] for b in range(0, len(windows), _BATCH)]
        return self.assemble([self.run(batch) for batch in batches], n_frames)

    # The three steps of `posterior`, for a caller that runs the model's batches in parallel: a
    # window's output does not depend on the batch it is in (checked to the bit).
    def windows(self, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        """The model's input windows (w, _WINDOW, 1) for a mono signal, and the frames it yields."""
        y = librosa.resample(
            np.asarray(samples, np.float32), orig_sr=sample_rate, target_sr=MODEL_SAMPLE_RATE
        )
        n_frames = int(np.floor(len(y) * FRAME_RATE / MODEL_SAMPLE_RATE))
        y = np.concatenate([np.zeros(_OVERLAP_FRAMES * HOP // 2, np.float32), y.astype(np.float32)])
        starts = range(0, len(y), _STEP)
        windows = np.zeros((len(starts), _WINDOW, 1), np.float32)
        for i, s in enumerate(starts):
            chunk = y[s : s + _WINDOW]
            windows[i, : len(chunk), 0] = chunk
        return windows, n_frames

    def run(self, windows: np.ndarray) -> np.ndarray:
        """The model on a batch of windows: (w, frames per window, N_BINS)."""
        out: np.ndarray = self._session.run([self._output], {self._input: windows})[0]
        return out

    @staticmethod
    def assemble(outs: list[np.ndarray], n_frames: int) -> np.ndarray:
        """The batches' outputs, in order, with the overlaps trimmed: (n_frames, N_BINS)."""
        half = _OVERLAP_FRAMES // 2
        post = np.concatenate(outs)[:, half:-half, :].reshape(-1, N_BINS)
        return post[:n_frames].astype(np.float32)
