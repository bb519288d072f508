"""Listeners (storage/listeners.py) and their rows from events.emit, over a real SqliteMetaStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.meta.sqlite import SqliteMetaStore
from bayou.storage import events, listeners
from bayou.storage.events import EventOrigin, ObjectEvent
from bayou.storage.listeners import Listener
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.service import StorageService

T0 = 1_700_000_000.0
CREATED = ("s3:ObjectCreated:*",)


@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetaStore
    clock: FixedClock

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def listen(self, bucket: str | None = "bkt", events: tuple[str, ...] = CREATED, prefix: str = "",
               suffix: str = "") -> Listener:
        listener = Listener.new(bucket, events, prefix, suffix, self.clock.now())
        self.run(listeners.register(self.meta, listener, self.clock.now()))
        return listener

    def emit(self, *found: ObjectEvent) -> int:
        now = self.clock.now()
        return int(self.run(self.meta.write(
            lambda tx: events.emit(tx, list(found), region="us-east-1", origin=EventOrigin(), now=now))))

    def records(self, listener: Listener) -> list[dict[str, Any]]:
        rows = self.run(listeners.pending(self.meta, listener, 1000))
        return [r for row in rows for r in row.payload["message"]["Records"]]

    def docs(self) -> list[tuple[str, str]]:
        return [(name, sub) for name, sub, _ in self.run(self.meta.list_docs(listeners.LISTENER_KIND, None, "", 100))]

    def counts(self) -> dict[str, int]:
        return dict(self.run(self.meta.outbox_counts("listen:")))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    meta = SqliteMetaStore(tmp_path / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp_path / "blobs", fsync=False)
    svc = StorageService(meta, blobs, clock, region="us-east-1", owner="owner-id", inline_limit=1024)
    asyncio.run(svc.create_bucket("bkt"))
    yield Env(svc, meta, clock)
    meta.close()


def created(key: str, bucket: str = "bkt") -> ObjectEvent:
    return ObjectEvent(bucket, key, "ObjectCreated:Put", 1)


def removed(key: str, bucket: str = "bkt") -> ObjectEvent:
    return ObjectEvent(bucket, key, "ObjectRemoved:Delete", 1)


def test_register_stores_a_document_with_its_filter_and_expiry(env: Env) -> None:
    listener = env.listen(prefix="in/", suffix=".csv")
    doc = env.run(env.meta.get_doc(listeners.LISTENER_KIND, "bkt", listener.id))
    assert Listener.from_doc(doc) == listener
    assert listener.expires == T0 + listeners.TTL_SECONDS


def test_emit_writes_rows_only_for_matching_listeners(env: Env) -> None:
    every = env.listen(events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"))
    csv_in = env.listen(prefix="in/", suffix=".csv")
    deletes = env.listen(events=("s3:ObjectRemoved:Delete",))
    env.emit(created("in/a.csv"), created("in/b.txt"), created("out/c.csv"), removed("in/a.csv"))
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in env.records(every)] == [
        ("ObjectCreated:Put", "in/a.csv"), ("ObjectCreated:Put", "in/b.txt"),
        ("ObjectCreated:Put", "out/c.csv"), ("ObjectRemoved:Delete", "in/a.csv"),
    ]
    assert [r["s3"]["object"]["key"] for r in env.records(csv_in)] == ["in/a.csv"]
    assert [r["eventName"] for r in env.records(deletes)] == ["ObjectRemoved:Delete"]
    assert env.records(every)[0]["s3"]["configurationId"] == listeners.CONFIGURATION_ID


def test_listeners_see_only_their_bucket_unless_listening_to_all(env: Env) -> None:
    mine = env.listen("bkt")
    other = env.listen("other")
    everything = env.listen(None)
    env.emit(created("k", "bkt"))
    env.emit(created("j", "third"))
    assert [r["s3"]["object"]["key"] for r in env.records(mine)] == ["k"]
    assert env.records(other) == []
    assert [r["s3"]["bucket"]["name"] for r in env.records(everything)] == ["bkt", "third"]


def test_emit_skips_expired_listeners(env: Env) -> None:
    listener = env.listen()
    env.clock.advance(listeners.TTL_SECONDS + 1)
    assert env.emit(created("late")) == 0
    assert env.records(listener) == []


def test_refresh_keeps_a_listener_alive_and_bounds_its_backlog(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    listener = env.listen()
    env.clock.advance(listeners.TTL_SECONDS - 1)
    listener = env.run(listeners.refresh(env.meta, listener, env.clock.now()))
    env.clock.advance(5)
    env.emit(*(created(f"k{i}") for i in range(5)))
    monkeypatch.setattr(listeners, "MAX_PENDING", 3)
    env.run(listeners.refresh(env.meta, listener, env.clock.now()))
    assert [r["s3"]["object"]["key"] for r in env.records(listener)] == ["k0", "k1", "k2"]


def test_acknowledged_rows_are_gone(env: Env) -> None:
    listener = env.listen()
    env.emit(created("a"), created("b"))
    rows = env.run(listeners.pending(env.meta, listener, 1))
    env.run(listeners.acknowledge(env.meta, rows))
    assert [r["s3"]["object"]["key"] for r in env.records(listener)] == ["b"]


def test_unregister_removes_the_document_and_unsent_rows(env: Env) -> None:
    listener = env.listen()
    kept = env.listen()
    env.emit(created("a"))
    env.run(listeners.unregister(env.meta, listener))
    assert env.docs() == [("bkt", kept.id)]
    assert env.counts() == {kept.outbox_kind: 1}
    env.emit(created("b"))
    assert env.counts() == {kept.outbox_kind: 2}


def test_registration_sweeps_what_a_killed_listener_left(env: Env) -> None:
    dead = env.listen()
    env.emit(created("a"), created("b"))
    env.clock.advance(listeners.TTL_SECONDS + 1)
    env.emit(created("c"))  # past its expiry: no more rows for it
    assert env.counts() == {dead.outbox_kind: 2}
    fresh = env.listen()
    assert env.docs() == [("bkt", fresh.id)]
    assert env.counts() == {}


def test_sweep_trims_rows_whose_listener_document_is_gone(env: Env) -> None:
    live = env.listen()
    env.emit(created("a"))
    env.run(env.meta.write(lambda tx: tx.add_outbox(listeners.outbox_kind("vanished"), {"v": 1, "message": {}})))
    assert env.run(listeners.sweep(env.meta, env.clock.now())) == 0
    assert env.counts() == {live.outbox_kind: 1}


def test_sweep_leaves_listeners_that_are_alive(env: Env) -> None:
    live = env.listen()
    env.emit(created("a"))
    env.clock.advance(listeners.TTL_SECONDS - 1)
    env.run(listeners.sweep(env.meta, env.clock.now()))
    assert env.docs() == [("bkt", live.id)]
    assert env.counts() == {live.outbox_kind: 1}


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_storage_mutations_reach_listeners_with_size(env: Env) -> None:
    listener = env.listen(events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"))
    request = PutRequest("bkt", "dir/file name.bin", _body(b"12345"), ObjectAttributes(), Integrity(), content_length=5)
    env.run(env.svc.put_object(request))
    env.run(env.svc.delete_object("bkt", "dir/file name.bin"))
    records = env.records(listener)
    assert [(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"].get("size")) for r in records] == [
        ("ObjectCreated:Put", "dir/file+name.bin", 5), ("ObjectRemoved:Delete", "dir/file+name.bin", None),
    ]
