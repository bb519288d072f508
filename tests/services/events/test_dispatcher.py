"""services/events/dispatcher.py over a real SqliteMetaStore, fake targets and a clock we move:
order per key across retries, isolation between targets, bounded queues, dead letters, spec refresh."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.events import dispatcher as dispatcher_module
from bayou.services.events.dispatcher import DEAD_OUTBOX, STATUS_KIND, STATUS_NAME, EventDispatcher
from bayou.services.events.targets import TargetError, TargetRegistry, TargetSpec
from bayou.storage.events import outbox_kind
from bayou.storage.service import StorageService

T0 = 1_704_067_200.0


@dataclass
class FakeTarget:
    """Records what it acknowledged; `fail` decides per call (None = accept everything)."""

    arn: str
    spec: TargetSpec
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    fail: Callable[[int, list[dict[str, Any]]], TargetError | None] | None = None
    hang: asyncio.Event | None = None
    closed: bool = False

    async def send(self, messages: list[dict[str, Any]]) -> None:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang is not None:
                await self.hang.wait()
            error = self.fail(self.calls, messages) if self.fail else None
            if error is not None:
                self.received += messages[:error.delivered]
                raise error
            self.received += messages
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed = True


class Env:
    def __init__(self, tmp: Path) -> None:
        self.clock = FixedClock(T0)
        self.meta = SqliteMetaStore(tmp / "meta.sqlite3", fsync=False, now=self.clock.now)
        self.storage = StorageService(self.meta, LocalBlobStore(tmp / "blobs", fsync=False), self.clock,
                                      region="us-east-1", owner="test")
        self.registry = TargetRegistry(self.meta)
        self.dispatcher = EventDispatcher(self.meta, self.registry, self.clock, storage=self.storage,
                                          refresh_seconds=0.0)
        self.targets: dict[str, FakeTarget] = {}
        self.behaviour: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()

    def create(self, spec: TargetSpec) -> FakeTarget:
        target = FakeTarget(spec.arn, spec, **self.behaviour.get(spec.id, {}))
        self.targets[spec.id] = target
        return target

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def add_target(self, target_id: str, **kw: Any) -> TargetSpec:
        spec = TargetSpec(target_id, "webhook", {"url": "http://127.0.0.1:1/"}, **kw)
        self.run(self.registry.put(spec))
        return spec

    def publish(self, spec: TargetSpec, *keys: str) -> None:
        def add(tx: Any) -> None:
            for i, key in enumerate(keys):
                message = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}], "n": i}
                tx.add_outbox(outbox_kind(spec.arn), {"target": spec.arn, "key": f"bkt/{key}", "message": message})

        self.run(self.meta.write(add))

    def step(self, advance: float = 0.0) -> None:
        """Move the clock, start what is due, and let the started sends finish (or block)."""
        self.clock.advance(advance)
        self.run(self.dispatcher.work())
        self.run(asyncio.sleep(0.01))
        hung = {i for i, t in self.targets.items() if t.hang is not None and not t.hang.is_set()}
        tasks = [s.task for s in self.dispatcher._states.values()
                 if s.task is not None and not s.task.done() and s.spec.id not in hung]
        if tasks:
            self.run(asyncio.wait(tasks, timeout=5))

    def pending(self, kind: str) -> int:
        return int(self.run(self.meta.outbox_counts(kind)).get(kind, 0))

    def close(self) -> None:
        self.run(self.dispatcher.close())
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.meta.close()
        self.loop.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    e = Env(tmp_path)
    monkeypatch.setattr(dispatcher_module, "create_target", e.create)
    yield e
    e.close()


def keys_of(target: FakeTarget) -> list[str]:
    return [m["key"] for m in target.received]


def test_order_per_key_is_kept_across_retries(env: Env) -> None:
    spec = env.add_target("t")
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("down") if call <= 3 else None}
    env.publish(spec, "a", "b", "a", "c", "b", "a")
    for _ in range(6):
        env.step(advance=60)
    target = env.targets["t"]
    assert keys_of(target) == ["bkt/a", "bkt/b", "bkt/a", "bkt/c", "bkt/b", "bkt/a"]
    assert [m["body"]["n"] for m in target.received] == list(range(6))
    assert env.pending(outbox_kind(spec.arn)) == 0
    status = env.dispatcher.status()[spec.arn]
    assert status["delivered"] == 6 and status["failures"] == 0 and status["last_error"] == "down"


def test_partial_progress_is_not_sent_again(env: Env) -> None:
    spec = env.add_target("t")
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("timeout", delivered=2) if call == 1 else None}
    env.publish(spec, "a", "b", "c", "d")
    env.step()
    env.step(advance=60)
    assert [m["body"]["n"] for m in env.targets["t"].received] == [0, 1, 2, 3]


def test_backoff_waits_before_retrying(env: Env) -> None:
    spec = env.add_target("t")
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("down")}
    env.publish(spec, "a")
    env.step()
    env.step()
    env.step()
    assert env.targets["t"].calls == 1  # the clock did not move: still backing off
    env.step(advance=1)
    assert env.targets["t"].calls == 2


def test_a_down_target_does_not_block_another(env: Env) -> None:
    down = env.add_target("down")
    up = env.add_target("up")
    hang = asyncio.Event()
    env.behaviour["down"] = {"hang": hang}
    env.publish(down, "x", "y")
    env.publish(up, "a", "b")
    for _ in range(5):
        env.step(advance=1)
        env.publish(up, "c")
    env.step()
    assert keys_of(env.targets["up"]) == ["bkt/a", "bkt/b"] + ["bkt/c"] * 5
    stuck = env.targets["down"]
    assert stuck.calls == 1 and stuck.max_in_flight == 1  # one batch in flight, no pile-up
    hang.set()
    env.step()
    env.step()
    assert keys_of(stuck) == ["bkt/x", "bkt/y"]


def test_queue_limit_drops_the_newest(env: Env) -> None:
    spec = env.add_target("t", queue_limit=3)
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("down") if call == 1 else None}
    env.publish(spec, "a", "b")
    env.step()  # fails once: the rows wait
    env.publish(spec, "c", "d", "e")
    env.step(advance=60)
    env.step(advance=60)
    assert [m["body"]["n"] for m in env.targets["t"].received] == [0, 1, 0]  # a, b, then c (n restarts)
    status = env.dispatcher.status()[spec.arn]
    assert status["dropped"] == 2 and status["delivered"] == 3


def test_dead_letters_to_a_bucket_after_max_age(env: Env) -> None:
    env.run(env.storage.create_bucket("dlq"))
    spec = env.add_target("t", dead_letter="arn:aws:s3:::dlq/failed/", max_age_seconds=600)
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("HTTP 500")}
    env.publish(spec, "a", "b", "a")
    env.step()
    for _ in range(18):  # 9 minutes of retries: not yet too old
        env.step(advance=30)
    assert env.pending(outbox_kind(spec.arn)) == 3
    env.step(advance=61)
    assert env.pending(outbox_kind(spec.arn)) == 0
    listing = env.run(env.meta.list_objects("dlq", b"failed/t/", b"", None, 100))
    names = [getattr(o, "key", o) for o in (listing[0] if isinstance(listing, tuple) else listing)]
    assert len(names) == 3 and names == sorted(names)
    records = []
    for name in names:
        record, data = env.run(env.meta.get_object("dlq", name, with_data=True))
        records.append(json.loads(data))
    assert [r["key"] for r in records] == ["bkt/a", "bkt/b", "bkt/a"]
    assert [r["message"]["n"] for r in records] == [0, 1, 2]
    assert all(r["error"] == "HTTP 500" and r["target"] == spec.arn for r in records)
    assert env.dispatcher.status()[spec.arn]["dead_lettered"] == 3


def test_dead_letters_to_the_outbox_without_a_bucket(env: Env) -> None:
    spec = env.add_target("t", max_attempts=3)
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("refused")}
    env.publish(spec, "a", "b")
    for _ in range(4):
        env.step(advance=60)
    assert env.targets["t"].calls == 3
    assert env.pending(outbox_kind(spec.arn)) == 0
    dead = env.run(env.meta.pending_outbox((f"{DEAD_OUTBOX}:{spec.arn}",), 10))
    assert [row.payload["key"] for row in dead] == ["bkt/a", "bkt/b"]
    assert dead[0].payload["error"] == "refused" and dead[0].payload["attempts"] == 3


def test_a_missing_dead_letter_bucket_falls_back_to_the_outbox(env: Env) -> None:
    spec = env.add_target("t", dead_letter="arn:aws:s3:::nosuchbucket", max_attempts=1)
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("refused")}
    env.publish(spec, "a")
    env.step()
    assert env.pending(f"{DEAD_OUTBOX}:{spec.arn}") == 1


def test_a_spec_change_reaches_the_dispatcher(env: Env) -> None:
    spec = env.add_target("t")
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("wrong url")}
    env.publish(spec, "a")
    env.step()
    first = env.targets["t"]
    env.behaviour["t"] = {}
    env.run(env.registry.put(TargetSpec("t", "webhook", {"url": "http://127.0.0.1:2/"})))
    env.step()  # refresh: the spec changed, retry now with a new Target
    env.step()
    second = env.targets["t"]
    assert second is not first and first.closed
    assert second.spec.config["url"] == "http://127.0.0.1:2/"
    assert keys_of(second) == ["bkt/a"]


def test_events_of_a_removed_target_are_kept_as_dead(env: Env) -> None:
    spec = env.add_target("t")
    env.behaviour["t"] = {"fail": lambda call, msgs: TargetError("down")}
    env.publish(spec, "a", "b")
    env.step()
    env.run(env.registry.delete("t"))
    env.step(advance=60)
    env.step(advance=60)
    assert env.pending(outbox_kind(spec.arn)) == 0
    assert env.pending(f"{DEAD_OUTBOX}:{spec.arn}") == 2


def test_counters_are_saved_for_other_workers_and_restarts(env: Env) -> None:
    spec = env.add_target("t")
    env.publish(spec, "a", "b")
    env.step()
    env.step()
    doc = env.run(env.meta.get_doc(STATUS_KIND, STATUS_NAME, ""))
    assert doc["targets"][spec.arn]["delivered"] == 2
    again = EventDispatcher(env.meta, env.registry, env.clock, storage=env.storage)
    env.publish(spec, "c")
    env.run(again.work())
    env.run(asyncio.sleep(0.05))
    for state in again._states.values():
        if state.task is not None:
            env.run(state.task)
    assert again.status()[spec.arn]["delivered"] == 3
