"""services/scheduler.py over a real SqliteMetaStore and a fake clock: each due time fires once,
into the async-invocation queue, across restarts and crashes."""

from __future__ import annotations

import asyncio
import io
import json
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import ConflictException, ResourceNotFoundException, ValidationException
from bayou.functions.host_client import HostClient
from bayou.functions.invoker import FunctionCredentials, Invoker
from bayou.functions.registry import CodeSource, FunctionRegistry, FunctionSpec
from bayou.functions.schedules import KIND, Schedules, ScheduleSpec, fire_due
from bayou.meta.records import QueuedInvocation
from bayou.meta.sqlite import SqliteMetaStore
from bayou.meta.store import MetaTx
from bayou.services.scheduler import SchedulerWorker
from bayou.storage.service import StorageService

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z
REGION = "us-east-1"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
ROLE = "arn:aws:iam::000000000000:role/scheduler"


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass
class Env:
    tmp: Path
    clock: FixedClock
    meta: SqliteMetaStore
    registry: FunctionRegistry
    invoker: Invoker
    schedules: Schedules
    worker: SchedulerWorker

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def step(self, advance: float = 0.0) -> int:
        self.clock.advance(advance)
        return int(self.run(self.worker.work()))

    def queue(self) -> list[QueuedInvocation]:
        return list(self.run(self.meta.due_invocations(float("inf"), 10_000)))

    def doc(self, name: str) -> dict[str, Any] | None:
        return self.run(self.meta.get_doc(KIND, "default", name))

    def create(self, name: str, expression: str, **kw: Any) -> str:
        return str(self.run(self.schedules.create(spec(name, expression, **kw))))

    def restart(self) -> None:
        """A new process over the same files: nothing survives but what was committed."""
        self.meta.close()
        fresh = _open(self.tmp, self.clock)
        self.meta, self.registry, self.invoker, self.schedules, self.worker = fresh


def spec(name: str, expression: str, **kw: Any) -> ScheduleSpec:
    target = {"Arn": FN_ARN, "RoleArn": ROLE}
    if "input" in kw:
        target["Input"] = kw.pop("input")
    return ScheduleSpec(name=name, group="default", expression=expression, target=target,
                        flexible_time_window={"Mode": "OFF"}, **kw)


def _open(tmp: Path, clock: FixedClock) -> tuple[SqliteMetaStore, FunctionRegistry, Invoker, Schedules, SchedulerWorker]:
    meta = SqliteMetaStore(tmp / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp / "blobs", fsync=False)
    storage = StorageService(meta, blobs, clock, region=REGION, owner="owner", inline_limit=1024)
    registry = FunctionRegistry(
        meta, blobs, storage, tmp / "functions" / "code", clock, REGION, rng=random.Random(0), fsync=False
    )
    invoker = Invoker(registry, HostClient(str(tmp / "no-host.sock")), meta,
                      FunctionCredentials("http://127.0.0.1:1", "a", "b"), region=REGION, now=clock.now)
    schedules = Schedules(meta, registry, clock.now, REGION)
    return meta, registry, invoker, schedules, SchedulerWorker(meta, invoker, clock, region=REGION)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    e = Env(tmp_path, clock, *_open(tmp_path, clock))
    e.run(e.registry.create_function(
        FunctionSpec(name="f", runtime="python3.11", handler="app.handler"), CodeSource(zip_bytes=handler_zip())
    ))
    yield e
    e.meta.close()


def test_at_fires_exactly_once_with_the_default_event(env: Env) -> None:
    env.create("once", "at(2024-01-01T00:00:30)")
    assert env.step() == 0
    assert env.step(29) == 0 and env.queue() == []
    assert env.step(1) == 1
    assert env.step(0) == 0 and env.step(3600) == 0
    [queued] = env.queue()
    assert (queued.function, queued.qualifier, queued.payload) == ("f", "", b"{}")
    assert queued.meta["scheduled_time"] == T0 + 30
    doc = env.doc("once")
    assert doc is not None and doc["next_fire_at"] is None and doc["State"] == "ENABLED"


