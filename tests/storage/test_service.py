"""The storage facade (storage/service.py) over a real SqliteMetaStore and LocalBlobStore.

Also the blob garbage collector (services/gc.py), which consumes what the facade queues; it
sits here until tests/services/ exists.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidBucketName,
    InvalidRange,
    InvalidRequest,
    KeyTooLongError,
    NoSuchBucket,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
)
from bayou.meta.records import ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.gc import BlobCollector, remove_orphans
from bayou.storage import checksums
from bayou.storage.conditions import Preconditions
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.release import BLOB_DELETE
from bayou.storage.service import CopySource, StorageService

LIMIT = 1024
SMALL = b"small object"
LARGE = bytes(range(256)) * 20  # 5120 bytes, above LIMIT
T0 = 1_700_000_000.0


@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetaStore
    blobs: LocalBlobStore
    clock: FixedClock

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def outbox(self) -> list[dict]:
        rows = self.run(self.meta.pending_outbox((BLOB_DELETE,), 1000))
        return [row.payload for row in rows]

    def files(self) -> set[str]:
        return set(self.blobs.blob_ids())

    def tmp(self) -> list[str]:
        return [p.name for p in self.blobs.tmp_dir.iterdir()]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    meta = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=False)
    svc = StorageService(meta, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=LIMIT)
    e = Env(svc, meta, blobs, clock)
    asyncio.run(svc.create_bucket("bkt"))
    yield e
    meta.close()


async def body(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def put_request(bucket: str, key: str, data: bytes, **kwargs) -> PutRequest:  # type: ignore[no-untyped-def]
    attributes = kwargs.pop("attributes", ObjectAttributes())
    integrity = kwargs.pop("integrity", Integrity())
    return PutRequest(bucket, key, body(data), attributes, integrity, content_length=len(data), **kwargs)


def put(env: Env, key: str, data: bytes, bucket: str = "bkt", **kwargs) -> ObjectRecord:  # type: ignore[no-untyped-def]
    return env.run(env.svc.put_object(put_request(bucket, key, data, **kwargs)))


def get(env: Env, key: str, byte_range: str | None = None, bucket: str = "bkt") -> bytes:
    async def read() -> bytes:
        content = await env.svc.open_object(bucket, key, byte_range=byte_range)
        return b"".join([chunk async for chunk in content.chunks()])

    return env.run(read())


# --- buckets ------------------------------------------------------------------------------------


def test_create_list_get_delete_bucket(env: Env) -> None:
    env.clock.advance(5)
    record = env.run(env.svc.create_bucket("second"))
    assert (record.name, record.created_at, record.region, record.owner) == ("second", T0 + 5, "us-east-1", "owner-id")
    assert [b.name for b in env.run(env.svc.list_buckets())] == ["bkt", "second"]
    assert env.run(env.svc.get_bucket("second")) == record
    env.run(env.svc.delete_bucket("second"))
    assert [b.name for b in env.run(env.svc.list_buckets())] == ["bkt"]
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.get_bucket("second"))


def test_create_existing_bucket(env: Env) -> None:
    with pytest.raises(BucketAlreadyOwnedByYou):
        env.run(env.svc.create_bucket("bkt"))


def test_create_invalid_bucket_name(env: Env) -> None:
    with pytest.raises(InvalidBucketName):
        env.run(env.svc.create_bucket("Bad_Name"))
    assert [b.name for b in env.run(env.svc.list_buckets())] == ["bkt"]


def test_delete_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.delete_bucket("nope"))


def test_delete_non_empty_bucket(env: Env) -> None:
    put(env, "k", SMALL)
    with pytest.raises(BucketNotEmpty):
        env.run(env.svc.delete_bucket("bkt"))
    assert get(env, "k") == SMALL
    env.run(env.svc.delete_object("bkt", "k"))
    env.run(env.svc.delete_bucket("bkt"))


# --- put and overwrite --------------------------------------------------------------------------


def test_put_small_is_inline(env: Env) -> None:
    record = put(env, "k", SMALL, attributes=ObjectAttributes("text/plain", {"cache-control": "no-cache"}, {"a": "1"}))
    assert record.inline and record.size == len(SMALL)
    assert record.etag == hashlib.md5(SMALL).hexdigest()
    assert record.last_modified == T0
    assert record.checksum is not None and record.checksum.algorithm == "CRC64NVME"
    d = checksums.new_digest("CRC64NVME")
    d.update(SMALL)
    assert record.checksum.value == checksums.encode(d.digest())
    assert get(env, "k") == SMALL
    assert env.files() == set() and env.tmp() == []
    head, rng = env.run(env.svc.head_object("bkt", "k"))
    assert head == record and rng is None
    assert (head.content_type, head.system_headers, head.user_metadata) == ("text/plain", {"cache-control": "no-cache"}, {"a": "1"})


def test_put_default_content_type(env: Env) -> None:
    assert put(env, "k", SMALL).content_type == "binary/octet-stream"


def test_put_large_is_a_blob_file(env: Env) -> None:
    record = put(env, "k", LARGE)
    assert not record.inline
    assert env.files() == {record.blob_id} and env.tmp() == []
    assert get(env, "k") == LARGE


def test_a_blob_is_durable_before_its_metadata_commit_begins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 1 (DESIGN.md): fsync of the blob file, its rename into place and the fsync of its
    directory all happen before the metadata write is even queued; the write itself commits with
    SQLite's synchronous=FULL (an fsync of the WAL per commit)."""
    meta = SqliteMetaStore(tmp_path / "meta.db", fsync=True)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=True)
    svc = StorageService(meta, blobs, FixedClock(T0), region="us-east-1", owner="o", inline_limit=LIMIT)
    asyncio.run(svc.create_bucket("bkt"))
    steps: list[str] = []
    real_fsync, real_rename, real_write = os.fsync, os.rename, meta.write

    def fsync(fd: int) -> None:
        steps.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def rename(src: object, dst: object) -> None:
        steps.append("rename")
        real_rename(src, dst)

    async def write(fn):  # type: ignore[no-untyped-def]
        steps.append("meta write")
        result = await real_write(fn)
        steps.append("meta committed")
        return result

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(meta, "write", write)
    try:
        record = asyncio.run(svc.put_object(put_request("bkt", "k", LARGE)))
        assert steps == ["fsync file", "rename", "fsync dir", "meta write", "meta committed"]
        assert not record.inline and set(blobs.blob_ids()) == {record.blob_id}
        assert meta._reader.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        meta.close()


