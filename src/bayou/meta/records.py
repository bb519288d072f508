"""Plain records exchanged between the storage core and a metadata store.

They live here, below `storage/`, so that every `MetaStore` implementation speaks the same
primitives without importing the core (DESIGN.md dependency direction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Objects up to this size live inline in the metadata row: the commit is then their only write.
DEFAULT_INLINE_LIMIT = 128 * 1024


@dataclass(frozen=True, slots=True)
class BucketRecord:
    name: str
    created_at: float
    region: str
    owner: str
    versioning: str = ""  # "", "Enabled" or "Suspended"
    tags: dict[str, str] | None = None  # None: no tag set (GetBucketTagging → NoSuchTagSet)


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str  # CRC32, CRC32C, CRC64NVME, SHA1, SHA256
    value: str  # base64, as S3 renders it
    type: str = "FULL_OBJECT"  # or COMPOSITE


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes
    last_modified: float
    blob_id: str
    inline: bool  # True: the bytes live in the metadata store under blob_id
    content_type: str = "binary/octet-stream"
    #: content-encoding, content-disposition, content-language, cache-control, expires
    system_headers: dict[str, str] = field(default_factory=dict)
    user_metadata: dict[str, str] = field(default_factory=dict)
    checksum: Checksum | None = None
    version_id: str = "null"
    storage_class: str = "STANDARD"
    #: 0 for a single blob; N for a multipart object whose blob_id names a manifest of N parts.
    parts_count: int = 0
    #: Orders the versions of one key (nanoseconds at the write); newest is largest.
    seq: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    delete_marker: bool = False


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """A multipart upload in progress."""

    upload_id: str
    bucket: str
    key: str
    created_at: float
    content_type: str | None
    system_headers: dict[str, str]
    user_metadata: dict[str, str]
    storage_class: str
    checksum_algorithm: str | None
    checksum_type: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartRecord:
    """An uploaded part, or (with `start`) one part of a completed object's manifest."""

    part_number: int
    blob_id: str
    size: int
    etag: str
    checksum: str | None = None  # base64 of the upload's checksum algorithm, if any
    last_modified: float = 0.0
    start: int = 0
    #: Set on a part just uploaded (for the response); parts read back from a store leave it None.
    checksum_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class QueuedInvocation:
    """An asynchronous invocation (InvocationType=Event) waiting to run or to be retried."""

    id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    attempts: int = 0
    not_before: float = 0.0  # epoch seconds: not due before then (retry back-off)
    meta: dict[str, Any] = field(default_factory=dict)  # request id, client context, last error, ...
