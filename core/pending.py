"""Uploads held for an admin's decision: a duplicate's "Keep as a version" button.

A chat upload that looks like the same recording as a catalog song is not added; the admin is
asked, and may press "Keep as a version" minutes (or a restart) later. The button's payload
only carries a key (:data:`KEY_LEN` hex characters of the file's sha256, within Telegram's 64
bytes), so the file and what the admin typed wait here, on disk::

    pending/<key>.bin    the uploaded bytes
    pending/<key>.json   filename, title, artist, genre, added_by, when it was held

Held uploads older than :data:`MAX_AGE_S` are removed whenever another one is held.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.types import Upload

#: Hex characters of the sha256 in a key: 96 bits, unique among any catalog's pending uploads.
KEY_LEN = 24
#: How long an upload waits for the button: a day, time for an admin to come back to the chat.
MAX_AGE_S = 24 * 3600.0
_KEY = re.compile(rf"^[0-9a-f]{{{KEY_LEN}}}$")


@dataclass(frozen=True)
class HeldUpload:
    """What :meth:`HumService.add_song` needs to add the upload later."""

    filename: str
    title: str | None
    artist: str | None
    genre: str | None
    added_by: str | None
    held_at: float  # time.time() when held

    @classmethod
    def of(cls, upload: Upload, *, held_at: float) -> HeldUpload:
        return cls(
            upload["filename"],
            upload.get("title"),
            upload.get("artist"),
            upload.get("genre"),
            upload.get("added_by"),
            held_at,
        )

    def upload(self) -> Upload:
        """The upload's keywords for :meth:`HumService.add_song`."""
        return Upload(
            filename=self.filename,
            title=self.title,
            artist=self.artist,
            genre=self.genre,
            added_by=self.added_by,
        )


class PendingUploads:
    def __init__(self, root: Path, *, max_age_s: float = MAX_AGE_S) -> None:
        self.root = root
        self.max_age_s = max_age_s

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.bin", self.root / f"{key}.json"

    def hold(self, data: bytes, sha256: str, meta: HeldUpload) -> str:
        """Keep ``data`` with ``meta``; returns its key. Holding the same file again replaces the metadata."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.prune()
        key = sha256[:KEY_LEN]
        bin_path, meta_path = self._paths(key)
        for path, payload in ((bin_path, data), (meta_path, json.dumps(asdict(meta)).encode())):
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(payload)
            os.replace(tmp, path)  # the metadata goes last: a key with metadata has its bytes
        return key

    def get(self, key: str) -> tuple[bytes, HeldUpload] | None:
        """The held upload, or None when unknown or expired."""
        if not _KEY.match(key):
            return None
        bin_path, meta_path = self._paths(key)
        try:
            meta = HeldUpload(**json.loads(meta_path.read_text()))
            data = bin_path.read_bytes()
        except (OSError, ValueError, TypeError):
            return None
        if time.time() - meta.held_at > self.max_age_s:
            self.drop(key)
            return None
        return data, meta

    def drop(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def prune(self) -> None:
        """Remove held uploads older than ``max_age_s`` (and leftovers of interrupted writes)."""
        if not self.root.exists():
            return
        cutoff = time.time() - self.max_age_s
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except OSError:
                pass
