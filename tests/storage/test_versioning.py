"""Versioning in the storage core (storage/versioning.py) over a real SqliteMetaStore and LocalBlobStore.

Every expectation comes from S3's documented behaviour: version ordering, the `null` version in
Enabled and Suspended buckets, delete markers, promotion on version delete, and
ListObjectVersions pagination, checked against an independent model of the versions written.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import (
    BucketNotEmpty,
    InvalidArgument,
    MethodNotAllowed,
    NoSuchKey,
    NoSuchVersion,
)
from bayou.meta.records import ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.gc import BlobCollector
from bayou.storage.conditions import Preconditions
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.release import BLOB_DELETE
from bayou.storage.service import CopySource, StorageService

LIMIT = 1024
T0 = 1_700_000_000.0
VERSION_RE = re.compile(r"[0-9a-f]{24}")


@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetaStore
    blobs: LocalBlobStore
    clock: FixedClock

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def outbox(self) -> list[str]:
        rows = self.run(self.meta.pending_outbox((BLOB_DELETE,), 10_000))
        return [row.payload["blob_id"] for row in rows]

    def files(self) -> set[str]:
        return set(self.blobs.blob_ids())

    def versioning(self, status: str, bucket: str = "bkt") -> None:
        self.run(self.svc.set_bucket_versioning(bucket, status))


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


@pytest.fixture
def venv(env: Env) -> Env:
    """A bucket with versioning Enabled."""
    env.versioning("Enabled")
    return env


async def _body(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def put(env: Env, key: str, data: bytes, bucket: str = "bkt", tick: float = 1.0) -> ObjectRecord:
    env.clock.advance(tick)
    req = PutRequest(bucket, key, _body(data), ObjectAttributes(), Integrity(), content_length=len(data))
    return env.run(env.svc.put_object(req))


def read(env: Env, key: str, version_id: str | None = None, byte_range: str | None = None) -> bytes:
    async def go() -> bytes:
        content = await env.svc.open_object("bkt", key, version_id=version_id, byte_range=byte_range)
        return b"".join([c async for c in content.chunks()])

    return env.run(go())


def delete(env: Env, key: str, version_id: str | None = None):  # type: ignore[no-untyped-def]
    env.clock.advance(1)
    return env.run(env.svc.delete_object("bkt", key, version_id))


def versions(env: Env, key: str | None = None, **kw) -> list[tuple[str, str, bool, bool]]:  # type: ignore[no-untyped-def]
    """The whole ListObjectVersions result as (key, version id, is delete marker, is latest)."""
    page = env.run(
        env.svc.list_object_versions(
            "bkt", prefix=kw.get("prefix", key or ""), delimiter="", key_marker="", version_marker="", max_keys=1000
        )
    )
    assert not page.is_truncated
    out = [(e.record.key, e.record.version_id, e.record.delete_marker, e.is_latest) for e in page.entries]
    return [o for o in out if key is None or o[0] == key]


def blob(n: int, seed: int = 0) -> bytes:
    """A body above the inline limit, so it lives in a blob file."""
    return random.Random(seed * 7919 + n).randbytes(LIMIT * 3 + n)


# --- version ids and ordering ---------------------------------------------------------------


def test_version_ids_are_opaque_unique_and_ordered_newest_first(venv: Env) -> None:
    written = [put(venv, "k", f"v{i}".encode(), tick=0.0 if i % 2 else 1.0) for i in range(8)]
    ids = [r.version_id for r in written]
    assert all(VERSION_RE.fullmatch(v) for v in ids), ids
    assert len(set(ids)) == 8
    # ordered by time: later writes sort higher, even within the same clock tick
    assert ids == sorted(ids)
    listed = versions(venv, "k")
    assert [v[1] for v in listed] == ids[::-1]
    assert [v[3] for v in listed] == [True] + [False] * 7
    assert not any(v[2] for v in listed)
    for i, vid in enumerate(ids):
        assert read(venv, "k", vid) == f"v{i}".encode()
    assert read(venv, "k") == b"v7"


def test_unversioned_bucket_has_only_the_null_version(env: Env) -> None:
    first = put(env, "k", blob(1))
    second = put(env, "k", blob(2))
    assert first.version_id == second.version_id == "null"
    assert versions(env, "k") == [("k", "null", False, True)]
    assert read(env, "k", "null") == blob(2)
    assert env.outbox() == [first.blob_id]  # replaced, not kept


def test_enabling_keeps_the_null_version_as_history(env: Env) -> None:
    null = put(env, "k", b"before")
    env.versioning("Enabled")
    v1 = put(env, "k", b"after")
    assert VERSION_RE.fullmatch(v1.version_id)
    assert versions(env, "k") == [("k", v1.version_id, False, True), ("k", "null", False, False)]
    assert read(env, "k", "null") == b"before" and null.version_id == "null"
    assert read(env, "k") == b"after"


def test_suspended_put_replaces_only_the_null_version(venv: Env) -> None:
    v1 = put(venv, "k", blob(1))
    venv.versioning("Suspended")
    n1 = put(venv, "k", blob(2))
    assert n1.version_id == "null"
    assert versions(venv, "k") == [("k", "null", False, True), ("k", v1.version_id, False, False)]
    assert venv.outbox() == []  # v1 is kept: nothing freed
    n2 = put(venv, "k", blob(3))
    assert versions(venv, "k") == [("k", "null", False, True), ("k", v1.version_id, False, False)]
    assert venv.outbox() == [n1.blob_id]  # the older null version was replaced
    assert read(venv, "k") == blob(3) and read(venv, "k", "null") == blob(3)
    assert read(venv, "k", v1.version_id) == blob(1)
    assert n2.blob_id in venv.files()


def test_suspended_put_replaces_a_null_version_that_is_not_current(venv: Env) -> None:
    # null (pre-versioning) -> v1 (enabled) -> suspended put: the old null in history is replaced
    venv.versioning("Suspended")
    old_null = put(venv, "k", blob(1))
    venv.versioning("Enabled")
    v1 = put(venv, "k", blob(2))
    venv.versioning("Suspended")
    new_null = put(venv, "k", blob(3))
    assert versions(venv, "k") == [("k", "null", False, True), ("k", v1.version_id, False, False)]
    assert venv.outbox() == [old_null.blob_id]
    assert read(venv, "k", "null") == blob(3) and new_null.version_id == "null"


def test_suspended_delete_puts_a_null_delete_marker(venv: Env) -> None:
    v1 = put(venv, "k", blob(1))
    venv.versioning("Suspended")
    n1 = put(venv, "k", blob(2))
    outcome = delete(venv, "k")
    assert (outcome.delete_marker, outcome.version_id) == (True, "null")
    assert versions(venv, "k") == [("k", "null", True, True), ("k", v1.version_id, False, False)]
    assert venv.outbox() == [n1.blob_id]  # the null version's bytes are gone with it
    with pytest.raises(NoSuchKey):
        read(venv, "k")
    # a second delete replaces the null marker with a new null marker: still one null entry
    delete(venv, "k")
    assert versions(venv, "k") == [("k", "null", True, True), ("k", v1.version_id, False, False)]


# --- delete markers, promotion ------------------------------------------------------------------


def test_delete_without_version_adds_a_marker_and_keeps_data(venv: Env) -> None:
    v1 = put(venv, "k", blob(1))
    outcome = delete(venv, "k")
    assert outcome.delete_marker and VERSION_RE.fullmatch(outcome.version_id or "")
    assert outcome.version_id > v1.version_id
    assert versions(venv, "k") == [("k", outcome.version_id, True, True), ("k", v1.version_id, False, False)]
    with pytest.raises(NoSuchKey) as info:
        read(venv, "k")
    assert info.value.headers == {"x-amz-delete-marker": "true", "x-amz-version-id": outcome.version_id}
    with pytest.raises(MethodNotAllowed) as info2:
        read(venv, "k", outcome.version_id)
    assert info2.value.headers.get("x-amz-delete-marker") == "true"
    with pytest.raises(MethodNotAllowed):
        venv.run(venv.svc.head_object("bkt", "k", version_id=outcome.version_id))
    assert read(venv, "k", v1.version_id) == blob(1)
    assert venv.outbox() == []
    listed = venv.run(venv.svc.list_objects("bkt", prefix="", delimiter="", after=None, max_keys=1000))
    assert [o.key for o in listed.objects] == []


def test_deleting_the_current_version_promotes_the_next(venv: Env) -> None:
    v = [put(venv, "k", blob(i)) for i in range(3)]
    outcome = delete(venv, "k", v[2].version_id)
    assert (outcome.delete_marker, outcome.version_id) == (False, v[2].version_id)
    assert read(venv, "k") == blob(1)
    assert versions(venv, "k") == [("k", v[1].version_id, False, True), ("k", v[0].version_id, False, False)]
    assert venv.outbox() == [v[2].blob_id]
    record, _ = venv.run(venv.svc.head_object("bkt", "k"))
    assert record.version_id == v[1].version_id and record.etag == v[1].etag


def test_deleting_a_noncurrent_version_keeps_the_current(venv: Env) -> None:
    v = [put(venv, "k", blob(i)) for i in range(3)]
    delete(venv, "k", v[1].version_id)
    assert read(venv, "k") == blob(2)
    assert versions(venv, "k") == [("k", v[2].version_id, False, True), ("k", v[0].version_id, False, False)]
    assert venv.outbox() == [v[1].blob_id]
    with pytest.raises(NoSuchVersion):
        read(venv, "k", v[1].version_id)


def test_deleting_the_latest_delete_marker_undeletes(venv: Env) -> None:
    v1 = put(venv, "k", blob(1))
    marker = delete(venv, "k")
    outcome = delete(venv, "k", marker.version_id)
    # S3: deleting a marker by version id answers x-amz-delete-marker: true and its version id
    assert (outcome.delete_marker, outcome.version_id) == (True, marker.version_id)
    assert read(venv, "k") == blob(1)
    assert versions(venv, "k") == [("k", v1.version_id, False, True)]
    assert venv.outbox() == []


def test_deleting_an_older_marker_leaves_the_key_deleted(venv: Env) -> None:
    v1 = put(venv, "k", b"one")
    m1 = delete(venv, "k")
    v2 = put(venv, "k", b"two")
    m2 = delete(venv, "k")
    delete(venv, "k", m1.version_id)
    with pytest.raises(NoSuchKey):
        read(venv, "k")
    assert versions(venv, "k") == [
        ("k", m2.version_id, True, True), ("k", v2.version_id, False, False), ("k", v1.version_id, False, False)
    ]
    delete(venv, "k", m2.version_id)
    assert read(venv, "k") == b"two"


def test_deleting_a_version_below_a_marker_keeps_the_marker_latest(venv: Env) -> None:
    v1 = put(venv, "k", blob(1))
    v2 = put(venv, "k", blob(2))
    m = delete(venv, "k")
    delete(venv, "k", v2.version_id)
    assert versions(venv, "k") == [("k", m.version_id, True, True), ("k", v1.version_id, False, False)]
    with pytest.raises(NoSuchKey):
        read(venv, "k")
    assert venv.outbox() == [v2.blob_id]


def test_two_markers_in_a_row(venv: Env) -> None:
    v1 = put(venv, "k", b"x")
    m1, m2 = delete(venv, "k"), delete(venv, "k")
    assert m1.version_id != m2.version_id
    assert versions(venv, "k") == [
        ("k", m2.version_id, True, True), ("k", m1.version_id, True, False), ("k", v1.version_id, False, False)
    ]
    delete(venv, "k", m2.version_id)
    with pytest.raises(NoSuchKey):  # the older marker is now latest
        read(venv, "k")
    delete(venv, "k", m1.version_id)
    assert read(venv, "k") == b"x"


def test_delete_missing_version_succeeds_and_changes_nothing(venv: Env) -> None:
    v1 = put(venv, "k", b"x")
    outcome = delete(venv, "k", "0" * 24)
    assert not outcome.delete_marker
    assert versions(venv, "k") == [("k", v1.version_id, False, True)]


def test_version_of_another_key_is_no_such_version(venv: Env) -> None:
    a = put(venv, "a", b"a")
    put(venv, "b", b"b")
    with pytest.raises(NoSuchVersion):
        read(venv, "b", a.version_id)
    with pytest.raises(NoSuchVersion):
        venv.run(venv.svc.head_object("bkt", "b", version_id=a.version_id))
    with pytest.raises(NoSuchVersion):
        read(venv, "a", "f" * 24)
    # deleting a's version through key b must not touch a
    delete(venv, "b", a.version_id)
    assert read(venv, "a", a.version_id) == b"a"


@pytest.mark.parametrize("bad", ["xyz", "0" * 23, "G" * 24, "NULL", "0" * 25])
def test_malformed_version_id(venv: Env, bad: str) -> None:
    put(venv, "k", b"x")
    with pytest.raises(InvalidArgument):
        read(venv, "k", bad)
    with pytest.raises(InvalidArgument):
        delete(venv, "k", bad)


def test_null_version_addressable_in_enabled_bucket(venv: Env) -> None:
    v1 = put(venv, "k", b"x")
    with pytest.raises(NoSuchVersion):
        read(venv, "k", "null")
    delete(venv, "k", "null")  # nothing to delete: a success that changes nothing
    assert versions(venv, "k") == [("k", v1.version_id, False, True)]


def test_copy_from_a_given_version(venv: Env) -> None:
    v1 = put(venv, "src", blob(1))
    put(venv, "src", blob(2))
    new, src = venv.run(
        venv.svc.copy_object(CopySource("bkt", "src", Preconditions(), v1.version_id), "bkt", "dst",
                             replace_attributes=None)
    )
    assert src.version_id == v1.version_id
    assert read(venv, "dst") == blob(1) and new.etag == v1.etag
    assert new.version_id != v1.version_id and VERSION_RE.fullmatch(new.version_id)


# --- buckets and blob lifetimes ----------------------------------------------------------------


def test_bucket_with_only_history_is_not_empty(venv: Env) -> None:
    v1 = put(venv, "k", b"x")
    marker = delete(venv, "k")
    with pytest.raises(BucketNotEmpty):
        venv.run(venv.svc.delete_bucket("bkt"))
    delete(venv, "k", v1.version_id)
    with pytest.raises(BucketNotEmpty):  # the lone delete marker still counts
        venv.run(venv.svc.delete_bucket("bkt"))
    delete(venv, "k", marker.version_id)
    venv.run(venv.svc.delete_bucket("bkt"))
    assert [b.name for b in venv.run(venv.svc.list_buckets())] == []


def test_enabled_overwrite_and_marker_queue_nothing(venv: Env) -> None:
    records = [put(venv, "k", blob(i)) for i in range(3)]
    delete(venv, "k")
    assert venv.outbox() == []
    assert venv.files() == {r.blob_id for r in records}


def test_removed_versions_are_queued_once_and_collected(venv: Env) -> None:
    records = [put(venv, "k", blob(i)) for i in range(4)]
    inline = put(venv, "k", b"tiny")
    for r in (records[0], records[2], inline):
        delete(venv, "k", r.version_id)
    assert sorted(venv.outbox()) == sorted([records[0].blob_id, records[2].blob_id])
    collector = BlobCollector(venv.meta, venv.blobs)
    assert venv.run(collector.work()) == 2
    assert venv.files() == {records[1].blob_id, records[3].blob_id}
    assert venv.outbox() == []
    assert read(venv, "k") == blob(3)
    assert read(venv, "k", records[1].version_id) == blob(1)


def test_unversioned_overwrite_of_a_file_queues_it(env: Env) -> None:
    a = put(env, "k", blob(1))
    put(env, "k", blob(2))
    delete(env, "k")
    assert len(env.outbox()) == 2 and env.outbox()[0] == a.blob_id


# --- ListObjectVersions pagination --------------------------------------------------------------


@dataclass
class Model:
    """The versions S3 should list, written independently of the implementation."""

    history: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # key -> [(vid, marker)], oldest first

    def add(self, key: str, vid: str, marker: bool) -> None:
        self.history.setdefault(key, []).append((vid, marker))

    def remove(self, key: str, vid: str) -> None:
        self.history[key] = [h for h in self.history[key] if h[0] != vid]

    def listing(self) -> list[tuple[str, str, bool, bool]]:
        out = []
        for key in sorted(self.history, key=lambda k: k.encode()):
            newest_first = self.history[key][::-1]
            out += [(key, vid, marker, i == 0) for i, (vid, marker) in enumerate(newest_first)]
        return out

    def expected(self, prefix: str, delimiter: str) -> list[tuple]:
        """The stream S3 pages through: versions and ("prefix", P) entries, in order."""
        out: list[tuple] = []
        seen: set[str] = set()
        for entry in self.listing():
            key = entry[0]
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if common not in seen:
                    seen.add(common)
                    out.append(("prefix", common))
                continue
            out.append(entry)
        return out


KEYS = ["a", "a/b", "a/b/c", "a/c", "a/d/e", "ab", "b", "b/", "c\u00e9", "c~", "d/x", "\U0001f600", "z"]


def build(env: Env, seed: int, ops: int) -> Model:
    """Random puts, deletes (markers) and version deletes over KEYS, mirrored in a Model."""
    rng = random.Random(seed)
    model = Model()
    env.versioning("Suspended")
    for key in KEYS[::3]:  # null versions written before versioning was enabled
        put(env, key, b"null-" + key.encode())
        model.add(key, "null", False)
    env.versioning("Enabled")
    for _ in range(ops):
        key = rng.choice(KEYS)
        roll = rng.random()
        if roll < 0.65:
            r = put(env, key, f"{key}-{rng.random()}".encode(), tick=rng.choice([0.0, 0.5]))
            model.add(key, r.version_id, False)
        elif roll < 0.85:
            outcome = delete(env, key)
            model.add(key, outcome.version_id, True)
        elif model.history.get(key):
            vid = rng.choice(model.history[key])[0]
            delete(env, key, vid)
            model.remove(key, vid)
    return model


def paginate(env: Env, max_keys: int, prefix: str = "", delimiter: str = "") -> tuple[list[tuple], int]:
    stream: list[tuple] = []
    key_marker, version_marker, pages = "", "", 0
    while True:
        page = env.run(
            env.svc.list_object_versions(
                "bkt", prefix=prefix, delimiter=delimiter, key_marker=key_marker, version_marker=version_marker,
                max_keys=max_keys,
            )
        )
        pages += 1
        got = [(e.record.key, e.record.version_id, e.record.delete_marker, e.is_latest) for e in page.entries]
        got += [("prefix", p) for p in page.common_prefixes]
        assert len(got) <= max_keys
        # within a page, versions and prefixes interleave by key; restore that order to compare
        got.sort(key=lambda e: (e[1] if e[0] == "prefix" else e[0]).encode())
        stream += got
        if not page.is_truncated:
            return stream, pages
        assert len(got) == max_keys, "a truncated page must be full"
        assert page.next_key_marker is not None
        key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""
        assert pages < 10_000


def _stable(stream: list[tuple]) -> list[tuple]:
    """Versions of one key keep their order; sort only by key to match the paginate() normalisation."""
    return sorted(stream, key=lambda e: (e[1] if e[0] == "prefix" else e[0]).encode())


@pytest.fixture(scope="module")
def model_env(tmp_path_factory) -> Iterator[tuple[Env, Model]]:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("versions")
    clock = FixedClock(T0)
    meta = SqliteMetaStore(path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(path / "blobs", fsync=False)
    svc = StorageService(meta, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=LIMIT)
    e = Env(svc, meta, blobs, clock)
    asyncio.run(svc.create_bucket("bkt"))
    model = build(e, seed=42, ops=220)
    yield e, model
    meta.close()


def test_model_is_nontrivial(model_env: tuple[Env, Model]) -> None:
    _, model = model_env
    listing = model.listing()
    assert len(listing) > 100
    assert any(m for _, _, m, _ in listing) and any(v == "null" for _, v, _, _ in listing)
    assert any(m and latest for _, _, m, latest in listing)


@pytest.mark.parametrize("max_keys", [1, 2, 7, 1000])
def test_list_versions_pagination_reproduces_the_full_list(model_env: tuple[Env, Model], max_keys: int) -> None:
    env, model = model_env
    expected = model.listing()
    stream, pages = paginate(env, max_keys)
    assert stream == _stable(expected)
    assert stream == expected  # the model is already in key order
    assert pages == max(1, -(-len(expected) // max_keys))


@pytest.mark.parametrize("max_keys", [1, 2, 7, 1000])
@pytest.mark.parametrize(
    ("prefix", "delimiter"), [("", "/"), ("a/", "/"), ("a", "/"), ("a/", ""), ("c", ""), ("", "b"), ("zz", "/")]
)
def test_list_versions_pagination_with_prefix_and_delimiter(
    model_env: tuple[Env, Model], max_keys: int, prefix: str, delimiter: str
) -> None:
    env, model = model_env
    expected = model.expected(prefix, delimiter)
    stream, _ = paginate(env, max_keys, prefix, delimiter)
    assert stream == _stable(expected)


def test_list_versions_more_than_one_internal_batch(env: Env) -> None:
    env.versioning("Enabled")
    model = Model()
    for i in range(1100):
        key = f"k{i % 3}"
        r = put(env, key, str(i).encode(), tick=0.0)
        model.add(key, r.version_id, False)
    expected = model.listing()
    for max_keys in (1000, 333):
        stream, pages = paginate(env, max_keys)
        assert stream == expected
        assert pages == -(-len(expected) // max_keys)


def test_version_marker_without_key_marker_is_invalid(venv: Env) -> None:
    v = put(venv, "k", b"x")
    with pytest.raises(InvalidArgument):
        venv.run(venv.svc.list_object_versions(
            "bkt", prefix="", delimiter="", key_marker="", version_marker=v.version_id, max_keys=10))


def test_list_versions_after_a_key_marker_alone_skips_that_key(venv: Env) -> None:
    put(venv, "a", b"1")
    put(venv, "a", b"2")
    b = put(venv, "b", b"3")
    page = venv.run(venv.svc.list_object_versions(
        "bkt", prefix="", delimiter="", key_marker="a", version_marker="", max_keys=10))
    assert [(e.record.key, e.record.version_id, e.is_latest) for e in page.entries] == [("b", b.version_id, True)]


def test_list_versions_null_version_marker(env: Env) -> None:
    put(env, "a", b"null")
    env.versioning("Enabled")
    v1 = put(env, "a", b"v1")
    v2 = put(env, "b", b"v2")
    # resume after the null version of "a": only "b" is left
    page = env.run(env.svc.list_object_versions(
        "bkt", prefix="", delimiter="", key_marker="a", version_marker="null", max_keys=10))
    assert [(e.record.key, e.record.version_id) for e in page.entries] == [("b", v2.version_id)]
    # resume after the current version of "a": its null version is next, not latest
    page = env.run(env.svc.list_object_versions(
        "bkt", prefix="", delimiter="", key_marker="a", version_marker=v1.version_id, max_keys=10))
    assert [(e.record.key, e.record.version_id, e.is_latest) for e in page.entries] == [
        ("a", "null", False), ("b", v2.version_id, True)]


def test_two_processes_writing_one_key_in_the_same_clock_tick_keep_every_version(tmp_path: Path) -> None:
    """Each server worker has its own StorageService over one database. Versions written in the
    same clock tick by two of them must all survive: the sequence is taken inside the
    transaction, not from a per-process clock (which once replaced versions silently)."""
    clock = FixedClock(T0)
    meta_a = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    meta_b = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=False)
    a = StorageService(meta_a, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=LIMIT)
    b = StorageService(meta_b, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=LIMIT)

    async def scenario() -> list[tuple[str, int]]:
        await a.create_bucket("bkt")
        await a.set_bucket_versioning("bkt", "Enabled")
        for i in range(20):
            svc = a if i % 2 else b
            body = f"v{i}".encode()
            await svc.put_object(PutRequest("bkt", "k", _body(body), ObjectAttributes(), Integrity(), len(body)))
        await b.delete_object("bkt", "k")
        page = await a.list_object_versions(
            "bkt", prefix="", delimiter="", key_marker="", version_marker="", max_keys=1000
        )
        return [(e.record.version_id, e.record.seq) for e in page.entries]

    try:
        listed = asyncio.run(scenario())
    finally:
        meta_a.close()
        meta_b.close()
    assert len(listed) == 21  # 20 versions and the delete marker
    assert len({vid for vid, _ in listed}) == 21
    seqs = [seq for _, seq in listed]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 21
