"""A write generation shared by every server process, so that each can cache reads safely.

A 64-bit counter in a small memory-mapped file next to the database. Writers change it only while
they hold the cross-process write lock: to an odd value before their transaction begins, to the
next (even) value after it commits. A reader that saw the same even value before and after a
database read knows that no write was in progress or committed in between, so what it read is
still current for as long as the counter keeps that value. Reading the counter is a memory read,
about a hundredth of a SQLite query.

Why it is safe (see `ObjectCache`): a commit that a cached entry does not reflect made the counter
odd before it began, so from then on the entry is never served; before that commit, the entry
was what the database held too. A write still in flight (odd) turns caching off, so a client
can never read a newer value from the database and then an older one from a cache. A process
killed mid-write leaves the counter odd; the next writer moves it on to a fresh even value.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class ChangeSignal:
    """The shared write generation of one database file."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < mmap.PAGESIZE:
                os.ftruncate(fd, mmap.PAGESIZE)
            self._map = mmap.mmap(fd, mmap.PAGESIZE)
        finally:
            os.close(fd)

    def read(self) -> int:
        value: int = _COUNTER.unpack_from(self._map, 0)[0]
        return value

    def begin_write(self) -> None:
        """Before a transaction begins (caller holds the write lock): a new odd value."""
        value = self.read()
        self._write(value + 1 if value % 2 == 0 else value + 2)

    def end_write(self) -> None:
        """After the transaction ended, committed or not (caller still holds the lock): even again."""
        value = self.read()
        self._write(value + 1 if value % 2 else value + 2)

    def _write(self, value: int) -> None:
        _COUNTER.pack_into(self._map, 0, value % 2**64)

    def close(self) -> None:
        self._map.close()
