"""Multipart upload in the storage core (storage/multipart.py) over a real SqliteMetaStore and LocalBlobStore.

Expected ETags and checksums are computed here independently (hashlib, zlib, awscrt) from the
bytes sent, never read back from the implementation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from awscrt import checksums as crt

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
)
from bayou.meta.records import PartRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.gc import BlobCollector
from bayou.storage import multipart
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.multipart import CompletedPart, CompletionResult, MultipartService
from bayou.storage.release import BLOB_DELETE
from bayou.storage.service import StorageService

MiB = 1024 * 1024
MIN = 5 * MiB
T0 = 1_700_000_000.0


@dataclass
class Env:
    svc: StorageService
    mp: MultipartService
    meta: SqliteMetaStore
    blobs: LocalBlobStore
    clock: FixedClock

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def outbox(self) -> list[str]:
        return [r.payload["blob_id"] for r in self.run(self.meta.pending_outbox((BLOB_DELETE,), 10_000))]

    def files(self) -> set[str]:
        return set(self.blobs.blob_ids())

    def tmp(self) -> list[str]:
        return [p.name for p in self.blobs.tmp_dir.iterdir()]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    meta = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=False)
    svc = StorageService(meta, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=1024)
    e = Env(svc, MultipartService(svc), meta, blobs, clock)
    asyncio.run(svc.create_bucket("bkt"))
    yield e
    meta.close()


_DATA: dict[tuple[int, int], bytes] = {}


def data(size: int, seed: int = 0) -> bytes:
    if (size, seed) not in _DATA:
        _DATA[(size, seed)] = random.Random(size * 31 + seed).randbytes(size)
    return _DATA[(size, seed)]


async def _body(payload: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(payload), size):
        yield payload[i : i + size]


def create(env: Env, key: str = "k", algorithm: str | None = None, checksum_type: str | None = None, **attrs) -> str:  # type: ignore[no-untyped-def]
    upload = env.run(env.mp.create("bkt", key, ObjectAttributes(**attrs), algorithm, checksum_type))
    return upload.upload_id


def upload(env: Env, upload_id: str, number: int, payload: bytes, key: str = "k", integrity: Integrity | None = None) -> PartRecord:
    env.clock.advance(1)
    return env.run(
        env.mp.upload_part("bkt", key, upload_id, number, _body(payload), integrity or Integrity(), len(payload))
    )


def complete(env: Env, upload_id: str, parts: list[tuple[int, str]] | list[CompletedPart], key: str = "k") -> CompletionResult:
    env.clock.advance(1)
    items = [p if isinstance(p, CompletedPart) else CompletedPart(p[0], p[1], {}) for p in parts]
    return env.run(env.mp.complete("bkt", key, upload_id, items))


def read(env: Env, key: str = "k", byte_range: str | None = None, part_number: int | None = None) -> bytes:
    async def go() -> bytes:
        content = await env.svc.open_object("bkt", key, byte_range=byte_range, part_number=part_number)
        return b"".join([c async for c in content.chunks()])

    return env.run(go())


def multipart_etag(payloads: list[bytes]) -> str:
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in payloads)).hexdigest() + f"-{len(payloads)}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


RAW = {
    "CRC32": lambda d: zlib.crc32(d).to_bytes(4, "big"),
    "CRC32C": lambda d: crt.crc32c(d).to_bytes(4, "big"),
    "CRC64NVME": lambda d: crt.crc64nvme(d).to_bytes(8, "big"),
    "SHA1": lambda d: hashlib.sha1(d).digest(),
    "SHA256": lambda d: hashlib.sha256(d).digest(),
}


def three_parts(env: Env, upload_id: str, key: str = "k", integrity=None) -> list[bytes]:  # type: ignore[no-untyped-def]
    payloads = [data(MIN, 1), data(MIN + 3, 2), data(1000, 3)]
    for i, p in enumerate(payloads, 1):
        upload(env, upload_id, i, p, key)
    return payloads


def etag_list(payloads: list[bytes]) -> list[tuple[int, str]]:
    return [(i, hashlib.md5(p).hexdigest()) for i, p in enumerate(payloads, 1)]


# --- the happy path ---------------------------------------------------------------------------


def test_complete_etag_size_and_bytes(env: Env) -> None:
    uid = create(env, content_type="text/plain", user_metadata={"a": "b"})
    payloads = three_parts(env, uid)
    result = complete(env, uid, etag_list(payloads))
    whole = b"".join(payloads)
    assert result.etag == multipart_etag(payloads) and result.version_id == "null"
    record, _ = env.run(env.svc.head_object("bkt", "k"))
    assert record.etag == result.etag
    assert record.size == len(whole) and record.parts_count == 3
    assert record.content_type == "text/plain" and record.user_metadata == {"a": "b"}
    assert read(env) == whole
    # the upload is gone
    with pytest.raises(NoSuchUpload):
        upload(env, uid, 4, b"x")
    assert env.outbox() == []


def test_complete_retried_after_success_answers_the_same(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    uid = create(env, algorithm="CRC32")
    payloads = [data(MIN, 90), data(10, 91)]
    for i, p in enumerate(payloads, 1):
        upload(env, uid, i, p)
    first = complete(env, uid, etag_list(payloads))
    files = env.files()
    again = complete(env, uid, etag_list(payloads))
    assert again == first
    # the retry changed nothing: no second version, no blob written or freed
    page = env.run(env.svc.list_object_versions("bkt", prefix="", delimiter="", key_marker="", version_marker="", max_keys=10))
    assert [e.record.version_id for e in page.entries] == [first.version_id]
    assert env.files() == files and env.outbox() == []
    # but only for the same key, and an abort after completion finds no upload
    with pytest.raises(NoSuchUpload):
        complete(env, uid, etag_list(payloads), key="other")
    with pytest.raises(NoSuchUpload):
        env.run(env.mp.abort("bkt", "k", uid))
    with pytest.raises(NoSuchUpload):
        upload(env, uid, 3, b"late")


def test_etag_accepts_quoted_and_unquoted(env: Env) -> None:
    uid = create(env)
    payloads = [data(MIN, 5), data(10, 6)]
    for i, p in enumerate(payloads, 1):
        upload(env, uid, i, p)
    parts = [(1, f'"{hashlib.md5(payloads[0]).hexdigest()}"'), (2, hashlib.md5(payloads[1]).hexdigest())]
    assert complete(env, uid, parts).etag == multipart_etag(payloads)


def test_single_small_part_is_allowed(env: Env) -> None:
    uid = create(env)
    upload(env, uid, 7, b"only part")
    record = complete(env, uid, [(7, hashlib.md5(b"only part").hexdigest())])
    assert record.etag == multipart_etag([b"only part"])
    assert read(env) == b"only part"


def test_complete_with_a_subset_of_parts_frees_the_others(env: Env) -> None:
    uid = create(env)
    payloads = [data(MIN, 11), data(MIN, 12), data(MIN, 13), data(50, 14)]
    parts = [upload(env, uid, n, p) for n, p in zip((1, 2, 5, 9), payloads, strict=True)]
    record = complete(env, uid, [(1, parts[0].etag), (5, parts[2].etag), (9, parts[3].etag)])
    assert env.outbox() == [parts[1].blob_id]
    kept = [payloads[0], payloads[2], payloads[3]]
    assert read(env) == b"".join(kept)
    assert record.etag == multipart_etag(kept)


def test_complete_does_not_write_blobs(env: Env) -> None:
    uid = create(env, algorithm="CRC32", checksum_type="FULL_OBJECT")
    three_parts(env, uid)
    parts = env.run(env.meta.list_parts(uid, 0, 100))
    before = env.files()
    sizes = {p: env.blobs.path_for(p).stat().st_size for p in before}
    assert before == {p.blob_id for p in parts}
    complete(env, uid, [(p.part_number, p.etag) for p in parts])
    assert env.files() == before and env.tmp() == []
    assert {p: env.blobs.path_for(p).stat().st_size for p in before} == sizes


def test_reuploading_a_part_replaces_it_and_frees_the_old_blob(env: Env) -> None:
    uid = create(env)
    first = upload(env, uid, 1, data(MIN, 20))
    second = upload(env, uid, 1, data(MIN, 21))
    assert first.blob_id != second.blob_id
    assert env.outbox() == [first.blob_id]
    listed = env.run(env.meta.list_parts(uid, 0, 100))
    assert [(p.part_number, p.etag) for p in listed] == [(1, hashlib.md5(data(MIN, 21)).hexdigest())]
    with pytest.raises(InvalidPart):
        complete(env, uid, [(1, first.etag)])
    complete(env, uid, [(1, second.etag)])
    assert read(env) == data(MIN, 21)


def test_abort_queues_every_part_blob(env: Env) -> None:
    uid = create(env)
    parts = [upload(env, uid, n, data(2000, n)) for n in (1, 2, 3)]
    env.run(env.mp.abort("bkt", "k", uid))
    assert sorted(env.outbox()) == sorted(p.blob_id for p in parts)
    with pytest.raises(NoSuchUpload):
        env.run(env.mp.abort("bkt", "k", uid))
    with pytest.raises(NoSuchUpload):
        complete(env, uid, [(1, parts[0].etag)])
    with pytest.raises(NoSuchKey):
        read(env)
    assert env.run(BlobCollector(env.meta, env.blobs).work()) == 3
    assert env.files() == set()


def test_overwriting_a_multipart_object_frees_all_its_parts(env: Env) -> None:
    uid = create(env)
    three_parts(env, uid)
    parts = env.run(env.meta.list_parts(uid, 0, 100))
    complete(env, uid, [(p.part_number, p.etag) for p in parts])
    env.run(env.svc.put_object(PutRequest("bkt", "k", _body(b"small"), ObjectAttributes(), Integrity(), 5)))
    assert sorted(env.outbox()) == sorted(p.blob_id for p in parts)
    assert read(env) == b"small"


def test_deleting_a_multipart_version_frees_its_parts_only_then(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    uid = create(env)
    payloads = three_parts(env, uid)
    parts = env.run(env.meta.list_parts(uid, 0, 100))
    record = complete(env, uid, [(p.part_number, p.etag) for p in parts])
    env.run(env.svc.delete_object("bkt", "k"))  # marker: bytes still referenced
    assert env.outbox() == []
    async def old() -> bytes:
        content = await env.svc.open_object("bkt", "k", version_id=record.version_id, byte_range="bytes=5242878-5242881")
        return b"".join([c async for c in content.chunks()])
    assert env.run(old()) == b"".join(payloads)[MIN - 2 : MIN + 2]
    env.run(env.svc.delete_object("bkt", "k", record.version_id))
    assert sorted(env.outbox()) == sorted(p.blob_id for p in parts)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [0, -1, 10001])
def test_part_number_out_of_range(env: Env, number: int) -> None:
    uid = create(env)
    with pytest.raises(InvalidArgument):
        upload(env, uid, number, b"x")
    assert env.files() == set() and env.tmp() == []


def test_part_numbers_1_and_10000_are_valid(env: Env) -> None:
    uid = create(env)
    a, b = upload(env, uid, 1, data(MIN, 30)), upload(env, uid, 10000, b"last")
    record = complete(env, uid, [(1, a.etag), (10000, b.etag)])
    assert record.etag == multipart_etag([data(MIN, 30), b"last"])


def test_complete_wrong_etag_is_invalid_part(env: Env) -> None:
    uid = create(env)
    payloads = three_parts(env, uid)
    parts = etag_list(payloads)
    parts[1] = (2, hashlib.md5(b"other").hexdigest())
    with pytest.raises(InvalidPart):
        complete(env, uid, parts)
    # nothing changed: the upload can still complete
    assert complete(env, uid, etag_list(payloads)).etag == multipart_etag(payloads)


def test_complete_missing_part_is_invalid_part(env: Env) -> None:
    uid = create(env)
    payloads = three_parts(env, uid)
    with pytest.raises(InvalidPart):
        complete(env, uid, etag_list(payloads) + [(4, hashlib.md5(b"").hexdigest())])
    with pytest.raises(NoSuchKey):
        read(env)


@pytest.mark.parametrize("order", [[2, 1, 3], [1, 3, 2], [1, 1, 2, 3], [3, 2, 1]])
def test_complete_out_of_order_is_invalid_part_order(env: Env, order: list[int]) -> None:
    uid = create(env)
    payloads = three_parts(env, uid)
    etags = dict(etag_list(payloads))
    with pytest.raises(InvalidPartOrder):
        complete(env, uid, [(n, etags[n]) for n in order])
    assert env.files() == {p.blob_id for p in env.run(env.meta.list_parts(uid, 0, 100))}


def test_non_last_part_under_5_mib_is_entity_too_small(env: Env) -> None:
    uid = create(env)
    small = data(MIN - 1, 40)
    a, b = upload(env, uid, 1, small), upload(env, uid, 2, data(MIN, 41))
    with pytest.raises(EntityTooSmall):
        complete(env, uid, [(1, a.etag), (2, b.etag)])
    # as the last part, the same small part is fine
    c = upload(env, uid, 3, small)
    complete(env, uid, [(2, b.etag), (3, c.etag)])
    record, _ = env.run(env.svc.head_object("bkt", "k"))
    assert record.size == MIN + MIN - 1 and record.parts_count == 2
    assert env.outbox() == [a.blob_id]


def test_unknown_upload_is_no_such_upload(env: Env) -> None:
    with pytest.raises(NoSuchUpload):
        upload(env, "0" * 32, 1, b"x")
    with pytest.raises(NoSuchUpload):
        complete(env, "0" * 32, [(1, hashlib.md5(b"x").hexdigest())])
    with pytest.raises(NoSuchUpload):
        env.run(env.mp.abort("bkt", "k", "0" * 32))
    assert env.files() == set() and env.tmp() == []


def test_upload_id_of_another_key_is_no_such_upload(env: Env) -> None:
    uid = create(env, key="a")
    with pytest.raises(NoSuchUpload):
        upload(env, uid, 1, b"x", key="b")
    part = upload(env, uid, 1, b"x", key="a")
    with pytest.raises(NoSuchUpload):
        complete(env, uid, [(1, part.etag)], key="b")


def test_upload_in_missing_bucket(env: Env) -> None:
    with pytest.raises(NoSuchBucket):
        env.run(env.mp.create("nope", "k", ObjectAttributes(), None, None))


# --- checksums -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "checksum_type"),
    [("CRC32", "COMPOSITE"), ("CRC32C", "COMPOSITE"), ("SHA1", "COMPOSITE"), ("SHA256", "COMPOSITE"),
     ("CRC32", "FULL_OBJECT"), ("CRC32C", "FULL_OBJECT"), ("CRC64NVME", "FULL_OBJECT"),
     ("CRC64NVME", None), ("SHA256", None)],
)
def test_object_checksum_from_part_checksums(env: Env, algorithm: str, checksum_type: str | None) -> None:
    uid = create(env, algorithm=algorithm, checksum_type=checksum_type)
    payloads = [data(MIN, 50), data(MIN + 17, 51), data(333, 52)]
    parts = [upload(env, uid, i, p) for i, p in enumerate(payloads, 1)]
    for part, payload in zip(parts, payloads, strict=True):
        assert part.checksum == b64(RAW[algorithm](payload))
    record = complete(env, uid, [(p.part_number, p.etag) for p in parts])
    effective = checksum_type or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
    assert record.checksum is not None
    assert (record.checksum.algorithm, record.checksum.type) == (algorithm, effective)
    if effective == "FULL_OBJECT":
        expected = b64(RAW[algorithm](b"".join(payloads)))
    else:
        expected = b64(RAW[algorithm](b"".join(RAW[algorithm](p) for p in payloads))) + "-3"
    assert record.checksum.value == expected
    head, _ = env.run(env.svc.head_object("bkt", "k"))
    assert head.checksum == record.checksum


@pytest.mark.parametrize(("algorithm", "checksum_type"), [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"),
                                                          ("CRC64NVME", "COMPOSITE")])
def test_impossible_checksum_type_is_refused(env: Env, algorithm: str, checksum_type: str) -> None:
    with pytest.raises(InvalidRequest):
        create(env, algorithm=algorithm, checksum_type=checksum_type)


def test_part_checksums_in_complete_are_checked(env: Env) -> None:
    uid = create(env, algorithm="CRC32C", checksum_type="COMPOSITE")
    payloads = [data(MIN, 60), data(20, 61)]
    parts = [upload(env, uid, i, p) for i, p in enumerate(payloads, 1)]
    good = [CompletedPart(p.part_number, p.etag, {"CRC32C": b64(RAW["CRC32C"](d))}) for p, d in zip(parts, payloads, strict=True)]
    bad = list(good)
    bad[1] = CompletedPart(2, parts[1].etag, {"CRC32C": b64(RAW["CRC32C"](b"nope"))})
    with pytest.raises(InvalidPart):
        complete(env, uid, bad)
    record = complete(env, uid, good)
    assert record.checksum is not None and record.checksum.value.endswith("-2")


def test_part_with_a_wrong_client_checksum_is_refused(env: Env) -> None:
    uid = create(env, algorithm="CRC32")
    payload = data(4000, 70)
    with pytest.raises(BadDigest):
        upload(env, uid, 1, payload, integrity=Integrity(checksums={"CRC32": b64(RAW["CRC32"](b"other"))}))
    part = upload(env, uid, 1, payload, integrity=Integrity(checksums={"CRC32": b64(RAW["CRC32"](payload))}))
    assert part.checksum == b64(RAW["CRC32"](payload))
    assert env.files() == {part.blob_id} and env.tmp() == []


# --- reads of a multipart object ---------------------------------------------------------------


@pytest.fixture
def mp_object(env: Env) -> tuple[Env, bytes, list[int]]:
    uid = create(env)
    payloads = [data(MIN, 80), data(MIN + 1, 81), data(MIN, 82), data(4097, 83)]
    for i, p in enumerate(payloads, 1):
        upload(env, uid, i, p)
    complete(env, uid, etag_list(payloads))
    starts = [0]
    for p in payloads:
        starts.append(starts[-1] + len(p))
    return env, b"".join(payloads), starts


def test_ranged_reads_across_part_boundaries(mp_object: tuple[Env, bytes, list[int]]) -> None:
    env, whole, starts = mp_object
    size = len(whole)
    b1, b2, b3 = starts[1], starts[2], starts[3]
    cases = [
        (b1 - 1, b1), (b1 - 100, b1 + 100), (b1, b1), (b2 - 1, b2 + 1), (b1 - 5, b3 + 5), (0, size - 1),
        (b3, size - 1), (size - 1, size - 1), (0, 0), (b1 + 12345, b2 - 12345),
    ]
    for first, last in cases:
        assert read(env, byte_range=f"bytes={first}-{last}") == whole[first : last + 1], (first, last)
    assert read(env, byte_range=f"bytes={b3 - 10}-") == whole[b3 - 10 :]
    assert read(env, byte_range="bytes=-5000") == whole[-5000:]
    assert read(env, byte_range=f"bytes={b1 - 3}-{size + 100}") == whole[b1 - 3 :]
    with pytest.raises(InvalidRange):
        read(env, byte_range=f"bytes={size}-")
    assert read(env) == whole


def test_read_by_part_number(mp_object: tuple[Env, bytes, list[int]]) -> None:
    env, whole, starts = mp_object
    for n in range(1, 5):
        assert read(env, part_number=n) == whole[starts[n - 1] : starts[n]], n
        _, rng = env.run(env.svc.head_object("bkt", "k", part_number=n))
        assert rng is not None and (rng.start, rng.start + rng.length) == (starts[n - 1], starts[n])
    with pytest.raises(InvalidPartNumber):
        read(env, part_number=5)


def test_part_number_of_a_simple_object(env: Env) -> None:
    env.run(env.svc.put_object(PutRequest("bkt", "s", _body(b"simple"), ObjectAttributes(), Integrity(), 6)))
    assert read(env, "s", part_number=1) == b"simple"
    with pytest.raises(InvalidPartNumber):
        read(env, "s", part_number=2)


# --- listing ---------------------------------------------------------------------------------


def test_list_parts_pages(env: Env) -> None:
    uid = create(env)
    numbers = [1, 2, 3, 5, 8, 13, 21]
    for n in numbers:
        upload(env, uid, n, str(n).encode())
    seen, after = [], 0
    while True:
        _, parts, truncated = env.run(multipart.list_parts(env.mp, "bkt", "k", uid, after, 2))
        seen += [p.part_number for p in parts]
        if not truncated:
            break
        after = parts[-1].part_number
    assert seen == numbers
    _, parts, truncated = env.run(multipart.list_parts(env.mp, "bkt", "k", uid, 5, 1000))
    assert [p.part_number for p in parts] == [8, 13, 21] and not truncated
    assert [p.size for p in parts] == [1, 2, 2]


def test_list_uploads_prefix_delimiter_markers(env: Env) -> None:
    keys = ["a/1", "a/2", "b", "b", "c/d/e", "c/x", "d"]
    ids = [create(env, key=k) for k in keys]
    ordered = sorted(zip(keys, ids, strict=True))

    def ls(**kw):  # type: ignore[no-untyped-def]
        args = {"prefix": "", "delimiter": "", "key_marker": "", "upload_id_marker": "", "limit": 1000} | kw
        got = env.run(multipart.list_uploads(env.mp, "bkt", **args))
        return [(u.key, u.upload_id) for u in got.uploads], got.common_prefixes, got.is_truncated

    assert ls() == (ordered, [], False)
    assert ls(prefix="c/") == ([u for u in ordered if u[0].startswith("c/")], [], False)
    assert ls(delimiter="/") == ([u for u in ordered if "/" not in u[0]], ["a/", "c/"], False)
    assert ls(prefix="c/", delimiter="/") == ([u for u in ordered if u[0] == "c/x"], ["c/d/"], False)
    assert ls(key_marker="b") == ([u for u in ordered if u[0] > "b"], [], False)
    b_uploads = [u for u in ordered if u[0] == "b"]
    assert ls(key_marker="b", upload_id_marker=b_uploads[0][1]) == (
        [b_uploads[1]] + [u for u in ordered if u[0] > "b"], [], False)
    # paging through with limit 1 reproduces the whole list
    seen, marker = [], ("", "")
    while True:
        uploads, _, truncated = ls(key_marker=marker[0], upload_id_marker=marker[1], limit=1)
        seen += uploads
        if not truncated:
            break
        marker = uploads[-1]
    assert seen == ordered
