"""PANNs' Cnn14 network (Kong et al. 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks
for Audio Pattern Recognition"), as the ``panns-inference`` package 0.1.1 defines it.

Vendored (MIT licence: :file:`vendored/panns_inference-LICENSE`) rather than depended on: that package's
``models`` module imports matplotlib at its top and its ``__init__`` downloads a label file
(``wget``) at import, and humbot needs neither — only these layers, with the same names, so the
published checkpoint (``Cnn14_mAP=0.431.pth``) loads as it is. The layers are built and
initialised in the original's order, so a seeded random network (the tests' checkpoint) is the
same one too. The training-only parts (SpecAugmentation, mixup) are left out: humbot runs the
network in eval mode only, where they do nothing, and they hold no weights.

:mod:`core.embedders.panns` reads the layers directly (one conv pass per song block, pooling per
window); :meth:`Cnn14.forward` is the original's eval-mode forward, for checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchlibrosa.stft import LogmelFilterBank, Spectrogram


def _init_layer(layer: nn.Conv2d | nn.Linear) -> None:
    """Xavier-uniform weights, zero bias (the original's ``init_layer``)."""
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        layer.bias.data.fill_(0.0)


def _init_bn(bn: nn.BatchNorm2d) -> None:
    bn.bias.data.fill_(0.0)
    bn.weight.data.fill_(1.0)


class ConvBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and ReLU, then 2-D pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False
        )
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        _init_layer(self.conv1)
        _init_layer(self.conv2)
        _init_bn(self.bn1)
        _init_bn(self.bn2)

    def forward(
        self, x: torch.Tensor, pool_size: tuple[int, int] = (2, 2), pool_type: str = "avg"
    ) -> torch.Tensor:
        """(b, c_in, t, f) → (b, c_out, t / pool, f / pool); ``pool_type``: avg | max | avg+max."""
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        if pool_type == "max":
            return F.max_pool2d(x, kernel_size=pool_size)
        if pool_type == "avg":
            return F.avg_pool2d(x, kernel_size=pool_size)
        if pool_type == "avg+max":
            return F.avg_pool2d(x, kernel_size=pool_size) + F.max_pool2d(x, kernel_size=pool_size)
        raise ValueError(f"pool_type must be avg, max or avg+max, not {pool_type!r}")


class Cnn14(nn.Module):
    """Log-mel front end (``spectrogram_extractor``, ``logmel_extractor``, ``bn0``), six
    :class:`ConvBlock` s (64 … 2048 channels), ``fc1`` (the 2048-d embedding) and
    ``fc_audioset`` (``classes_num`` AudioSet classes)."""

    def __init__(
        self,
        sample_rate: int,
        window_size: int,
        hop_size: int,
        mel_bins: int,
        fmin: float,
        fmax: float,
        classes_num: int,
    ) -> None:
        super().__init__()
        self.spectrogram_extractor = Spectrogram(
            n_fft=window_size,
            hop_length=hop_size,
            win_length=window_size,
            window="hann",
            center=True,
            pad_mode="reflect",
            freeze_parameters=True,
        )
        self.logmel_extractor = LogmelFilterBank(
            sr=sample_rate,
            n_fft=window_size,
            n_mels=mel_bins,
            fmin=fmin,
            fmax=fmax,
            ref=1.0,
            amin=1e-10,
            top_db=None,
            freeze_parameters=True,
        )
        self.bn0 = nn.BatchNorm2d(mel_bins)
        self.conv_block1 = ConvBlock(1, 64)
        self.conv_block2 = ConvBlock(64, 128)
        self.conv_block3 = ConvBlock(128, 256)
        self.conv_block4 = ConvBlock(256, 512)
        self.conv_block5 = ConvBlock(512, 1024)
        self.conv_block6 = ConvBlock(1024, 2048)
        self.fc1 = nn.Linear(2048, 2048, bias=True)
        self.fc_audioset = nn.Linear(2048, classes_num, bias=True)
        _init_bn(self.bn0)
        _init_layer(self.fc1)
        _init_layer(self.fc_audioset)

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """(b, n) audio at ``sample_rate`` → ``clipwise_output`` (b, classes_num) and
        ``embedding`` (b, 2048), in eval mode (no dropout)."""
        x = self.logmel_extractor(self.spectrogram_extractor(audio))  # (b, 1, t, mel)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for block in (
            self.conv_block1,
            self.conv_block2,
            self.conv_block3,
            self.conv_block4,
            self.conv_block5,
        ):
            x = block(x, pool_size=(2, 2), pool_type="avg")
        x = torch.mean(self.conv_block6(x, pool_size=(1, 1), pool_type="avg"), dim=3)
        x = torch.amax(x, dim=2) + torch.mean(x, dim=2)
        embedding = F.relu_(self.fc1(x))
        return {"clipwise_output": torch.sigmoid(self.fc_audioset(embedding)), "embedding": embedding}
