"""Object and bucket tags: S3's limits (storage/tagging.py) and tag sets per version through the facade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import InvalidArgument, InvalidTag, MethodNotAllowed, NoSuchBucket, NoSuchKey, NoSuchVersion
from bayou.meta.records import ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.storage import tagging
from bayou.storage.conditions import Preconditions
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.multipart import CompletedPart, MultipartService
from bayou.storage.service import CopySource, StorageService

T0 = 1_700_000_000.0


@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetaStore
    clock: FixedClock

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    meta = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=False)
    svc = StorageService(meta, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=1024)
    e = Env(svc, meta, clock)
    asyncio.run(svc.create_bucket("bkt"))
    yield e
    meta.close()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def put(env: Env, key: str, data: bytes = b"x", tags: dict[str, str] | None = None) -> ObjectRecord:
    env.clock.advance(1)
    attrs = ObjectAttributes(tags=dict(tags or {}))
    return env.run(env.svc.put_object(PutRequest("bkt", key, _body(data), attrs, Integrity(), len(data))))


def tags_of(env: Env, key: str, version_id: str | None = None) -> dict[str, str]:
    return env.run(env.svc.get_object_tags("bkt", key, version_id)).tags


# --- limits (pure) -----------------------------------------------------------------------------


def test_limits_at_the_boundary_are_accepted() -> None:
    pairs = [(f"k{i}", "v") for i in range(9)] + [("K" * 128, "V" * 256)]
    assert tagging.validate(pairs) == dict(pairs)
    assert tagging.validate([]) == {}
    assert tagging.validate([("empty", "")]) == {"empty": ""}
    # characters, not bytes: 128 non-ASCII characters are still a valid key
    assert tagging.validate([("é" * 128, "ü" * 256)]) == {"é" * 128: "ü" * 256}


@pytest.mark.parametrize(
    "pairs",
    [
        [(f"k{i}", "v") for i in range(11)],
        [("K" * 129, "v")],
        [("k", "V" * 257)],
        [("dup", "1"), ("dup", "2")],
        [("aws:owner", "me")],
        [("AWS:owner", "me")],
        [("", "v")],
    ],
    ids=["11-tags", "key-129", "value-257", "duplicate", "aws-prefix", "AWS-prefix", "empty-key"],
)
def test_limits_over_the_boundary_are_invalid_tag(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidTag) as info:
        tagging.validate(pairs)
    assert info.value.status == 400 and info.value.code == "InvalidTag"


def test_bucket_limit_is_50() -> None:
    pairs = [(f"k{i}", "v") for i in range(50)]
    assert len(tagging.validate(pairs, limit=tagging.MAX_BUCKET_TAGS)) == 50
    with pytest.raises(InvalidTag):
        tagging.validate(pairs + [("k50", "v")], limit=tagging.MAX_BUCKET_TAGS)


def test_header_form() -> None:
    assert tagging.parse_header("a=1&b=two%20words&c=") == {"a": "1", "b": "two words", "c": ""}
    assert tagging.parse_header("k%26=v%3D") == {"k&": "v="}
    assert tagging.parse_header("") == {}
    with pytest.raises(InvalidTag):
        tagging.parse_header("a=1&a=2")
    with pytest.raises(InvalidTag):
        tagging.parse_header("&".join(f"k{i}=v" for i in range(11)))
    with pytest.raises((InvalidTag, InvalidArgument)):
        tagging.parse_header("aws%3Akey=v")


# --- through the facade ------------------------------------------------------------------------


def test_tags_set_on_put_and_replaced_by_put_tagging(env: Env) -> None:
    put(env, "k", tags={"a": "1", "b": "2"})
    assert tags_of(env, "k") == {"a": "1", "b": "2"}
    env.run(env.svc.set_object_tags("bkt", "k", None, {"c": "3"}))
    assert tags_of(env, "k") == {"c": "3"}
    env.run(env.svc.set_object_tags("bkt", "k", None, {}))
    assert tags_of(env, "k") == {}
    # an overwrite starts with the new request's tags, not the old ones
    env.run(env.svc.set_object_tags("bkt", "k", None, {"old": "1"}))
    put(env, "k")
    assert tags_of(env, "k") == {}


def test_tags_per_version(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    v1 = put(env, "k", b"1", tags={"gen": "1"})
    v2 = put(env, "k", b"2", tags={"gen": "2"})
    env.run(env.svc.set_object_tags("bkt", "k", v1.version_id, {"gen": "one"}))
    assert tags_of(env, "k", v1.version_id) == {"gen": "one"}
    assert tags_of(env, "k", v2.version_id) == {"gen": "2"}
    assert tags_of(env, "k") == {"gen": "2"}
    env.run(env.svc.set_object_tags("bkt", "k", None, {"gen": "two"}))
    assert tags_of(env, "k", v2.version_id) == {"gen": "two"}
    assert tags_of(env, "k", v1.version_id) == {"gen": "one"}
    # promoted by deleting the current version: v1 keeps its own tags
    env.run(env.svc.delete_object("bkt", "k", v2.version_id))
    assert tags_of(env, "k") == {"gen": "one"}


def test_tags_on_missing_things(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    with pytest.raises(NoSuchKey):
        tags_of(env, "missing")
    with pytest.raises(NoSuchKey):
        env.run(env.svc.set_object_tags("bkt", "missing", None, {"a": "1"}))
    v1 = put(env, "k")
    with pytest.raises(NoSuchVersion):
        env.run(env.svc.set_object_tags("bkt", "other", v1.version_id, {"a": "1"}))
    with pytest.raises(NoSuchVersion):
        tags_of(env, "k", "0" * 24)
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.set_object_tags("nope", "k", None, {"a": "1"}))
    outcome = env.run(env.svc.delete_object("bkt", "k"))
    with pytest.raises(NoSuchKey):
        tags_of(env, "k")
    with pytest.raises(MethodNotAllowed):
        env.run(env.svc.set_object_tags("bkt", "k", outcome.version_id, {"a": "1"}))
    assert tags_of(env, "k", v1.version_id) == {}


def test_copy_keeps_or_replaces_tags(env: Env) -> None:
    put(env, "src", tags={"a": "1"})
    source = CopySource("bkt", "src", Preconditions())
    env.run(env.svc.copy_object(source, "bkt", "copy", replace_attributes=None))
    assert tags_of(env, "copy") == {"a": "1"}
    env.run(env.svc.copy_object(source, "bkt", "replaced", replace_attributes=None, replace_tags={"b": "2"}))
    assert tags_of(env, "replaced") == {"b": "2"}
    env.run(env.svc.copy_object(source, "bkt", "cleared", replace_attributes=None, replace_tags={}))
    assert tags_of(env, "cleared") == {}
    # REPLACE of metadata alone keeps the tags (the tagging directive is separate)
    env.run(env.svc.copy_object(source, "bkt", "meta", replace_attributes=ObjectAttributes(content_type="a/b")))
    assert tags_of(env, "meta") == {"a": "1"}


def test_multipart_upload_tags(env: Env) -> None:
    mp = MultipartService(env.svc)
    upload = env.run(mp.create("bkt", "k", ObjectAttributes(tags={"t": "v"}), None, None))
    part = env.run(mp.upload_part("bkt", "k", upload.upload_id, 1, _body(b"abc"), Integrity(), 3))
    env.run(mp.complete("bkt", "k", upload.upload_id, [CompletedPart(1, part.etag, {})]))
    assert tags_of(env, "k") == {"t": "v"}


def test_bucket_tags(env: Env) -> None:
    assert env.run(env.svc.get_bucket("bkt")).tags is None
    env.run(env.svc.set_bucket_tags("bkt", {"team": "ml"}))
    assert env.run(env.svc.get_bucket("bkt")).tags == {"team": "ml"}
    env.run(env.svc.set_bucket_tags("bkt", {}))
    assert env.run(env.svc.get_bucket("bkt")).tags == {}
    env.run(env.svc.set_bucket_tags("bkt", None))
    assert env.run(env.svc.get_bucket("bkt")).tags is None
    with pytest.raises(NoSuchBucket):
        env.run(env.svc.set_bucket_tags("nope", {"a": "b"}))
