"""Blobs as files under `<data>/blobs/`, named by id, never by key.

Write path (Litestream's durable file write): a temporary file in `tmp/`, fsync, rename into
`<id[:2]>/<id>`, fsync the directory. A crash leaves either nothing visible or a complete file
that no metadata row may reference yet: the start-up scan removes those orphans.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

from bayou.blobs.store import new_blob_id


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobWriter:
    def __init__(self, store: LocalBlobStore, blob_id: str) -> None:
        self.blob_id = blob_id
        self.size = 0
        self._store = store
        self._tmp = store.tmp_dir / blob_id
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, data: bytes) -> None:
        assert self._fd is not None, "write after commit or abort"
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def commit(self) -> None:
        assert self._fd is not None, "commit after commit or abort"
        try:
            if self._store.fsync:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        final = self._store.path_for(self.blob_id)
        final.parent.mkdir(exist_ok=True)
        os.rename(self._tmp, final)
        if self._store.fsync:
            _fsync_dir(final.parent)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)


class LocalBlobReader:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def range_at(self, offset: int, length: int) -> FileRange:
        """Up to `length` bytes from `offset` as a `FileRange` of this file: no bytes are read here."""
        return FileRange(self._fd, offset, max(0, min(offset + length, self.size) - offset))

    def close(self) -> None:
        os.close(self._fd)


class FileRange:
    """A range of an open blob file, as a piece of a response body.

    The HTTP transport (http_protocol.py) sends it with sendfile(2) when the socket has nothing
    queued, so the bytes never pass through this process; otherwise it writes `view()`. Copying a
    1 MiB range into a bytes object (os.pread) cost ~100 µs, the largest single cost of a 1 MiB GET,
    and the socket then copied it again. Blobs are immutable and a range never reaches past the
    length the file had at open. The file descriptor belongs to the reader: a FileRange is used up
    before the reader is closed (the transport handles it within the `write` call).
    """

    __slots__ = ("fd", "offset", "count")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count

    def __len__(self) -> int:
        return self.count

    def view(self, skip: int = 0) -> memoryview:
        """The range from `skip` on, as a read-only view of a mapping of just those pages.

        The mapping lives as long as the view (and whatever holds it, such as the transport's write
        buffer), then is unmapped, so only ranges in flight count towards resident memory.
        """
        start = self.offset + skip
        # Never map past the file's end (touching such a page is SIGBUS): shorter only if the file
        # was truncated behind our back, and then the caller sees a short view.
        end = min(self.offset + self.count, os.fstat(self.fd).st_size)
        if start >= end:
            return memoryview(b"")
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        mapping = mmap.mmap(self.fd, end - aligned, access=mmap.ACCESS_READ, offset=aligned)
        return memoryview(mapping)[start - aligned :]


class LocalBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, blob_id: str) -> Path:
        if not blob_id.isalnum():
            raise ValueError(f"not a blob id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def writer(self) -> LocalBlobWriter:
        return LocalBlobWriter(self, new_blob_id())

    def open(self, blob_id: str) -> LocalBlobReader:
        return LocalBlobReader(self.path_for(blob_id))

    def delete(self, blob_id: str) -> None:
        self.path_for(blob_id).unlink(missing_ok=True)

    def blob_ids(self) -> Iterator[str]:
        for shard in self.root.iterdir():
            if shard.is_dir() and shard.name != "tmp":
                for entry in shard.iterdir():
                    yield entry.name

    def clear_partial(self) -> int:
        removed = 0
        for entry in self.tmp_dir.iterdir():
            entry.unlink(missing_ok=True)
            removed += 1
        return removed
