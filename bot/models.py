"""Fetching model checkpoints — only ever on an explicit ``humbot models download``.

The PANNs Cnn14 checkpoint is published on Zenodo (record 3987831). The download streams to a
``.part`` file with a progress bar, verifies the MD5 Zenodo publishes, and only then renames it
into place, so an interrupted or corrupted download never leaves a file the service would load.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm


@dataclass(frozen=True)
class Checkpoint:
    url: str
    md5: str
    approx_mb: int


CNN14 = Checkpoint(
    url="https://zenodo.org/records/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",
    md5="541141fa2ee191a88f24a3219fff024e",
    approx_mb=327,
)


class DownloadError(RuntimeError):
    pass


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(checkpoint: Checkpoint, dest: Path, *, timeout_s: float = 60.0, progress: bool = True) -> Path:
    """Download ``checkpoint`` to ``dest`` (no-op if a verified file is already there)."""
    if dest.is_file() and md5_of(dest) == checkpoint.md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(checkpoint.url, timeout=timeout_s) as resp:  # noqa: S310 (https URL from code)
            total = int(resp.headers.get("Content-Length") or 0) or None
            h = hashlib.md5()
            with (
                part.open("wb") as f,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=not progress,
                ) as bar,
            ):
                while block := resp.read(1 << 20):
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
        if total is not None and part.stat().st_size != total:
            raise DownloadError(f"download incomplete: {part.stat().st_size} of {total} bytes")
        if h.hexdigest() != checkpoint.md5:
            raise DownloadError(f"checksum mismatch: got md5 {h.hexdigest()}, expected {checkpoint.md5}")
        os.replace(part, dest)
    except OSError as e:
        raise DownloadError(f"could not download {checkpoint.url}: {e}") from None
    finally:
        part.unlink(missing_ok=True)
    return dest
