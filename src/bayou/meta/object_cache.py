"""A per-process cache of current object rows (with their inline data), kept exact by `ChangeSignal`.

A GET of a small object is a point query on SQLite; its cost (the read transaction, the row
decode) was about a fifth of the whole request. Hot objects are read far more often than they are
written, so each server process keeps the rows it read, tagged with the write generation seen
before and after the read, and serves them while the generation has not moved. Any write in any
process moves it, and then the whole cache is dropped: coarse, but a write-heavy workload simply
does not use the cache, and no write can be missed (the reasoning is in change_signal.py).

Bounded by entries and by the bytes of inline data it holds, evicting the oldest entries first.
"""

from __future__ import annotations

from bayou.meta.change_signal import ChangeSignal
from bayou.meta.records import ObjectRecord

MAX_ENTRIES = 10_000
MAX_BYTES = 8 * 1024 * 1024
#: Objects above this are not worth the memory: their GET is dominated by moving the bytes.
MAX_ITEM_BYTES = 64 * 1024

Entry = tuple[ObjectRecord, bytes | None]
Key = tuple[str, str, bool]  # bucket, key, with inline data


class ObjectCache:
    def __init__(self, signal: ChangeSignal) -> None:
        self._signal = signal
        self._generation = -1
        self._entries: dict[Key, Entry] = {}
        self._bytes = 0

    def lookup(self, key: Key) -> tuple[Entry | None, int]:
        """The cached entry, if still valid, and the generation to pass to `store` after a miss."""
        generation = self._signal.read()
        if generation != self._generation:
            self._entries.clear()
            self._bytes = 0
            self._generation = generation
            return None, generation
        return self._entries.get(key), generation

    def store(self, key: Key, entry: Entry, generation: int) -> None:
        """Keep what a read returned, if no write was in progress or committed around it."""
        if generation % 2 or self._signal.read() != generation or generation != self._generation:
            return
        data = entry[1]
        size = len(data) if data is not None else 0
        if size > MAX_ITEM_BYTES:
            return
        self._discard(key)
        while self._entries and (len(self._entries) >= MAX_ENTRIES or self._bytes + size > MAX_BYTES):
            self._discard(next(iter(self._entries)))  # the oldest
        self._entries[key] = entry
        self._bytes += size

    def _discard(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry[1] is not None:
            self._bytes -= len(entry[1])
