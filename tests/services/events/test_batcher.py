"""services/events/batcher.py over a real SqliteMetaStore and a clock we move: batches leave when full or
when the window has passed, as one queued invocation that replaces their rows in one transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bayou.clock import FixedClock
from bayou.functions.event_sources import KIND, Mapping
from bayou.functions.invoker import FunctionCredentials, Invoker
from bayou.meta.records import QueuedInvocation
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.events.batcher import EventBatcher
from bayou.storage import events
from bayou.storage.event_batches import INDEX_KIND, BucketSource, outbox_kind

T0 = 1_704_067_200.0
UUID = "6f2c3a4e-0000-4000-8000-000000000001"


class Env:
    def __init__(self, tmp: Path) -> None:
        self.clock = FixedClock(T0)
        self.meta = SqliteMetaStore(tmp / "meta.sqlite3", fsync=False, now=self.clock.now)
        self.loop = asyncio.new_event_loop()
        invoker: Any = Invoker(None, None, self.meta, FunctionCredentials("", "", ""),  # type: ignore[arg-type]
                               region="us-east-1", now=self.clock.now)
        self.batcher = EventBatcher(self.meta, invoker, self.clock)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def map(self, *, batch_size: int = 3, window: int = 5, prefix: str = "", enabled: bool = True) -> Mapping:
        mapping = Mapping(UUID, "fn", "live", "bkt", prefix, batch_size, window, enabled, T0)

        def put(tx: Any) -> None:
            tx.put_doc(KIND, UUID, "", mapping.to_doc())
            tx.put_doc(INDEX_KIND, "bkt", UUID, BucketSource(UUID, prefix).to_doc())

        self.run(self.meta.write(put))
        return mapping

    def emit(self, *keys: str, name: str = "ObjectCreated:Put") -> None:
        found = [events.ObjectEvent("bkt", key, name, i + 1) for i, key in enumerate(keys)]
        self.run(self.meta.write(lambda tx: events.emit(tx, found, region="us-east-1",
                                                        origin=events.EventOrigin(), now=self.clock.now())))

    def step(self, advance: float = 0.0) -> int:
        self.clock.advance(advance)
        return int(self.run(self.batcher.work()))

    def queued(self) -> list[QueuedInvocation]:
        return list(self.run(self.meta.due_invocations(self.clock.now() + 1e9, 1000)))

    def batches(self) -> list[list[str]]:
        return [[r["s3"]["object"]["key"] for r in json.loads(q.payload)["Records"]] for q in self.queued()]

    def pending(self) -> int:
        return int(self.run(self.meta.outbox_counts(outbox_kind(UUID))).get(outbox_kind(UUID), 0))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.meta.close()
    e.loop.close()


def test_a_partial_batch_waits_for_the_window(env: Env) -> None:
    env.map(batch_size=3, window=5)
    env.emit("a", "b")
    assert env.pending() == 2
    assert env.step(4.9) == 0 and env.queued() == []
    assert env.step(0.2) == 1
    assert env.batches() == [["a", "b"]] and env.pending() == 0
    queued = env.queued()[0]
    assert (queued.function, queued.qualifier, queued.meta) == ("fn", "live", {"source": "esm", "uuid": UUID})
    record = json.loads(queued.payload)["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["configurationId"] == UUID


def test_full_batches_leave_at_once_in_order(env: Env) -> None:
    env.map(batch_size=3, window=300)
    env.emit(*"abcdefg")
    assert env.step() == 1 and env.step() == 1 and env.step() == 0
    assert sorted(env.batches()) == [["a", "b", "c"], ["d", "e", "f"]]
    assert env.pending() == 1
    env.step(300)
    assert sorted(env.batches()) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_prefix_and_event_families(env: Env) -> None:
    env.map(prefix="in/", window=0)
    env.emit("in/a", "out/b")
    env.emit("in/a", name="ObjectTagging:Put")
    env.emit("in/a", name="ObjectRemoved:Delete")
    env.step()
    assert env.batches() == [["in/a", "in/a"]]


def test_disabled_mapping_holds_rows_and_deleted_mapping_drops_them(env: Env) -> None:
    mapping = env.map(window=0, enabled=False)
    env.emit("a")
    assert env.step(10) == 0 and env.pending() == 1
    env.run(env.meta.write(lambda tx: tx.put_doc(KIND, UUID, "", {**mapping.to_doc(), "enabled": True})))
    assert env.step() == 1 and env.batches() == [["a"]]
    env.emit("b")
    env.run(env.meta.write(lambda tx: tx.delete_doc(KIND, UUID, "")))
    env.step()
    assert env.pending() == 0 and env.batches() == [["a"]]


def test_a_failed_hand_over_keeps_every_row(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.map(batch_size=2, window=0)
    env.emit("a", "b")
    real = env.meta.write

    async def failing(fn: Any) -> Any:
        def crash(tx: Any) -> Any:
            fn(tx)
            raise OSError("disk gone")
        return await real(crash)

    monkeypatch.setattr(env.meta, "write", failing)
    with pytest.raises(OSError):
        env.step()
    monkeypatch.setattr(env.meta, "write", real)
    assert env.pending() == 2 and env.queued() == []
    assert env.step() == 1 and env.batches() == [["a", "b"]] and env.pending() == 0