def test_put_with_client_checksum_keeps_that_algorithm(env: Env) -> None:
    d = checksums.new_digest("SHA256")
    d.update(LARGE)
    value = checksums.encode(d.digest())
    record = put(env, "k", LARGE, integrity=Integrity(algorithms={"SHA256"}, checksums={"SHA256": value}))
    assert (record.checksum.algorithm, record.checksum.value) == ("SHA256", value)  # type: ignore[union-attr]


def test_put_bad_digest_stores_nothing(env: Env) -> None:
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    from bayou.errors import BadDigest

    with pytest.raises(BadDigest):
        put(env, "k", LARGE, integrity=Integrity(content_md5=md5))
    with pytest.raises(NoSuchKey):
        get(env, "k")
    assert env.files() == set() and env.tmp() == []


def test_put_into_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        put(env, "k", LARGE, bucket="nope")
    assert env.files() == set() and env.tmp() == []


def test_put_key_too_long(env: Env) -> None:
    with pytest.raises(KeyTooLongError):
        put(env, "k" * 1025, SMALL)


@pytest.mark.parametrize("key", ["a/b/../c", "../../etc/passwd", "dir/", "é😀\x01\r\n", " ", "a//b"])
def test_hostile_keys_round_trip(env: Env, key: str) -> None:
    put(env, key, LARGE)
    put(env, key + "-small", SMALL)
    assert get(env, key) == LARGE
    assert get(env, key + "-small") == SMALL
    page = env.run(env.svc.list_objects("bkt", prefix="", delimiter="", after=None, max_keys=10))
    assert [r.key for r in page.objects] == sorted([key, key + "-small"], key=str.encode)


def test_overwrite_file_blob_queues_its_deletion(env: Env) -> None:
    old = put(env, "k", LARGE)
    env.clock.advance(10)
    new = put(env, "k", LARGE[::-1])
    assert new.blob_id != old.blob_id
    assert new.last_modified == T0 + 10
    assert get(env, "k") == LARGE[::-1]
    assert env.outbox() == [{"v": 1, "blob_id": old.blob_id}]
    assert env.files() == {old.blob_id, new.blob_id}  # deleted after the commit, by the collector


