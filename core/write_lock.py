"""One writer at a time on a data directory, across every humbot process that shares it.

``humbot serve`` and the CLI (``songs add``, ``songs remove``, ``reindex``) may run at once on one
catalog. The parts of a write that must not interleave — checking that a file is new, storing it,
its vectors and its catalog row; deleting; a rebuild's final catch-up; the start-up clean-up of
interrupted imports, which would otherwise take another process's half-done import for debris —
run under this lock. The slow part of an import (decoding and embedding) runs outside it.

An OS file lock (:mod:`filelock`, ``fcntl.flock`` on Linux) is released by the kernel when its
process dies, so a crashed import never leaves the catalog locked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import filelock

from core.errors import CatalogBusy

#: How long a write waits for another process's. The longest holder is a reindex's catch-up
#: (re-embedding the songs added while it rebuilt: a few seconds each); an add holds it for
#: well under a second.
WAIT_S = 120.0


class WriteLock:
    """An async lock on ``<data_dir>/write.lock``: tasks of this process queue on an
    :class:`asyncio.Lock`, and the one at the front takes the file lock in a worker thread."""

    def __init__(self, data_dir: Path, wait_s: float = WAIT_S) -> None:
        self.path = data_dir / "write.lock"
        self.wait_s = wait_s
        # thread_local=False: acquired in one worker thread, released from another.
        self._file = filelock.FileLock(self.path, thread_local=False)
        self._tasks = asyncio.Lock()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._tasks:
            try:
                await asyncio.to_thread(self._file.acquire, timeout=self.wait_s)
            except filelock.Timeout:
                raise CatalogBusy() from None
            try:
                yield
            finally:
                self._file.release()
