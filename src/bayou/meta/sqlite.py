"""SQLite metadata store: the embedded default.

One writer thread owns the only write connection and drains a queue of transaction functions;
whatever has queued up while a commit was in flight runs in the next transaction, so concurrent
PUTs share one fsync (group commit, as Datasette's `_execute_writes`). Each function runs inside a
SAVEPOINT so one failing mutation does not undo its batch neighbours. Readers use their own
connection on the event-loop thread: in WAL mode they never wait for the writer.
Keys are stored as UTF-8 BLOBs, so SQLite's memcmp order is S3's UTF-8 byte order.

The writer thread takes the cross-process lock, begins and commits (the waits and the fsync, with
the GIL released), but hands the batch's transaction functions to the event loop that queued them
and waits until they have run there. Run in the writer thread, each of their ~10 statements had to
win the GIL back from a busy event loop: a small PUT's functions took ~165 µs instead of ~100, in the
write section that all server processes take in turn, and PUT throughput was bound by that section.
A batch whose jobs come from several loops, or whose loop no longer runs or is blocked in `close`,
runs in the writer thread as before (whichever side claims it first runs it; see `_Handoff`).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bayou.meta import sqlite_fn
from bayou.meta.change_signal import ChangeSignal
from bayou.meta.migrations import MIGRATIONS
from bayou.meta.object_cache import ObjectCache
from bayou.meta.records import (
    BucketRecord,
    ObjectRecord,
    OutboxRow,
    PartRecord,
    QueuedInvocation,
    UploadRecord,
)
from bayou.meta.sqlite_rows import (
    BUCKET_COLUMNS,
    OBJECT_COLUMNS,
    PART_COLUMNS,
    UPLOAD_COLUMNS,
    VERSION_COLUMNS,
    bucket_from_row,
    object_from_row,
    part_from_row,
    upload_from_row,
)
from bayou.meta.sqlite_tx import SqliteTx

T = TypeVar("T")
log = logging.getLogger("bayou.meta")

_MAX_BATCH = 512


def _connect(path: Path, *, fsync: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-8192")  # 8 MiB per connection: two per worker process
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


@dataclass(slots=True)
class _Job:
    fn: Callable[[SqliteTx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    result: Any = None
    error: BaseException | None = None


#: How often the writer thread, waiting for a loop to run a batch, checks that it still can.
_HANDOFF_POLL = 0.05


def _run_jobs(conn: sqlite3.Connection, tx: SqliteTx, batch: list[_Job]) -> None:
    for job in batch:
        conn.execute("SAVEPOINT job")
        try:
            job.result = job.fn(tx)
            conn.execute("RELEASE job")
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            job.error = exc


class _Handoff:
    """One batch's transaction functions, run once, by whichever thread claims them first."""

    def __init__(self, conn: sqlite3.Connection, tx: SqliteTx, batch: list[_Job]) -> None:
        self._conn = conn
        self._tx = tx
        self._batch = batch
        self._claim = threading.Lock()
        self._claimed = False
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run_here(self) -> None:
        """Run the batch in the calling thread, unless another thread has claimed it."""
        with self._claim:
            if self._claimed:
                return
            self._claimed = True
        try:
            _run_jobs(self._conn, self._tx, self._batch)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the writer thread
            self.error = exc
        finally:
            self.done.set()


