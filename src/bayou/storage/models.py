"""Inputs and outputs of the storage facade that are not metadata records."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bayou.blobs.local import FileRange
from bayou.blobs.store import BlobReader, BlobStore
from bayou.meta.records import ObjectRecord, PartRecord
from bayou.storage.ranges import ByteRange

MAX_PUT_SIZE = 5 * 1024**3
READ_CHUNK = 1024 * 1024


@dataclass(slots=True)
class Integrity:
    """What the client declared about the body.

    `checksums` may still be filled while the body streams: a trailing checksum (aws-chunked
    trailer) arrives after the last byte, and the body reader adds it before it finishes.
    """

    content_md5: str | None = None
    #: Algorithms the client declared: a value must arrive (header or trailer) for each.
    algorithms: set[str] = field(default_factory=set)
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str = "FULL_OBJECT"
    #: Algorithms to compute without a client value to check (a copy keeps its source's algorithm).
    compute: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ObjectAttributes:
    """The client-settable description of an object (headers on PUT, or REPLACE on copy)."""

    content_type: str | None = None
    system_headers: dict[str, str] = field(default_factory=dict)
    user_metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PutRequest:
    bucket: str
    key: str
    body: AsyncIterator[bytes]
    attributes: ObjectAttributes
    integrity: Integrity
    content_length: int | None = None
    if_match: str | None = None
    if_none_match: str | None = None


@dataclass(slots=True)
class ObjectContent:
    """A readable object: metadata plus either inline bytes or an open blob reader."""

    record: ObjectRecord
    range: ByteRange | None
    data: bytes | None = None
    reader: BlobReader | None = None

    @property
    def length(self) -> int:
        return self.range.length if self.range else self.record.size

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._pieces(copy=True):
            assert isinstance(chunk, bytes)  # copy=True reads bytes
            yield chunk

    async def pieces(self) -> AsyncIterator[bytes | FileRange]:
        """`chunks` for a response body: ranges of the blob's file where its reader can give them
        (the HTTP transport sends those without reading them; see FileRange)."""
        async for chunk in self._pieces(copy=False):
            yield chunk

    async def _pieces(self, *, copy: bool) -> AsyncIterator[bytes | FileRange]:
        start = self.range.start if self.range else 0
        end = start + self.length
        try:
            if self.data is not None:
                yield self.data[start:end]
                return
            assert self.reader is not None
            range_at = None if copy else getattr(self.reader, "range_at", None)
            read = range_at or self.reader.read_at
            offset = start
            while offset < end:
                chunk = read(offset, min(READ_CHUNK, end - offset))
                if not chunk:
                    raise OSError(f"blob {self.record.blob_id} is shorter than its record")
                offset += len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class ManifestReader:
    """A `BlobReader` over the part blobs of a multipart object, opened as reads reach them."""

    def __init__(self, blobs: BlobStore, parts: list[PartRecord]) -> None:
        self._blobs = blobs
        self._parts = parts
        self._starts = [p.start for p in parts]
        self._open: dict[int, BlobReader] = {}
        self.size = sum(p.size for p in parts)

    def read_at(self, offset: int, length: int) -> bytes:
        found = self._part_at(offset)
        if found is None:
            return b""
        reader, within, left = found
        return reader.read_at(within, min(length, left))

    def range_at(self, offset: int, length: int) -> bytes | FileRange:
        """`read_at`, as a `FileRange` where the part's reader can give one."""
        found = self._part_at(offset)
        if found is None:
            return b""
        reader, within, left = found
        range_at = getattr(reader, "range_at", None)
        return (range_at or reader.read_at)(within, min(length, left))

    def _part_at(self, offset: int) -> tuple[BlobReader, int, int] | None:
        """The open reader of the part holding `offset`, the offset within it and the bytes left in it."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0 or offset >= self.size:
            return None
        part = self._parts[index]
        reader = self._open.get(index)
        if reader is None:
            for other in self._open.values():
                other.close()
            self._open = {index: self._blobs.open(part.blob_id)}
            reader = self._open[index]
        within = offset - part.start
        return reader, within, part.size - within

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open = {}


@dataclass(frozen=True, slots=True)
class DeleteResult:
    key: str
    deleted: bool
    error_code: str | None = None
    error_message: str | None = None
    version_id: str | None = None
    delete_marker: bool = False
    delete_marker_version_id: str | None = None