def test_overwrite_inline_removes_the_old_inline_row(env: Env) -> None:
    old = put(env, "k", SMALL)
    assert env.run(env.meta.read_inline(old.blob_id)) == SMALL
    new = put(env, "k", b"replacement")
    assert env.run(env.meta.read_inline(old.blob_id)) is None
    assert env.run(env.meta.read_inline(new.blob_id)) == b"replacement"
    assert env.outbox() == []
    assert get(env, "k") == b"replacement"


def test_overwrite_inline_with_file_and_back(env: Env) -> None:
    first = put(env, "k", SMALL)
    second = put(env, "k", LARGE)
    assert env.run(env.meta.read_inline(first.blob_id)) is None
    third = put(env, "k", SMALL)
    assert env.outbox() == [{"v": 1, "blob_id": second.blob_id}]
    assert get(env, "k") == SMALL and third.inline


# --- conditional writes -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
def test_concurrent_if_none_match_star_exactly_one_wins(env: Env, data: bytes) -> None:
    n = 20

    async def race() -> list[object]:
        requests = [put_request("bkt", "k", data + str(i).encode(), if_none_match="*") for i in range(n)]
        return await asyncio.gather(*(env.svc.put_object(r) for r in requests), return_exceptions=True)

    results = env.run(race())
    winners = [r for r in results if isinstance(r, ObjectRecord)]
    losers = [r for r in results if not isinstance(r, ObjectRecord)]
    assert len(winners) == 1, results
    assert all(isinstance(r, PreconditionFailed) for r in losers)
    winner = winners[0]
    head, _ = env.run(env.svc.head_object("bkt", "k"))
    assert head.etag == winner.etag
    assert get(env, "k") == data + str(results.index(winner)).encode()
    # The losers' blobs do not linger as orphans.
    assert env.files() == (set() if winner.inline else {winner.blob_id})
    assert env.tmp() == []
    assert env.outbox() == []


def test_if_match_on_put(env: Env) -> None:
    with pytest.raises(NoSuchKey):
        put(env, "k", SMALL, if_match='"abc"')
    first = put(env, "k", SMALL)
    with pytest.raises(PreconditionFailed):
        put(env, "k", b"two", if_match='"0123456789abcdef0123456789abcdef"')
    assert get(env, "k") == SMALL
    put(env, "k", b"two", if_match=f'"{first.etag}"')
    assert get(env, "k") == b"two"


def test_if_none_match_star_on_existing_key_keeps_the_old_object(env: Env) -> None:
    put(env, "k", LARGE)
    with pytest.raises(PreconditionFailed):
        put(env, "k", LARGE[::-1], if_none_match="*")
    assert get(env, "k") == LARGE
    assert len(env.files()) == 1 and env.tmp() == []


# --- copy ---------------------------------------------------------------------------------------


def _copy(env: Env, src: str, dst: str, replace: ObjectAttributes | None = None, pre: Preconditions | None = None):  # type: ignore[no-untyped-def]
    source = CopySource("bkt", src, pre or Preconditions())
    return env.run(env.svc.copy_object(source, "bkt", dst, replace_attributes=replace))


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
def test_copy_with_copy_directive_keeps_attributes(env: Env, data: bytes) -> None:
    attrs = ObjectAttributes("image/png", {"content-encoding": "gzip"}, {"owner": "me"}, "STANDARD")
    source = put(env, "src", data, attributes=attrs)
    env.clock.advance(1)
    new, src = _copy(env, "src", "dst")
    assert src == source
    assert get(env, "dst") == data
    assert (new.content_type, new.system_headers, new.user_metadata) == ("image/png", {"content-encoding": "gzip"}, {"owner": "me"})
    assert new.etag == source.etag and new.size == source.size
    assert new.checksum == source.checksum
    assert new.last_modified == T0 + 1
    assert new.blob_id != source.blob_id
    assert get(env, "src") == data


def test_copy_with_replace_directive(env: Env) -> None:
    put(env, "src", LARGE, attributes=ObjectAttributes("image/png", {}, {"owner": "me"}))
    new, _ = _copy(env, "src", "dst", ObjectAttributes("text/plain", {}, {"x": "y"}))
    assert (new.content_type, new.user_metadata) == ("text/plain", {"x": "y"})
    assert get(env, "dst") == LARGE