def test_rate_fires_once_per_period(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    fired = [env.step(20) for _ in range(9)]  # 3 minutes in 20 s steps
    assert fired == [0, 0, 1, 0, 0, 1, 0, 0, 1]
    ids = [q.id for q in env.queue()]
    assert len(ids) == len(set(ids)) == 3


def test_restart_after_a_firing_does_not_fire_again(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    assert env.step(60) == 1
    env.restart()
    assert env.step() == 0
    assert env.step(59) == 0
    assert env.step(1) == 1
    assert len(env.queue()) == 2


def test_times_missed_while_down_fire_once_each_on_restart(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    env.meta.close()
    env.clock.advance(5 * 60 + 10)  # down for five periods
    env.restart()
    assert env.step() == 5
    assert sorted(q.meta["scheduled_time"] for q in env.queue()) == [T0 + 60 * k for k in range(1, 6)]
    assert env.step() == 0
    assert env.step(50) == 1


def test_catch_up_is_capped_then_continues_from_now(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    assert env.step(30 * 60 + 10) == 10
    doc = env.doc("every")
    assert doc is not None and doc["next_fire_at"] == T0 + 31 * 60
    assert env.step(50) == 1


def test_at_that_passed_while_down_fires_once_after_restart(env: Env) -> None:
    env.create("once", "at(2024-01-01T00:01:00)")
    env.meta.close()
    env.clock.advance(3600)
    env.restart()
    assert env.step() == 1
    env.restart()
    assert env.step() == 0 and len(env.queue()) == 1


def test_a_crash_inside_the_firing_transaction_fires_nothing(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    env.clock.advance(60)
    doc = env.doc("every")
    assert doc is not None

    def crash(tx: MetaTx) -> None:
        fire_due(tx, "default", "every", doc["next_fire_at"], env.clock.now(), env.invoker.queued, REGION)
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        env.run(env.meta.write(crash))
    assert env.queue() == []
    env.restart()
    assert env.step() == 1 and len(env.queue()) == 1


def test_a_stale_firing_is_a_no_op(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    env.clock.advance(60)
    doc = env.doc("every")
    assert doc is not None
    env.run(env.schedules.update(spec("every", "rate(1 hour)")))  # moved on in the meantime

    def fire(tx: MetaTx) -> int:
        return fire_due(tx, "default", "every", doc["next_fire_at"], env.clock.now(), env.invoker.queued, REGION)

    assert env.run(env.meta.write(fire)) == 0 and env.queue() == []


def test_the_same_due_time_gets_the_same_invocation_id(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    env.step(60)
    [first] = env.queue()
    doc = env.doc("every")
    assert doc is not None
    doc["next_fire_at"] = T0 + 60  # as if the advance had been lost: the re-fire replaces, not adds
    env.run(env.meta.write(lambda tx: tx.put_doc(KIND, "default", "every", doc)))
    assert env.step() == 1
    assert [q.id for q in env.queue()] == [first.id]


def test_disabled_schedules_do_not_fire_and_enabling_restarts_from_now(env: Env) -> None:
    env.create("every", "rate(1 minute)", state="DISABLED")
    assert env.step(600) == 0
    env.run(env.schedules.update(spec("every", "rate(1 minute)")))
    assert env.step(30) == 0
    assert env.step(30) == 1


def test_action_after_completion_delete(env: Env) -> None:
    env.create("gone", "at(2024-01-01T00:00:10)", action_after_completion="DELETE")
    assert env.step(10) == 1
    assert env.doc("gone") is None and len(env.queue()) == 1


def test_input_with_context_attributes(env: Env) -> None:
    arn = env.create("ctx", "at(2024-01-01T00:00:10)", input=json.dumps({
        "arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>",
        "id": "<aws.scheduler.execution-id>", "n": "<aws.scheduler.attempt-number>",
    }))
    env.step(10)
    [queued] = env.queue()
    assert json.loads(queued.payload) == {"arn": arn, "at": "2024-01-01T00:00:10Z", "id": queued.id, "n": "1"}
    assert arn == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/ctx"


def test_start_and_end_dates_bound_a_recurring_schedule(env: Env) -> None:
    env.create("window", "rate(1 minute)", start_date=T0 + 300, end_date=T0 + 420)
    assert env.step(299) == 0
    assert [env.step(1), env.step(60), env.step(60), env.step(60)] == [1, 1, 1, 0]
    doc = env.doc("window")
    assert doc is not None and doc["next_fire_at"] is None


def test_cron_in_a_time_zone(env: Env) -> None:
    env.create("tz", "cron(0 1 * * ? *)", timezone="Europe/Paris")  # 01:00 Paris = 00:00 UTC in winter
    assert env.step(86400 - 1) == 0
    assert env.step(1) == 1


def test_crud_errors(env: Env) -> None:
    env.create("a", "rate(5 minutes)")
    with pytest.raises(ConflictException):
        env.create("a", "rate(5 minutes)")
    env.create("b", "rate(5 minutes)", client_token="t1")
    env.create("b", "rate(5 minutes)", client_token="t1")  # a retry of the same request succeeds
    with pytest.raises(ValidationException, match="does not exist"):
        env.run(env.schedules.create(ScheduleSpec(
            name="c", group="default", expression="rate(5 minutes)", flexible_time_window={"Mode": "OFF"},
            target={"Arn": FN_ARN[:-1] + "missing", "RoleArn": ROLE},
        )))
    with pytest.raises(ValidationException, match="Invalid target ARN"):
        env.run(env.schedules.create(ScheduleSpec(
            name="c", group="default", expression="rate(5 minutes)", flexible_time_window={"Mode": "OFF"},
            target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": ROLE},
        )))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.schedules.get("default", "nope"))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.schedules.delete("default", "nope"))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.schedules.update(spec("nope", "rate(5 minutes)")))
    with pytest.raises(ResourceNotFoundException, match="group"):
        env.run(env.schedules.get("other", "a"))


def test_listing_pages_and_filters(env: Env) -> None:
    for i in range(7):
        env.create(f"s{i}", "rate(5 minutes)", state="DISABLED" if i % 2 else "ENABLED")
    pages, token = [], None
    while True:
        items, token = env.run(env.schedules.list(None, None, None, token, 3))
        pages.append([s["Name"] for s in items])
        if token is None:
            break
    assert [n for page in pages for n in page] == [f"s{i}" for i in range(7)]
    assert pages[0] == ["s0", "s1", "s2"]
    items, _ = env.run(env.schedules.list("default", "s", "DISABLED", None, 100))
    assert [s["Name"] for s in items] == ["s1", "s3", "s5"]
    items, _ = env.run(env.schedules.list(None, "s6", None, None, 100))
    assert [s["Name"] for s in items] == ["s6"]


def test_updating_a_fired_at_schedule_does_not_fire_it_again(env: Env) -> None:
    env.create("once", "at(2024-01-01T00:00:10)")
    assert env.step(10) == 1
    env.run(env.schedules.update(spec("once", "at(2024-01-01T00:00:10)", description="renamed")))
    assert env.step(10) == 0
    env.run(env.schedules.update(spec("once", "at(2024-01-01T00:01:00)")))  # a new time re-arms it
    assert env.step(60) == 1 and len(env.queue()) == 2


def test_updating_other_fields_keeps_a_rate_in_phase(env: Env) -> None:
    env.create("every", "rate(1 minute)")
    env.clock.advance(30)
    env.run(env.schedules.update(spec("every", "rate(1 minute)", description="x")))
    assert env.step(30) == 1
