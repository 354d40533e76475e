"""Real produced music from Debian's game-music packages, split by package.

Synthesised songs flatter a fingerprint: every note is a clean partial. These packages hold
real productions (orchestral, rock, electronic, chiptune, ambient) under free licences; a
package's tracks share composers and production, so the split is *by package*: the fit split
is what every choice (peak density, fan-out, thresholds) was made on, the held-out split is
only reported. Quake-style ``.pk3`` archives (zip files) are unpacked once into a cache.

``install_command()`` prints the ``apt-get`` line; nothing here installs anything.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: package → (split, glob of its tracks, or a .pk3 archive of them)
PACKAGES: dict[str, tuple[str, str]] = {
    "wesnoth-1.16-music": ("fit", "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"),
    "hyperrogue-music": ("fit", "/usr/share/hyperrogue/music/*.ogg"),
    "drascula-music": ("fit", "/usr/share/scummvm/drascula/audio/*.ogg"),
    "singularity-music": ("fit", "/usr/share/games/singularity/music/*.ogg"),
    "ufoai-music": ("held-out", "/usr/share/games/ufoai/base/0music.pk3"),
    "nexuiz-music": ("held-out", "/usr/share/games/nexuiz/data/music.pk3"),
    "warzone2100-music": ("held-out", "/usr/share/games/warzone2100/music/albums/**/*.opus"),
    "planetblupi-music-ogg": ("held-out", "/usr/share/planetblupi/music/*.ogg"),
    "asc-music": ("held-out", "/usr/share/games/asc/music/*.mp3"),
}
SPLITS = ("fit", "held-out")
AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav")


@dataclass(frozen=True)
class Track:
    track_id: str  # stable: package and file name
    package: str
    split: str
    path: Path


def install_command() -> str:
    return "apt-get install --no-install-recommends " + " ".join(PACKAGES)


def _unpack(archive: Path, cache: Path) -> list[Path]:
    out = cache / archive.stem
    done = out / ".unpacked"
    if not done.exists():
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.lower().endswith(AUDIO_SUFFIXES):
                    z.extract(name, out)
        done.touch()
    return sorted(p for p in out.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def tracks(cache: Path, *, splits: tuple[str, ...] = SPLITS) -> list[Track]:
    """Every installed track of the packages of ``splits``, sorted by id (packages not installed: none)."""
    found: list[Track] = []
    for package, (split, pattern) in PACKAGES.items():
        if split not in splits:
            continue
        root = Path(pattern.split("*")[0]).parent if "*" in pattern else Path(pattern)
        if pattern.endswith(".pk3"):
            files = _unpack(Path(pattern), cache / package) if Path(pattern).exists() else []
        else:
            rel = pattern[len(str(root)) + 1 :]
            files = sorted(root.glob(rel)) if root.exists() else []
        for f in files:
            tid = f"{package}/{f.stem}"
            if any(t.track_id == tid for t in found):
                tid = f"{tid}-{hashlib.sha1(str(f).encode()).hexdigest()[:6]}"
            found.append(Track(tid, package, split, f))
    return sorted(found, key=lambda t: t.track_id)