def test_copy_keeps_the_source_checksum_algorithm(env: Env) -> None:
    d = checksums.new_digest("CRC32")
    d.update(LARGE)
    value = checksums.encode(d.digest())
    put(env, "src", LARGE, integrity=Integrity(checksums={"CRC32": value}))
    new, _ = _copy(env, "src", "dst")
    assert (new.checksum.algorithm, new.checksum.value) == ("CRC32", value)  # type: ignore[union-attr]


def test_copy_to_itself_without_changes_is_invalid_request(env: Env) -> None:
    put(env, "k", LARGE)
    with pytest.raises(InvalidRequest):
        _copy(env, "k", "k")
    assert env.outbox() == [] and env.tmp() == [] and len(env.files()) == 1


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
def test_copy_to_itself_with_replace_updates_metadata(env: Env, data: bytes) -> None:
    old = put(env, "k", data, attributes=ObjectAttributes(user_metadata={"v": "1"}))
    new, _ = _copy(env, "k", "k", ObjectAttributes(user_metadata={"v": "2"}))
    assert new.user_metadata == {"v": "2"}
    assert get(env, "k") == data
    head, _ = env.run(env.svc.head_object("bkt", "k"))
    assert head.user_metadata == {"v": "2"}
    if old.inline:
        assert env.run(env.meta.read_inline(old.blob_id)) is None
    else:
        assert env.outbox() == [{"v": 1, "blob_id": old.blob_id}]


def test_copy_source_preconditions(env: Env) -> None:
    source = put(env, "src", SMALL)
    with pytest.raises(PreconditionFailed):
        _copy(env, "src", "dst", pre=Preconditions(if_match='"nope"'))
    with pytest.raises(PreconditionFailed):
        _copy(env, "src", "dst", pre=Preconditions(if_none_match=f'"{source.etag}"'))
    with pytest.raises(NoSuchKey):
        get(env, "dst")
    _copy(env, "src", "dst", pre=Preconditions(if_match=f'"{source.etag}"'))
    assert get(env, "dst") == SMALL


def test_copy_missing_source_or_bucket(env: Env) -> None:
    with pytest.raises(NoSuchKey):
        _copy(env, "missing", "dst")
    put(env, "src", SMALL)
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.copy_object(CopySource("bkt", "src", Preconditions()), "nope", "dst", replace_attributes=None))
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.copy_object(CopySource("nope", "src", Preconditions()), "bkt", "dst", replace_attributes=None))


# --- reads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
@pytest.mark.parametrize("header", ["bytes=2-5", "bytes=3-", "bytes=-4", "bytes=0-0", "bytes=0-999999", "bytes=1-2,4-5"])
def test_open_object_ranges(env: Env, data: bytes, header: str) -> None:
    from bayou.storage.ranges import parse_range

    put(env, "k", data)
    rng = parse_range(header, len(data))
    expected = data if rng is None else data[rng.start : rng.end + 1]
    assert get(env, "k", header) == expected

    async def length() -> int:
        content = await env.svc.open_object("bkt", "k", byte_range=header)
        content.close()
        return content.length

    assert env.run(length()) == len(expected)


def test_open_object_reads_large_blobs_in_bounded_chunks(env: Env) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: more than one read chunk
    put(env, "big", data)

    async def read() -> list[int]:
        content = await env.svc.open_object("bkt", "big", byte_range="bytes=1-")
        return [len(c) async for c in content.chunks()]

    sizes = env.run(read())
    assert sum(sizes) == len(data) - 1 and len(sizes) >= 2 and max(sizes) <= 1024 * 1024


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
def test_open_object_unsatisfiable_range(env: Env, data: bytes) -> None:
    put(env, "k", data)
    with pytest.raises(InvalidRange):
        get(env, "k", f"bytes={len(data)}-")


def test_open_empty_object(env: Env) -> None:
    record = put(env, "empty", b"")
    assert record.size == 0 and record.etag == hashlib.md5(b"").hexdigest()
    assert get(env, "empty") == b""


def test_open_missing(env: Env) -> None:
    with pytest.raises(NoSuchKey):
        get(env, "missing")
    with pytest.raises(NoSuchBucket):
        get(env, "missing", bucket="nope")
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.head_object("nope", "k"))


