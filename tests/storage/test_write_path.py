"""The write transaction of a mutation reads the key's current row once and the bucket's event
documents in one query (storage/service.py, versioning.seq_after, events.emit): what it must
still get right, over a real SqliteMetaStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.meta.records import ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.meta.store import MetaTx
from bayou.storage import event_batches, events, listeners
from bayou.storage.events import NotificationConfig, NotificationRule
from bayou.storage.listeners import Listener
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.service import StorageService

T0 = 1_700_000_000.0
QUEUE = "arn:bayou:sqs::hook:webhook"


class Env:
    """A storage service on a fresh store, with bucket `bkt`, and blocking helpers."""

    def __init__(self, root: Path) -> None:
        self.clock = FixedClock(T0)
        self.meta = SqliteMetaStore(root / "meta.sqlite3", fsync=False, now=self.clock.now)
        blobs = LocalBlobStore(root / "blobs", fsync=False)
        self.svc = StorageService(self.meta, blobs, self.clock, region="us-east-1", owner="AK", inline_limit=1024)
        self.run(self.svc.create_bucket("bkt"))

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def write(self, fn: Any) -> Any:
        return self.run(self.meta.write(fn))

    def put(self, key: str, bucket: str = "bkt") -> ObjectRecord:
        async def body() -> AsyncIterator[bytes]:
            yield b"data"

        request = PutRequest(bucket, key, body(), ObjectAttributes(), Integrity())
        record: ObjectRecord = self.run(self.svc.put_object(request))
        return record

    def seqs(self, key: str, bucket: str = "bkt") -> list[int]:
        """Every seq of the key, newest first (current row, then history)."""
        current = self.run(self.meta.get_object(bucket, key, with_data=False))
        history = self.run(self.meta.list_versions(bucket, key.encode(), None, key.encode() + b"\x00", 100))
        return ([current[0].seq] if current else []) + [r.seq for r in history]

    def counts(self, prefix: str = "") -> dict[str, int]:
        return dict(self.run(self.meta.outbox_counts(prefix)))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.meta.close()


# --- MetaTx.docs_of_groups ---------------------------------------------------------------------------


def test_docs_of_groups_returns_exactly_those_groups_in_key_order(env: Env) -> None:
    def fill(tx: MetaTx) -> None:
        for kind, name, sub in [("k1", "a", "2"), ("k1", "a", "1"), ("k1", "b", "1"), ("k2", "a", ""),
                                ("k2", "*", "x"), ("k3", "a", "1"), ("k1", "é", "1")]:
            tx.put_doc(kind, name, sub, {"at": [kind, name, sub]})

    env.write(fill)
    got = env.write(lambda tx: tx.docs_of_groups([("k2", "*"), ("k1", "a"), ("k2", "a"), ("k1", "a"), ("k9", "a")]))
    assert [(k, n, s) for k, n, s, _ in got] == [("k1", "a", "1"), ("k1", "a", "2"), ("k2", "*", "x"), ("k2", "a", "")]
    assert all(doc == {"at": [k, n, s]} for k, n, s, doc in got)
    assert env.write(lambda tx: tx.docs_of_groups([])) == []


def test_docs_of_groups_sees_the_transactions_own_writes(env: Env) -> None:
    def put_then_read(tx: MetaTx) -> list[tuple[str, str, str, dict[str, Any]]]:
        tx.put_doc("k", "n", "s", {"v": 1})
        return tx.docs_of_groups([("k", "n")])

    assert env.write(put_then_read) == [("k", "n", "s", {"v": 1})]


# --- every subscriber of a bucket still gets its events ----------------------------------------------


def test_a_put_reaches_every_rule_mapping_and_listener_of_its_bucket_only(env: Env) -> None:
    rule = NotificationRule("r", "queue", QUEUE, ("s3:ObjectCreated:*",))
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule,))))
    mapping = event_batches.BucketSource("m-1", prefix="in/")
    env.write(lambda tx: tx.put_doc(event_batches.INDEX_KIND, "bkt", mapping.uuid, mapping.to_doc()))
    mine, everywhere, elsewhere = (Listener.new(b, ("s3:ObjectCreated:*",), "", "", T0) for b in ("bkt", None, "other"))
    expired = Listener("dead", "bkt", ("s3:ObjectCreated:*",), expires=T0 - 1)
    for listener in (mine, everywhere, elsewhere, expired):
        env.write(lambda tx, lis=listener: tx.put_doc(listeners.LISTENER_KIND, lis.bucket, lis.id, lis.to_doc()))
    env.run(env.svc.create_bucket("other"))
    before = env.counts()  # the configuration's s3:TestEvent

    env.put("in/a")
    env.put("out/b")
    env.put("in/c", bucket="other")

    after = env.counts()
    grew = {kind: after[kind] - before.get(kind, 0) for kind in after if after[kind] != before.get(kind, 0)}
    assert grew == {
        events.outbox_kind(QUEUE): 2,
        event_batches.outbox_kind("m-1"): 1,
        mine.outbox_kind: 2,
        everywhere.outbox_kind: 3,
        elsewhere.outbox_kind: 1,
    }


def test_a_bucket_without_event_documents_writes_no_event_row(env: Env) -> None:
    env.put("k")
    env.run(env.svc.delete_object("bkt", "k"))
    assert env.counts("event") == {} and env.counts("batch") == {} and env.counts("listen") == {}


# --- sequence numbers stay strictly increasing per key --------------------------------------------------


def test_unversioned_overwrites_and_deletes_keep_seq_increasing_when_the_clock_goes_back(env: Env) -> None:
    first = env.put("k").seq
    env.clock.advance(-5)
    second = env.put("k").seq
    assert second == first + 1
    env.run(env.svc.delete_object("bkt", "k"))
    assert env.seqs("k") == []


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_a_put_after_a_delete_marker_is_newer_than_the_history(env: Env, status: str) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    env.put("k")
    env.run(env.svc.set_bucket_versioning("bkt", status))
    env.run(env.svc.delete_object("bkt", "k"))
    env.clock.advance(-5)  # the new version's seq can only come from the history's newest row
    env.put("k")
    seqs = env.seqs("k")
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)


def test_two_deletes_of_one_key_in_one_transaction_make_two_markers(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    env.put("k")
    results = env.run(env.svc.delete_objects("bkt", [("k", None), ("k", None)]))
    assert [r.delete_marker for r in results] == [True, True]
    seqs = env.seqs("k")
    assert len(seqs) == 3 and seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 3
