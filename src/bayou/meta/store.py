"""The `MetaStore` interface: what the storage core needs from a metadata engine.

Mutations are functions of a `MetaTx` run inside one transaction (DESIGN.md invariant 2: the
commit is the moment a write happens; invariant 3: outbox rows ride in the same transaction).
Implementations: `sqlite.SqliteMetaStore` (embedded default); PostgreSQL is planned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from bayou.meta.records import (
    BucketRecord,
    ObjectRecord,
    OutboxRow,
    PartRecord,
    QueuedInvocation,
    UploadRecord,
)

T = TypeVar("T")


class MetaTx(Protocol):
    """Blocking primitives valid only inside `MetaStore.write`; they see the transaction's own writes."""

    def get_bucket(self, name: str) -> BucketRecord | None: ...

    def insert_bucket(self, bucket: BucketRecord) -> bool:
        """Insert; False if a bucket of that name already exists (nothing changed)."""
        ...

    def delete_bucket(self, name: str) -> None: ...

    def bucket_is_empty(self, name: str) -> bool: ...

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    def put_object(self, record: ObjectRecord, inline_data: bytes | None) -> None:
        """Insert or replace the object row; `inline_data` is stored under record.blob_id when inline."""
        ...

    def delete_object(self, bucket: str, key: str) -> None: ...

    def delete_inline(self, blob_id: str) -> None: ...

    def set_bucket_versioning(self, name: str, status: str) -> None: ...

    def set_bucket_tags(self, name: str, tags: dict[str, str] | None) -> None: ...

    def put_version(self, record: ObjectRecord) -> None:
        """Store a noncurrent version or a delete marker (its bytes stay where they are)."""
        ...

    def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        """That version: the current row if its id matches, else the history's."""
        ...

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        """Remove a version from the history (not the current row)."""
        ...

    def newest_version(self, bucket: str, key: str) -> ObjectRecord | None:
        """The newest row of the key's history (a delete marker if the key is deleted)."""
        ...

    def set_object_tags(self, record: ObjectRecord, tags: dict[str, str]) -> None:
        """Replace the tag set of that version (current or historical)."""
        ...

    def add_outbox(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue downstream work; it becomes visible to consumers only if the transaction commits."""
        ...

    def delete_outbox(self, row_id: int) -> None: ...

    def trim_outbox(self, kind: str, keep: int) -> int:
        """Delete the newest rows of `kind` beyond the oldest `keep`; return how many went (a full queue)."""
        ...

    def insert_upload(self, upload: UploadRecord) -> None: ...

    def get_upload(self, upload_id: str) -> UploadRecord | None: ...

    def delete_upload(self, upload_id: str) -> list[PartRecord]:
        """Forget an upload and its parts; return the parts (their blobs are now unreferenced)."""
        ...

    def put_part(self, upload_id: str, part: PartRecord) -> PartRecord | None:
        """Insert or replace a part; return the part it replaced, if any."""
        ...

    def list_parts(self, upload_id: str) -> list[PartRecord]: ...

    def put_manifest(self, manifest_id: str, parts: list[PartRecord]) -> None:
        """Record the ordered parts (with their `start` offsets) of a multipart object."""
        ...

    def record_completion(self, upload: UploadRecord, result: dict[str, Any], now: float) -> None:
        """Remember a completed upload's result (a retried Complete must answer the same)."""
        ...

    def get_completion(self, upload_id: str) -> tuple[str, str, dict[str, Any]] | None:
        """(bucket, key, result) of a completed upload, if remembered."""
        ...

    def delete_manifest(self, manifest_id: str) -> list[str]:
        """Forget a manifest; return the blob ids it referenced."""
        ...

    # --- the functions domain: JSON documents keyed by (kind, name, sub), and the async queue ---

    def get_doc(self, kind: str, name: str, sub: str) -> dict[str, Any] | None: ...

    def put_doc(
        self, kind: str, name: str, sub: str, doc: dict[str, Any], *, blob_id: str | None = None
    ) -> list[str]:
        """Insert or replace a document. `blob_id` is a blob the document keeps alive (a code zip):
        `referenced_blob_ids` yields it while any document names it. Returns the blob ids this
        write left unreferenced (the replaced document's, if no other names it); the caller queues
        their deletion in the same transaction."""
        ...

    def delete_doc(self, kind: str, name: str, sub: str) -> list[str]:
        """Remove one document (idempotent); returns the blob ids left unreferenced, as put_doc."""
        ...

    def delete_docs(self, kind: str, name: str) -> list[str]:
        """Remove every document of (kind, name), all subs; returns the blob ids left unreferenced."""
        ...

    def list_docs(self, kind: str, name: str, after_sub: str, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """(sub, doc) of (kind, name) with sub > after_sub, in sub order (binary, UTF-8), at most `limit`."""
        ...

    def docs_of_groups(self, groups: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(kind, name, sub, doc) of every document of each (kind, name) group, in (kind, name, sub)
        order: one read where a write needs the documents of a few groups."""
        ...

    def enqueue_invocation(self, invocation: QueuedInvocation) -> None:
        """Insert; an id already queued is replaced (a retried enqueue is idempotent)."""
        ...

    def delete_invocation(self, invocation_id: str) -> None:
        """Idempotent."""
        ...

    def reschedule_invocation(
        self, invocation_id: str, attempts: int, not_before: float, *, meta: dict[str, Any] | None = None
    ) -> None:
        """Set attempts and not_before (and replace meta when given); a missing id is a no-op."""
        ...


class MetaStore(Protocol):
    async def write(self, fn: Callable[[MetaTx], T]) -> T:
        """Run `fn` in one transaction and commit it durably before returning.

        If `fn` raises, none of its changes are kept and the exception propagates. `fn` runs on
        another thread and must not block on the event loop. Concurrent writes may share a commit.
        """
        ...

    async def get_bucket(self, name: str) -> BucketRecord | None: ...

    async def list_buckets(self) -> list[BucketRecord]: ...

    async def get_object(self, bucket: str, key: str, *, with_data: bool) -> tuple[ObjectRecord, bytes | None] | None:
        """The current object; with_data also returns its inline bytes (None when stored as a file)."""
        ...

    async def list_objects(
        self, bucket: str, start: bytes, inclusive: bool, end: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        """Objects with start <(=) key < end in UTF-8 byte order, at most `limit` of them."""
        ...

    async def read_inline(self, blob_id: str) -> bytes | None: ...

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None: ...

    async def newest_version(self, bucket: str, key: str) -> ObjectRecord | None: ...

    async def list_versions(
        self, bucket: str, key: bytes, below_seq: int | None, end: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        """History rows in (key ascending, seq descending) order, strictly after (key, below_seq);
        below_seq None starts at `key` with all its rows."""
        ...

    async def get_manifest(self, manifest_id: str) -> list[PartRecord]: ...

    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]: ...

    async def list_uploads(
        self, bucket: str, start: bytes, start_upload: str, end: bytes | None, limit: int
    ) -> list[UploadRecord]:
        """In-progress uploads ordered by (key bytes, upload id), strictly after (start, start_upload)."""
        ...

    async def pending_outbox(self, kinds: tuple[str, ...], limit: int) -> list[OutboxRow]: ...

    async def outbox_counts(self, prefix: str) -> dict[str, int]:
        """{kind: pending rows} for every kind starting with `prefix` that has rows."""
        ...

    async def get_doc(self, kind: str, name: str, sub: str) -> dict[str, Any] | None: ...

    async def list_docs(
        self, kind: str, name: str | None, after_sub: str, limit: int, *, after_name: str = ""
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(name, sub, doc) in (name, sub) order (binary, UTF-8), at most `limit`.

        With a name: that name's documents with sub > after_sub. With name None: every name's,
        strictly after the cursor (after_name, after_sub), so a listing pages by passing the last
        row's (name, sub) back; ("", "") starts at the beginning.
        """
        ...

    async def due_invocations(self, now: float, limit: int) -> list[QueuedInvocation]:
        """Queued invocations with not_before <= now, ordered by (not_before, id)."""
        ...

    async def queue_length(self) -> int: ...

    def referenced_blob_ids(self) -> Iterator[str]:
        """Every file blob id an object row, a document (function code) or a pending outbox row
        refers to (start-up orphan scan: a blob not yielded here is deleted)."""
        ...

    def close(self) -> None: ...
