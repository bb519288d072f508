"""`MetaTx` for SQLite: blocking primitives over the writer connection's open transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from bayou.meta import sqlite_fn
from bayou.meta.records import BucketRecord, ObjectRecord, PartRecord, QueuedInvocation, UploadRecord
from bayou.meta.sqlite_rows import (
    BUCKET_COLUMNS,
    OBJECT_COLUMNS,
    OBJECT_MARKS,
    PART_COLUMNS,
    UPLOAD_COLUMNS,
    VERSION_COLUMNS,
    VERSION_MARKS,
    bucket_from_row,
    object_from_row,
    object_params,
    part_from_row,
    upload_from_row,
    upload_params,
    version_params,
)


class SqliteTx:
    def __init__(self, conn: sqlite3.Connection, now: Callable[[], float]) -> None:
        self._conn = conn
        self._now = now

    # buckets

    def get_bucket(self, name: str) -> BucketRecord | None:
        row = self._conn.execute(f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,)).fetchone()
        return bucket_from_row(row) if row else None

    def insert_bucket(self, bucket: BucketRecord) -> bool:
        cursor = self._conn.execute(
            f"INSERT OR IGNORE INTO buckets ({BUCKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (bucket.name, bucket.created_at, bucket.region, bucket.owner, bucket.versioning,
             None if bucket.tags is None else json.dumps(bucket.tags)),
        )
        return cursor.rowcount == 1

    def delete_bucket(self, name: str) -> None:
        self._conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

    def bucket_is_empty(self, name: str) -> bool:
        for table in ("objects", "versions"):
            if self._conn.execute(f"SELECT 1 FROM {table} WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                return False
        return True

    def set_bucket_versioning(self, name: str, status: str) -> None:
        self._conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, name))

    def set_bucket_tags(self, name: str, tags: dict[str, str] | None) -> None:
        self._conn.execute(
            "UPDATE buckets SET tags = ? WHERE name = ?", (None if tags is None else json.dumps(tags), name)
        )

    # current objects

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._conn.execute(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
        ).fetchone()
        return object_from_row(row) if row else None

    def put_object(self, record: ObjectRecord, inline_data: bytes | None) -> None:
        self._conn.execute(f"INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_MARKS})", object_params(record))
        if record.inline and inline_data is not None:
            self._conn.execute("INSERT OR REPLACE INTO inline_blobs (id, data) VALUES (?, ?)", (record.blob_id, inline_data))

    def delete_object(self, bucket: str, key: str) -> None:
        self._conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode()))

    def delete_inline(self, blob_id: str) -> None:
        self._conn.execute("DELETE FROM inline_blobs WHERE id = ?", (blob_id,))

    # noncurrent versions and delete markers

    def put_version(self, record: ObjectRecord) -> None:
        # Plain INSERT: two versions of a key never share a seq, and if they ever did the write
        # must fail loudly rather than replace a version.
        self._conn.execute(f"INSERT INTO versions ({VERSION_COLUMNS}) VALUES ({VERSION_MARKS})", version_params(record))

    def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        current = self.get_object(bucket, key)
        if current is not None and current.version_id == version_id:
            return current
        row = self._conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? AND version_id = ?",
            (bucket, key.encode(), version_id),
        ).fetchone()
        return object_from_row(row) if row else None

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        self._conn.execute(
            "DELETE FROM versions WHERE bucket = ? AND key = ? AND version_id = ?", (bucket, key.encode(), version_id)
        )

    def newest_version(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1",
            (bucket, key.encode()),
        ).fetchone()
        return object_from_row(row) if row else None

    def set_object_tags(self, record: ObjectRecord, tags: dict[str, str]) -> None:
        table = "versions" if record.delete_marker else "objects"
        current = self.get_object(record.bucket, record.key)
        if current is None or current.version_id != record.version_id:
            table = "versions"
        self._conn.execute(
            f"UPDATE {table} SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?",
            (json.dumps(tags) if tags else None, record.bucket, record.key.encode(), record.version_id),
        )

    # the outbox

    def add_outbox(self, kind: str, payload: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO outbox (kind, payload, created_at) VALUES (?, ?, ?)",
            (kind, json.dumps({"v": 1, **payload}), self._now()),
        )

    def delete_outbox(self, row_id: int) -> None:
        self._conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def trim_outbox(self, kind: str, keep: int) -> int:
        cursor = self._conn.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = ? ORDER BY id LIMIT -1 OFFSET ?)",
            (kind, keep),
        )
        return cursor.rowcount

    # multipart

    def insert_upload(self, upload: UploadRecord) -> None:
        self._conn.execute(f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", upload_params(upload))

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = self._conn.execute(f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        return upload_from_row(row) if row else None

    def delete_upload(self, upload_id: str) -> list[PartRecord]:
        parts = self.list_parts(upload_id)
        self._conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
        self._conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        return parts

    def put_part(self, upload_id: str, part: PartRecord) -> PartRecord | None:
        old = self._conn.execute(
            f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number = ?", (upload_id, part.part_number)
        ).fetchone()
        self._conn.execute(
            f"INSERT OR REPLACE INTO parts (upload_id, {PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload_id, part.part_number, part.blob_id, part.size, part.etag, part.checksum, part.last_modified),
        )
        return part_from_row(old) if old else None

    def list_parts(self, upload_id: str) -> list[PartRecord]:
        rows = self._conn.execute(
            f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY part_number", (upload_id,)
        ).fetchall()
        return [part_from_row(r) for r in rows]

    def put_manifest(self, manifest_id: str, parts: list[PartRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO manifests (manifest_id, part_number, blob_id, start, size, etag, checksum) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(manifest_id, p.part_number, p.blob_id, p.start, p.size, p.etag, p.checksum) for p in parts],
        )

    def record_completion(self, upload: UploadRecord, result: dict[str, Any], now: float) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, result, completed_at) VALUES (?, ?, ?, ?, ?)",
            (upload.upload_id, upload.bucket, upload.key.encode(), json.dumps(result), now),
        )

    def get_completion(self, upload_id: str) -> tuple[str, str, dict[str, Any]] | None:
        row = self._conn.execute(
            "SELECT bucket, key, result FROM completed_uploads WHERE upload_id = ?", (upload_id,)
        ).fetchone()
        return (row[0], bytes(row[1]).decode(), json.loads(row[2])) if row else None

    def delete_manifest(self, manifest_id: str) -> list[str]:
        rows = self._conn.execute("SELECT blob_id FROM manifests WHERE manifest_id = ?", (manifest_id,))
        blob_ids = [r[0] for r in rows]
        self._conn.execute("DELETE FROM manifests WHERE manifest_id = ?", (manifest_id,))
        return blob_ids

    # the functions domain

    def get_doc(self, kind: str, name: str, sub: str) -> dict[str, Any] | None:
        return sqlite_fn.get_doc(self._conn, kind, name, sub)

    def put_doc(
        self, kind: str, name: str, sub: str, doc: dict[str, Any], *, blob_id: str | None = None
    ) -> list[str]:
        return sqlite_fn.put_doc(self._conn, kind, name, sub, doc, blob_id)

    def delete_doc(self, kind: str, name: str, sub: str) -> list[str]:
        return sqlite_fn.delete_docs(self._conn, kind, name, sub)

    def delete_docs(self, kind: str, name: str) -> list[str]:
        return sqlite_fn.delete_docs(self._conn, kind, name, None)

    def list_docs(self, kind: str, name: str, after_sub: str, limit: int) -> list[tuple[str, dict[str, Any]]]:
        return [(sub, doc) for _, sub, doc in sqlite_fn.list_docs(self._conn, kind, name, "", after_sub, limit)]

    def docs_of_groups(self, groups: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, dict[str, Any]]]:
        return sqlite_fn.docs_of_groups(self._conn, groups)

    def enqueue_invocation(self, invocation: QueuedInvocation) -> None:
        sqlite_fn.enqueue(self._conn, invocation)

    def delete_invocation(self, invocation_id: str) -> None:
        self._conn.execute("DELETE FROM fn_queue WHERE id = ?", (invocation_id,))

    def reschedule_invocation(
        self, invocation_id: str, attempts: int, not_before: float, *, meta: dict[str, Any] | None = None
    ) -> None:
        sqlite_fn.reschedule(self._conn, invocation_id, attempts, not_before, meta)
