"""PANNs Cnn14 embeddings (2048-d, 32 kHz), per song window and per query.

The network is :class:`core.embedders.cnn14.Cnn14`, vendored from ``panns-inference`` (whose
import needs matplotlib and downloads a label file); torch loads only when an embedder is built.

Songs are embedded with one pass of the convolutional stack over the whole song (in blocks) and
the model's own pooling + ``fc1`` applied per window, rather than one forward pass per
overlapping window: the same embedding definition at half the CPU cost for a 50 % hop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.embedders.base import Embedder, l2_normalize
from core.types import Segments

if TYPE_CHECKING:
    import torch

    from core.embedders.cnn14 import Cnn14

log = logging.getLogger(__name__)

SAMPLE_RATE = 32000
HOP = 320  # STFT hop (samples): 100 frames/s
FEATURE_STRIDE = 32  # conv blocks 1-5 halve time each: 32 STFT frames per feature frame
FEATURE_RATE = SAMPLE_RATE / HOP / FEATURE_STRIDE  # feature frames per second (3.125)
CNN14_ARGS = dict(
    sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527
)
#: Audio processed per conv pass when embedding a song (a multiple of 0.32 s).
BLOCK_SECONDS = 40.96


class CheckpointMissing(FileNotFoundError):
    pass


def new_cnn14() -> Cnn14:
    """A Cnn14 with the AudioSet configuration, randomly initialised (eval mode)."""
    from core.embedders.cnn14 import Cnn14

    return Cnn14(**CNN14_ARGS).eval()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class PannsEmbedder(Embedder):
    name = "panns"
    version = "cnn14-1"
    dim = 2048
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        checkpoint: Path,
        *,
        device: str = "auto",
        window_s: float = 10.0,
        hop_s: float = 5.0,
        batch_size: int = 8,
    ) -> None:
        import torch

        if not checkpoint.is_file():
            raise CheckpointMissing(str(checkpoint))
        self.device = resolve_device(device)
        self.window_s, self.hop_s, self.batch_size = window_s, hop_s, batch_size
        model = new_cnn14()
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"] if "model" in state else state)
        self.model = model.to(self.device).eval()
        # One forward at a time per model: torch already uses every core for one batch.
        self._lock = threading.Lock()
        log.info("PANNs Cnn14 loaded from %s on %s", checkpoint, self.device)

    # -- model pieces ---------------------------------------------------------------------
    def _features(self, batch: np.ndarray) -> torch.Tensor:
        """(b, n) audio → (b, 2048, t) conv features, frequency already averaged."""
        import torch

        m = self.model
        x = torch.from_numpy(batch).to(self.device)
        x = m.spectrogram_extractor(x)
        x = m.logmel_extractor(x)
        x = m.bn0(x.transpose(1, 3)).transpose(1, 3)
        for block in (m.conv_block1, m.conv_block2, m.conv_block3, m.conv_block4, m.conv_block5):
            x = block(x, pool_size=(2, 2), pool_type="avg")
        x = m.conv_block6(x, pool_size=(1, 1), pool_type="avg")
        return torch.mean(x, dim=3)

    def _pool(self, feats: torch.Tensor) -> np.ndarray:
        """(w, 2048, t) features → (w, 2048) unit embeddings: Cnn14's max+mean pooling and fc1."""
        import torch
        import torch.nn.functional as F

        x = torch.amax(feats, dim=2) + torch.mean(feats, dim=2)
        x = F.relu(self.model.fc1(x))
        return l2_normalize(x.cpu().numpy())

    # -- Embedder -------------------------------------------------------------------------
    def embed_song(self, samples: np.ndarray) -> Segments:
        import torch

        block = int(BLOCK_SECONDS * SAMPLE_RATE)
        chunks = [samples[i : i + block] for i in range(0, max(len(samples), 1), block)]
        with self._lock, torch.inference_mode():
            feats = []
            for i in range(0, len(chunks), self.batch_size):
                group = chunks[i : i + self.batch_size]
                padded = np.zeros((len(group), block), dtype=np.float32)
                for j, c in enumerate(group):
                    padded[j, : len(c)] = c
                f = self._features(padded)  # (b, 2048, t_block)
                for j, c in enumerate(group):
                    valid = max(1, int(np.ceil(len(c) / HOP / FEATURE_STRIDE)))
                    feats.append(f[j, :, :valid])
            full = torch.cat(feats, dim=1)  # (2048, T)
            total = full.shape[1]
            win = max(1, round(self.window_s * FEATURE_RATE))
            hop = max(1, round(self.hop_s * FEATURE_RATE))
            starts = list(range(0, max(total - win, 0) + 1, hop))
            if starts[-1] + win < total:
                starts.append(total - win)  # cover the end of the song too
            windows = torch.stack([full[:, s : s + win] for s in starts]) if total >= win else full[None]
            vectors = self._pool(windows)
        starts_s = np.array([s / FEATURE_RATE for s in starts] if total >= win else [0.0], dtype=np.float32)
        return Segments(starts_s, vectors)

    def embed_queries(self, queries: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        longest = max(len(q) for q in queries)
        batch = np.zeros((len(queries), longest), dtype=np.float32)
        for i, q in enumerate(queries):
            batch[i, : len(q)] = q
        with self._lock, torch.inference_mode():
            feats = self._features(batch)
            out = []
            for i, q in enumerate(queries):
                valid = max(1, int(np.ceil(len(q) / HOP / FEATURE_STRIDE)))
                out.append(self._pool(feats[i : i + 1, :, :valid]))
        return out


def write_random_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save a randomly initialised Cnn14 in the real checkpoint's format (tests, benchmarks).

    Its embeddings have the right shape and cost but mean nothing: accuracy measured with it
    says nothing about PANNs.
    """
    import torch

    torch.manual_seed(seed)
    model = new_cnn14()
    # Random BatchNorm statistics, so the network is not an identity on normalised input.
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            assert mod.running_mean is not None and mod.running_var is not None  # Cnn14 tracks them
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, path)
    return path