def _settle(job: _Job) -> None:
    if job.future.done():
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
        self._changes = ChangeSignal(Path(f"{path}.changes"))
        self._objects = ObjectCache(self._changes)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="bayou-sqlite-writer", daemon=True)
        self._writer.start()

    # --- writes ------------------------------------------------------------------------------

    async def write(self, fn: Callable[[SqliteTx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, future, loop))
        return await future

    def _write_loop(self) -> None:
        conn = _connect(self._path, fsync=self._fsync)
        self._lock_fd = os.open(f"{self._path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        tx = SqliteTx(conn, self._now)
        while True:
            first = self._jobs.get()
            if first is None:
                break
            # Writers of other server processes queue on this lock in the kernel and wake the moment
            # it is released; contending inside SQLite instead means its busy handler's 1-100 ms
            # sleeps. Jobs that arrive while we wait for it join the batch: one fsync for all.
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                batch, stop = self._drain([first])
                self._changes.begin_write()  # other processes' cached reads stop here ...
                try:
                    self._commit_batch(conn, tx, batch)
                finally:
                    self._changes.end_write()  # ... and start again after the commit
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            for job in batch:
                job.loop.call_soon_threadsafe(_settle, job)
            if stop:
                break
        conn.close()
        os.close(self._lock_fd)

    def _drain(self, batch: list[_Job]) -> tuple[list[_Job], bool]:
        """Add whatever else is queued (up to the batch limit); True if a stop request was seen."""
        while len(batch) < _MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return batch, False
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit_batch(self, conn: sqlite3.Connection, tx: SqliteTx, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._run_on_their_loop(conn, tx, batch)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("metadata commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.result, job.error = None, exc

    def _run_on_their_loop(self, conn: sqlite3.Connection, tx: SqliteTx, batch: list[_Job]) -> None:
        """Run the batch's functions on the event loop that queued them (see the module's docstring)."""
        loop = batch[0].loop
        if self._closing or any(job.loop is not loop for job in batch) or not loop.is_running():
            _run_jobs(conn, tx, batch)
            return
        handoff = _Handoff(conn, tx, batch)
        try:
            loop.call_soon_threadsafe(handoff.run_here)
        except RuntimeError:  # the loop was closed since
            handoff.run_here()
        while not handoff.done.wait(_HANDOFF_POLL):
            if self._closing or not loop.is_running():
                handoff.run_here()  # the loop cannot: run here, unless it has started meanwhile
        if handoff.error is not None:
            raise handoff.error

    # --- reads -------------------------------------------------------------------------------

    async def get_bucket(self, name: str) -> BucketRecord | None:
        row = self._reader.execute(
            f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,)
        ).fetchone()
        return bucket_from_row(row) if row else None

    async def list_buckets(self) -> list[BucketRecord]:
        rows = self._reader.execute(
            f"SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
        ).fetchall()
        return [bucket_from_row(r) for r in rows]

    async def get_object(
        self, bucket: str, key: str, *, with_data: bool
    ) -> tuple[ObjectRecord, bytes | None] | None:
        cache_key = (bucket, key, with_data)
        cached, generation = self._objects.lookup(cache_key)
        if cached is not None:
            return cached
        found = self._read_object(bucket, key, with_data)
        if found is not None:
            self._objects.store(cache_key, found, generation)
        return found

    def peek_object(self, bucket: str, key: str, *, with_data: bool) -> tuple[ObjectRecord, bytes | None] | None:
        """`get_object` answered from this process's cache only (None: not cached, ask `get_object`).

        Synchronous, so that the API's fast path for hot objects needs no await at all.
        """
        return self._objects.lookup((bucket, key, with_data))[0]

    def _read_object(self, bucket: str, key: str, with_data: bool) -> tuple[ObjectRecord, bytes | None] | None:
        if with_data:
            row = self._reader.execute(
                f"SELECT {OBJECT_COLUMNS}, (SELECT data FROM inline_blobs WHERE id = objects.blob_id AND objects.inline) "
                "FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key.encode()),
            ).fetchone()
        else:
            row = self._reader.execute(
                f"SELECT {OBJECT_COLUMNS}, NULL FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
            ).fetchone()
        if row is None:
            return None
        data = row[16]
        return object_from_row(row[:16]), (bytes(data) if data is not None else None)

    async def list_objects(
        self, bucket: str, start: bytes, inclusive: bool, end: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        op = ">=" if inclusive else ">"
        sql = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key {op} ?"
        args: list[Any] = [bucket, start]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [object_from_row(r) for r in self._reader.execute(sql, args).fetchall()]

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        """The version `version_id` of a key: the current one or a noncurrent one / delete marker."""
        row = self._reader.execute(
            f"SELECT {OBJECT_COLUMNS}, 0 FROM objects WHERE bucket = ? AND key = ? AND version_id = ? "
            f"UNION ALL SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? AND version_id = ? LIMIT 1",
            (bucket, key.encode(), version_id, bucket, key.encode(), version_id),
        ).fetchone()
        return object_from_row(row) if row else None

    async def newest_version(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._reader.execute(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1",
            (bucket, key.encode()),
        ).fetchone()
        return object_from_row(row) if row else None

    async def list_versions(
        self, bucket: str, key: bytes, below_seq: int | None, end: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        """Rows of `versions` in (key ascending, seq descending) order, strictly after (key, below_seq).

        below_seq None means: starting at `key` itself, all its versions included.
        """
        if below_seq is None:
            sql = f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key >= ?"
            args: list[Any] = [bucket, key]
        else:
            sql = f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND (key > ? OR (key = ? AND seq < ?))"
            args = [bucket, key, key, below_seq]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key, seq DESC LIMIT ?"
        args.append(limit)
        return [object_from_row(r) for r in self._reader.execute(sql, args).fetchall()]

    async def get_manifest(self, manifest_id: str) -> list[PartRecord]:
        rows = self._reader.execute(
            "SELECT part_number, blob_id, size, etag, checksum, start FROM manifests WHERE manifest_id = ? ORDER BY part_number",
            (manifest_id,),
        ).fetchall()
        return [PartRecord(r[0], r[1], r[2], r[3], r[4], 0.0, r[5]) for r in rows]

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = self._reader.execute(f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        return upload_from_row(row) if row else None

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]:
        rows = self._reader.execute(
            f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload_id, after, limit),
        ).fetchall()
        return [part_from_row(r) for r in rows]

    async def list_uploads(self, bucket: str, start: bytes, start_upload: str, end: bytes | None, limit: int) -> list[UploadRecord]:
        """Uploads ordered by (key bytes, upload id), after (start, start_upload)."""
        sql = f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND (key > ? OR (key = ? AND upload_id > ?))"
        args: list[Any] = [bucket, start, start, start_upload]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key, upload_id LIMIT ?"
        args.append(limit)
        return [upload_from_row(r) for r in self._reader.execute(sql, args).fetchall()]

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

    async def get_doc(self, kind: str, name: str, sub: str) -> dict[str, Any] | None:
        return sqlite_fn.get_doc(self._reader, kind, name, sub)

    async def list_docs(
        self, kind: str, name: str | None, after_sub: str, limit: int, *, after_name: str = ""
    ) -> list[tuple[str, str, dict[str, Any]]]:
        return sqlite_fn.list_docs(self._reader, kind, name, after_name, after_sub, limit)

    async def due_invocations(self, now: float, limit: int) -> list[QueuedInvocation]:
        return sqlite_fn.due(self._reader, now, limit)

    async def queue_length(self) -> int:
        return sqlite_fn.queue_length(self._reader)

    async def outbox_counts(self, prefix: str) -> dict[str, int]:
        rows = self._reader.execute(
            "SELECT kind, COUNT(*) FROM outbox WHERE kind >= ? AND kind < ? GROUP BY kind", (prefix, prefix + "\uffff")
        ).fetchall()
        return {kind: count for kind, count in rows}

    def referenced_blob_ids(self) -> Iterator[str]:
        for table in ("objects", "versions"):
            for (blob_id,) in self._reader.execute(f"SELECT blob_id FROM {table} WHERE inline = 0 AND parts_count = 0"):
                yield blob_id
        for (blob_id,) in self._reader.execute("SELECT blob_id FROM parts"):
            yield blob_id
        for (blob_id,) in self._reader.execute("SELECT blob_id FROM manifests"):
            yield blob_id
        yield from sqlite_fn.doc_blob_ids(self._reader)
        for (payload,) in self._reader.execute("SELECT payload FROM outbox"):
            blob_id = json.loads(payload).get("blob_id")
            if blob_id:
                yield blob_id

    def close(self) -> None:
        self._closing = True  # a batch waiting for this thread's loop (blocked here) runs in the writer
        self._jobs.put(None)
        self._writer.join(timeout=10)
        self._reader.close()
        self._changes.close()