def test_head_object_preconditions(env: Env) -> None:
    record = put(env, "k", SMALL)
    with pytest.raises(NotModified):
        env.run(env.svc.head_object("bkt", "k", preconditions=Preconditions(if_none_match=f'"{record.etag}"')))
    with pytest.raises(PreconditionFailed):
        env.run(env.svc.head_object("bkt", "k", preconditions=Preconditions(if_match='"x"')))
    _, rng = env.run(env.svc.head_object("bkt", "k", byte_range="bytes=1-2"))
    assert rng is not None and (rng.start, rng.end) == (1, 2)


# --- deletes ------------------------------------------------------------------------------------


def test_delete_is_idempotent(env: Env) -> None:
    env.run(env.svc.delete_object("bkt", "never-existed"))
    inline = put(env, "a", SMALL)
    blob = put(env, "b", LARGE)
    env.run(env.svc.delete_object("bkt", "a"))
    env.run(env.svc.delete_object("bkt", "b"))
    env.run(env.svc.delete_object("bkt", "b"))
    with pytest.raises(NoSuchKey):
        get(env, "a")
    with pytest.raises(NoSuchKey):
        get(env, "b")
    assert env.run(env.meta.read_inline(inline.blob_id)) is None
    assert env.outbox() == [{"v": 1, "blob_id": blob.blob_id}]


def test_delete_in_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.delete_object("nope", "k"))


def test_delete_objects(env: Env) -> None:
    put(env, "a", SMALL)
    b = put(env, "b", LARGE)
    put(env, "keep", SMALL)
    results = env.run(env.svc.delete_objects("bkt", [(k, None) for k in ["a", "b", "missing", "x" * 1025]]))
    assert [(r.key, r.deleted, r.error_code) for r in results] == [
        ("a", True, None),
        ("b", True, None),
        ("missing", True, None),
        ("x" * 1025, False, "KeyTooLongError"),
    ]
    page = env.run(env.svc.list_objects("bkt", prefix="", delimiter="", after=None, max_keys=100))
    assert [r.key for r in page.objects] == ["keep"]
    assert env.outbox() == [{"v": 1, "blob_id": b.blob_id}]


def test_delete_objects_in_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.delete_objects("nope", [("a", None)]))


def test_list_objects_in_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.list_objects("nope", prefix="", delimiter="", after=None, max_keys=10))


def test_list_objects_is_scoped_to_the_bucket(env: Env) -> None:
    env.run(env.svc.create_bucket("other"))
    put(env, "a/1", SMALL)
    put(env, "a/2", SMALL, bucket="other")
    put(env, "b", SMALL)
    page = env.run(env.svc.list_objects("bkt", prefix="", delimiter="/", after=None, max_keys=10))
    assert page.common_prefixes == ["a/"] and [r.key for r in page.objects] == ["b"]


# --- garbage collection (services/gc.py) --------------------------------------------------------


def test_collector_deletes_queued_blobs_and_rows(env: Env) -> None:
    old = put(env, "k", LARGE)
    current = put(env, "k", LARGE[::-1])
    gone = put(env, "gone", LARGE)
    env.run(env.svc.delete_object("bkt", "gone"))
    collector = BlobCollector(env.meta, env.blobs, idle_seconds=0)
    assert env.run(collector.work()) == 2
    assert env.files() == {current.blob_id}
    assert old.blob_id not in env.files() and gone.blob_id not in env.files()
    assert env.outbox() == []
    assert env.run(collector.work()) == 0
    assert collector.status() == {"deleted": 2}
    assert get(env, "k") == LARGE[::-1]


def test_collector_tolerates_an_already_deleted_blob(env: Env) -> None:
    old = put(env, "k", LARGE)
    put(env, "k", SMALL)
    env.blobs.delete(old.blob_id)  # a crash after the file delete, before the row delete
    collector = BlobCollector(env.meta, env.blobs, idle_seconds=0)
    assert env.run(collector.work()) == 1
    assert env.outbox() == []


def test_remove_orphans_keeps_referenced_blobs(env: Env) -> None:
    referenced = put(env, "k", LARGE)
    queued = put(env, "q", LARGE)
    put(env, "q", SMALL)  # `queued` now only has a pending blob.delete row
    orphan = env.blobs.writer()
    orphan.write(b"committed but never referenced")
    orphan.commit()
    partial = env.blobs.writer()
    partial.write(b"a crash mid-upload")
    assert remove_orphans(env.meta, env.blobs) == 2
    assert env.files() == {referenced.blob_id, queued.blob_id}
    assert env.tmp() == []
    assert get(env, "k") == LARGE
    assert remove_orphans(env.meta, env.blobs) == 0
