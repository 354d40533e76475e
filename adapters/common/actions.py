"""Button payloads that survive restarts: everything a button needs is in its own data.

Telegram ``callback_data`` (≤ 64 bytes) and Discord ``custom_id`` (≤ 100 characters) are sent
back verbatim when a button is pressed, possibly days later and after a restart. So a payload
carries the song id and offset itself instead of a key into memory:

* ``p:<song_id>:<offset_s>``  play the clip of a song from an offset (whole seconds)
* ``n:<query_id>:<song_id>``  "not it": the answer to query ``query_id`` was wrong
* ``s:<page>``               a page of the admin song list
* ``k:<key>``                keep an upload held as a duplicate (:mod:`core.pending`) as a version

:func:`decode` returns ``None`` for anything else (e.g. buttons of an older version); adapters
answer those with "this button has expired".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PAYLOAD = 64  # the smaller of the platforms' limits (Telegram)
_ID = r"[0-9A-Za-z_-]{1,24}"


@dataclass(frozen=True)
class Play:
    song_id: str
    offset_s: int


@dataclass(frozen=True)
class NotIt:
    query_id: str
    song_id: str


@dataclass(frozen=True)
class SongsPage:
    page: int


@dataclass(frozen=True)
class KeepVersion:
    key: str  # core.pending key: a prefix of the upload's sha256


Action = Play | NotIt | SongsPage | KeepVersion

_PATTERNS = {
    "p": re.compile(rf"^p:({_ID}):(\d{{1,6}})$"),
    "n": re.compile(rf"^n:({_ID}):({_ID})$"),
    "s": re.compile(r"^s:(\d{1,6})$"),
    "k": re.compile(r"^k:([0-9a-f]{1,24})$"),
}


def encode(action: Action) -> str:
    if isinstance(action, Play):
        data = f"p:{action.song_id}:{max(0, int(action.offset_s))}"
    elif isinstance(action, NotIt):
        data = f"n:{action.query_id}:{action.song_id}"
    elif isinstance(action, SongsPage):
        data = f"s:{max(0, int(action.page))}"
    elif isinstance(action, KeepVersion):
        data = f"k:{action.key}"
    else:  # pragma: no cover - a programming error
        raise TypeError(f"not an action: {action!r}")
    if len(data.encode()) > MAX_PAYLOAD or decode(data) != _normalised(action):
        raise ValueError(f"action does not fit a button payload: {action!r}")
    return data


def _normalised(action: Action) -> Action:
    if isinstance(action, Play):
        return Play(action.song_id, max(0, int(action.offset_s)))
    if isinstance(action, SongsPage):
        return SongsPage(max(0, int(action.page)))
    return action


def decode(data: str | None) -> Action | None:
    """The action a button payload stands for, or ``None`` when it is not one of ours."""
    if not data or len(data) > MAX_PAYLOAD:
        return None
    pattern = _PATTERNS.get(data[:1])
    m = pattern.match(data) if pattern else None
    if m is None:
        return None
    kind = data[:1]
    if kind == "p":
        return Play(m.group(1), int(m.group(2)))
    if kind == "n":
        return NotIt(m.group(1), m.group(2))
    if kind == "k":
        return KeepVersion(m.group(1))
    return SongsPage(int(m.group(1)))
