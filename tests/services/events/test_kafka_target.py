"""The kafka event target: an idempotent acks=all producer keyed by the object key.

No Kafka broker runs on this machine: the round trip against a real broker runs when one is reachable
at $BAYOU_TEST_KAFKA_BOOTSTRAP (default 127.0.0.1:9092) and is skipped, saying so, otherwise. What
the target hands aiokafka (producer settings, keys, order, failure handling) is checked on a
recording stand-in for aiokafka's producer, and a wrong address against the real client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from typing import Any

import pytest
from brokers import unused_port

from bayou.services.events import kafka
from bayou.services.events.targets import TargetError, TargetSpec, create_target

BOOTSTRAP = os.environ.get("BAYOU_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def batch(n: int = 3) -> list[dict[str, Any]]:
    return [{"key": f"b/k{i % 2}", "body": {"Records": [{"eventName": "ObjectCreated:Put",
                                                         "s3": {"object": {"key": f"k{i % 2}",
                                                                           "sequencer": f"{i:016X}"}}}]}}
            for i in range(n)]


def spec(**config: Any) -> TargetSpec:
    return TargetSpec("kafka1", "kafka", config)


class FakeProducer:
    """Records what the target asks of aiokafka's AIOKafkaProducer."""

    instances: list[FakeProducer] = []
    fail_next: Exception | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.sent: list[tuple[str, bytes, bytes, Any]] = []
        self.started = self.stopped = False
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any = None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if FakeProducer.fail_next is not None:
            future.set_exception(FakeProducer.fail_next)
            FakeProducer.fail_next = None
        else:
            self.sent.append((topic, value, key, headers))
            future.set_result(None)
        return future


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances = []
    FakeProducer.fail_next = None
    monkeypatch.setattr(kafka, "AIOKafkaProducer", FakeProducer)
    return FakeProducer


def test_an_idempotent_acks_all_producer_sends_the_batch_in_order_keyed_by_object(fake: type[FakeProducer]) -> None:
    async def main() -> None:
        target = create_target(spec(bootstrap_servers="h1:9092, h2:9092", topic="events"))
        assert isinstance(target, kafka.KafkaTarget) and target.arn == "arn:bayou:sqs::kafka1:kafka"
        assert fake.instances == []  # connected lazily
        messages = batch(3)
        await target.send(messages)
        await target.send(batch(4)[3:])
        (producer,) = fake.instances
        assert producer.started
        assert producer.kwargs["acks"] == "all" and producer.kwargs["enable_idempotence"] is True
        assert producer.kwargs["bootstrap_servers"] == ["h1:9092", "h2:9092"]
        assert [(t, json.loads(v), k) for t, v, k, _ in producer.sent] == (
            [("events", m["body"], m["key"].encode()) for m in batch(4)])
        assert all(("content-type", b"application/json") in headers for *_, headers in producer.sent)
        await target.close()
        await target.close()
        assert producer.stopped

    asyncio.run(main())


def test_a_failed_batch_is_a_target_error_and_the_next_one_uses_a_new_producer(fake: type[FakeProducer]) -> None:
    async def main() -> None:
        target = kafka.create(spec(topic="events"))
        fake.fail_next = RuntimeError("NotEnoughReplicas")
        with pytest.raises(TargetError, match="NotEnoughReplicas"):
            await target.send(batch(2))
        assert fake.instances[0].stopped
        await target.send(batch(2))
        assert len(fake.instances) == 2 and len(fake.instances[1].sent) == 2
        assert fake.instances[1].kwargs["bootstrap_servers"] == ["127.0.0.1:9092"]
        await target.close()

    asyncio.run(main())


def test_the_topic_is_required() -> None:
    with pytest.raises(TargetError, match="topic is required"):
        kafka.create(spec(bootstrap_servers="127.0.0.1:9092"))


def test_a_wrong_port_is_a_target_error_quickly_and_close_is_idempotent() -> None:
    async def main() -> None:
        target = kafka.create(spec(bootstrap_servers=f"127.0.0.1:{unused_port()}", topic="t", timeout=3))
        await target.close()
        started = time.monotonic()
        with pytest.raises(TargetError, match="kafka"):
            await target.send(batch(1))
        assert time.monotonic() - started < 5
        await target.close()
        await target.close()

    asyncio.run(main())


def reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


def test_a_batch_round_trips_through_a_real_broker() -> None:
    if not reachable(BOOTSTRAP):
        pytest.skip(f"no Kafka broker is reachable at {BOOTSTRAP} (none is installed on this machine; "
                    "set BAYOU_TEST_KAFKA_BOOTSTRAP to run this test against one)")
    from aiokafka import AIOKafkaConsumer

    topic = f"bayou-test-{uuid.uuid4().hex}"

    async def main() -> None:
        target = kafka.create(spec(bootstrap_servers=BOOTSTRAP, topic=topic, timeout=30))
        messages = batch(3)
        # the first send may create the topic (auto.create.topics.enable); retry as the dispatcher would
        for attempt in range(10):
            try:
                await target.send(messages)
                break
            except TargetError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1)
        await target.close()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 3 and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got += records
        finally:
            await consumer.stop()
        by_key: dict[bytes, list[Any]] = {}
        for rec in got:
            by_key.setdefault(rec.key, []).append(json.loads(rec.value))
        assert by_key == {m["key"].encode(): [n["body"] for n in messages if n["key"] == m["key"]]
                          for m in messages}

    asyncio.run(main())
