"""SQLite metadata store: the embedded default.

One writer thread owns the only write connection and drains a queue of transaction functions;
whatever has queued up while a commit was in flight runs in the next transaction, so concurrent
PUTs share one fsync (group commit, as Datasette's `_execute_writes`). Each function runs inside a
SAVEPOINT so one failing mutation does not undo its batch neighbours. Readers use their own
connection on the event-loop thread: in WAL mode they never wait for the writer.
Keys are stored as UTF-8 BLOBs, so SQLite's memcmp order is S3's UTF-8 byte order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bayou.meta.migrations import MIGRATIONS
from bayou.meta.records import BucketRecord, Checksum, ObjectRecord, OutboxRow, PartRecord, UploadRecord

T = TypeVar("T")
log = logging.getLogger("bayou.meta")

_MAX_BATCH = 512
_OBJECT_COLUMNS = (
    "bucket, key, version_id, size, etag, last_modified, blob_id, inline, content_type, "
    "system_headers, user_metadata, checksum, storage_class, parts_count"
)
_UPLOAD_COLUMNS = "upload_id, bucket, key, created_at, attributes, checksum_algorithm, checksum_type"
_PART_COLUMNS = "part_number, blob_id, size, etag, checksum, last_modified"


def _connect(path: Path, *, fsync: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-32768")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the numbered migrations not yet applied (user_version is the count applied)."""
    (applied,) = conn.execute("PRAGMA user_version").fetchone()
    for number in range(applied, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            (current,) = conn.execute("PRAGMA user_version").fetchone()
            if current <= number:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _object_from_row(row: tuple[Any, ...]) -> ObjectRecord:
    checksum = json.loads(row[11]) if row[11] else None
    return ObjectRecord(
        bucket=row[0],
        key=bytes(row[1]).decode("utf-8"),
        version_id=row[2],
        size=row[3],
        etag=row[4],
        last_modified=row[5],
        blob_id=row[6],
        inline=bool(row[7]),
        content_type=row[8],
        system_headers=json.loads(row[9]),
        user_metadata=json.loads(row[10]),
        checksum=Checksum(**checksum) if checksum else None,
        storage_class=row[12],
        parts_count=row[13],
    )


def _upload_from_row(row: tuple[Any, ...]) -> UploadRecord:
    attributes = json.loads(row[4])
    return UploadRecord(
        upload_id=row[0],
        bucket=row[1],
        key=bytes(row[2]).decode("utf-8"),
        created_at=row[3],
        content_type=attributes["content_type"],
        system_headers=attributes["system_headers"],
        user_metadata=attributes["user_metadata"],
        storage_class=attributes["storage_class"],
        checksum_algorithm=row[5],
        checksum_type=row[6],
    )


def _part_from_row(row: tuple[Any, ...]) -> PartRecord:
    return PartRecord(
        part_number=row[0], blob_id=row[1], size=row[2], etag=row[3], checksum=row[4], last_modified=row[5]
    )


def _bucket_from_row(row: tuple[Any, ...]) -> BucketRecord:
    return BucketRecord(name=row[0], created_at=row[1], region=row[2], owner=row[3], versioning=row[4])


class _Tx:
    """`MetaTx` over the writer connection, inside the writer's open transaction."""

    def __init__(self, conn: sqlite3.Connection, now: Callable[[], float]) -> None:
        self._conn = conn
        self._now = now

    def get_bucket(self, name: str) -> BucketRecord | None:
        row = self._conn.execute(
            "SELECT name, created_at, region, owner, versioning FROM buckets WHERE name = ?", (name,)
        ).fetchone()
        return _bucket_from_row(row) if row else None

    def insert_bucket(self, bucket: BucketRecord) -> bool:
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO buckets (name, created_at, region, owner, versioning) VALUES (?, ?, ?, ?, ?)",
            (bucket.name, bucket.created_at, bucket.region, bucket.owner, bucket.versioning),
        )
        return cursor.rowcount == 1

    def delete_bucket(self, name: str) -> None:
        self._conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

    def bucket_is_empty(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone() is None

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
        ).fetchone()
        return _object_from_row(row) if row else None

    def put_object(self, record: ObjectRecord, inline_data: bytes | None) -> None:
        checksum = None
        if record.checksum is not None:
            c = record.checksum
            checksum = json.dumps({"algorithm": c.algorithm, "value": c.value, "type": c.type})
        self._conn.execute(
            f"INSERT OR REPLACE INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.bucket, record.key.encode(), record.version_id, record.size, record.etag,
                record.last_modified, record.blob_id, int(record.inline), record.content_type,
                json.dumps(record.system_headers), json.dumps(record.user_metadata), checksum,
                record.storage_class, record.parts_count,
            ),
        )
        if record.inline:
            self._conn.execute(
                "INSERT OR REPLACE INTO inline_blobs (id, data) VALUES (?, ?)", (record.blob_id, inline_data or b"")
            )

    def delete_object(self, bucket: str, key: str) -> None:
        self._conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode()))

    def delete_inline(self, blob_id: str) -> None:
        self._conn.execute("DELETE FROM inline_blobs WHERE id = ?", (blob_id,))

    def add_outbox(self, kind: str, payload: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO outbox (kind, payload, created_at) VALUES (?, ?, ?)",
            (kind, json.dumps({"v": 1, **payload}), self._now()),
        )

    def delete_outbox(self, row_id: int) -> None:
        self._conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    # multipart

    def insert_upload(self, upload: UploadRecord) -> None:
        attributes = {
            "content_type": upload.content_type,
            "system_headers": upload.system_headers,
            "user_metadata": upload.user_metadata,
            "storage_class": upload.storage_class,
        }
        self._conn.execute(
            f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload.upload_id, upload.bucket, upload.key.encode(), upload.created_at, json.dumps(attributes),
             upload.checksum_algorithm, upload.checksum_type),
        )

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = self._conn.execute(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        return _upload_from_row(row) if row else None

    def delete_upload(self, upload_id: str) -> list[PartRecord]:
        parts = self.list_parts(upload_id)
        self._conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
        self._conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        return parts

    def put_part(self, upload_id: str, part: PartRecord) -> PartRecord | None:
        old = self._conn.execute(
            f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number = ?", (upload_id, part.part_number)
        ).fetchone()
        self._conn.execute(
            f"INSERT OR REPLACE INTO parts (upload_id, {_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload_id, part.part_number, part.blob_id, part.size, part.etag, part.checksum, part.last_modified),
        )
        return _part_from_row(old) if old else None

    def list_parts(self, upload_id: str) -> list[PartRecord]:
        rows = self._conn.execute(
            f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY part_number", (upload_id,)
        ).fetchall()
        return [_part_from_row(r) for r in rows]

    def put_manifest(self, manifest_id: str, parts: list[PartRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO manifests (manifest_id, part_number, blob_id, start, size, etag, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(manifest_id, p.part_number, p.blob_id, p.start, p.size, p.etag, p.checksum) for p in parts],
        )

    def delete_manifest(self, manifest_id: str) -> list[str]:
        blob_ids = [r[0] for r in self._conn.execute("SELECT blob_id FROM manifests WHERE manifest_id = ?", (manifest_id,))]
        self._conn.execute("DELETE FROM manifests WHERE manifest_id = ?", (manifest_id,))
        return blob_ids


@dataclass(slots=True)
class _Job:
    fn: Callable[[_Tx], Any]
    future: asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


def _settle(job: _Job) -> None:
    if job.future is None or job.future.done():
        return
    if job.error is not None:
        job.future.set_exception(job.error)
    else:
        job.future.set_result(job.result)


class SqliteMetaStore:
    """`MetaStore` on one SQLite file in WAL mode."""

    def __init__(self, path: Path, *, fsync: bool = True, now: Callable[[], float] = time.time) -> None:
        self._path = path
        self._fsync = fsync
        self._now = now
        self._reader = _connect(path, fsync=fsync)
        migrate(self._reader)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="bayou-sqlite-writer", daemon=True)
        self._writer.start()

    # --- writes ------------------------------------------------------------------------------

    async def write(self, fn: Callable[[_Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, future, loop))
        return await future

    def write_blocking(self, fn: Callable[[_Tx], T]) -> T:
        """`write` for code outside the event loop (start-up recovery, tools)."""
        job = _Job(fn, None, None, done=threading.Event())
        self._jobs.put(job)
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def _write_loop(self) -> None:
        conn = _connect(self._path, fsync=self._fsync)
        tx = _Tx(conn, self._now)
        while True:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < _MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._run_batch(conn, tx, batch)
            if stop:
                break
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, tx: _Tx, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(tx)
                    conn.execute("RELEASE job")
                except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    job.error = exc
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("metadata commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.result, job.error = None, exc
        for job in batch:
            if job.loop is not None:
                job.loop.call_soon_threadsafe(_settle, job)
            elif job.done is not None:
                job.done.set()

    # --- reads -------------------------------------------------------------------------------

    async def get_bucket(self, name: str) -> BucketRecord | None:
        row = self._reader.execute(
            "SELECT name, created_at, region, owner, versioning FROM buckets WHERE name = ?", (name,)
        ).fetchone()
        return _bucket_from_row(row) if row else None

    async def list_buckets(self) -> list[BucketRecord]:
        rows = self._reader.execute(
            "SELECT name, created_at, region, owner, versioning FROM buckets ORDER BY name"
        ).fetchall()
        return [_bucket_from_row(r) for r in rows]

    async def get_object(
        self, bucket: str, key: str, *, with_data: bool
    ) -> tuple[ObjectRecord, bytes | None] | None:
        if with_data:
            row = self._reader.execute(
                f"SELECT {_OBJECT_COLUMNS}, (SELECT data FROM inline_blobs WHERE id = objects.blob_id AND objects.inline) "
                "FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key.encode()),
            ).fetchone()
        else:
            row = self._reader.execute(
                f"SELECT {_OBJECT_COLUMNS}, NULL FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
            ).fetchone()
        if row is None:
            return None
        data = row[14]
        return _object_from_row(row), (bytes(data) if data is not None else None)

    async def list_objects(
        self, bucket: str, start: bytes, inclusive: bool, end: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        op = ">=" if inclusive else ">"
        sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key {op} ?"
        args: list[Any] = [bucket, start]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [_object_from_row(r) for r in self._reader.execute(sql, args).fetchall()]

    async def get_manifest(self, manifest_id: str) -> list[PartRecord]:
        rows = self._reader.execute(
            "SELECT part_number, blob_id, size, etag, checksum, start FROM manifests WHERE manifest_id = ? ORDER BY part_number",
            (manifest_id,),
        ).fetchall()
        return [PartRecord(r[0], r[1], r[2], r[3], r[4], 0.0, r[5]) for r in rows]

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = self._reader.execute(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        return _upload_from_row(row) if row else None

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]:
        rows = self._reader.execute(
            f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload_id, after, limit),
        ).fetchall()
        return [_part_from_row(r) for r in rows]

    async def list_uploads(self, bucket: str, start: bytes, start_upload: str, end: bytes | None, limit: int) -> list[UploadRecord]:
        """Uploads ordered by (key bytes, upload id), after (start, start_upload)."""
        sql = f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND (key > ? OR (key = ? AND upload_id > ?))"
        args: list[Any] = [bucket, start, start, start_upload]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key, upload_id LIMIT ?"
        args.append(limit)
        return [_upload_from_row(r) for r in self._reader.execute(sql, args).fetchall()]

    async def read_inline(self, blob_id: str) -> bytes | None:
        row = self._reader.execute("SELECT data FROM inline_blobs WHERE id = ?", (blob_id,)).fetchone()
        return bytes(row[0]) if row else None

    async def pending_outbox(self, kinds: tuple[str, ...], limit: int) -> list[OutboxRow]:
        marks = ",".join("?" * len(kinds))
        rows = self._reader.execute(
            f"SELECT id, kind, payload, created_at FROM outbox WHERE kind IN ({marks}) ORDER BY id LIMIT ?",
            (*kinds, limit),
        ).fetchall()
        return [OutboxRow(id=r[0], kind=r[1], payload=json.loads(r[2]), created_at=r[3]) for r in rows]

    def referenced_blob_ids(self) -> Iterator[str]:
        for (blob_id,) in self._reader.execute("SELECT blob_id FROM objects WHERE inline = 0 AND parts_count = 0"):
            yield blob_id
        for (blob_id,) in self._reader.execute("SELECT blob_id FROM parts"):
            yield blob_id
        for (blob_id,) in self._reader.execute("SELECT blob_id FROM manifests"):
            yield blob_id
        for (payload,) in self._reader.execute("SELECT payload FROM outbox"):
            blob_id = json.loads(payload).get("blob_id")
            if blob_id:
                yield blob_id

    def close(self) -> None:
        self._jobs.put(None)
        self._writer.join(timeout=10)
        self._reader.close()
