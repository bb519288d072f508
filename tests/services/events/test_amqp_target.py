"""The amqp event target against a real RabbitMQ (started if it is not running): batches arrive in
order with publisher confirms, persistent, with stable message ids; failures are TargetErrors and
the next send reconnects."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import pytest
from brokers import ensure_rabbitmq, unused_port

from bayou.services.events.amqp import AmqpTarget, create, message_id
from bayou.services.events.targets import TargetError, TargetSpec, cloudevent, create_target


def record(key: str, sequencer: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    bucket, _, name = key.partition("/")
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event,
                         "s3": {"bucket": {"name": bucket}, "object": {"key": name, "sequencer": sequencer}}}]}


def batch(n: int = 3) -> list[dict[str, Any]]:
    return [{"key": f"b/k{i}", "body": record(f"b/k{i}", f"{i:016X}")} for i in range(n)]


def spec(**config: Any) -> TargetSpec:
    return TargetSpec("rabbit", "amqp", config)


@pytest.fixture(scope="module")
def url() -> str:
    host, port = ensure_rabbitmq()
    return f"amqp://guest:guest@{host}:{port}/"


async def connect(url: str) -> aio_pika.abc.AbstractConnection:
    deadline = time.monotonic() + 30  # a broker that just started may refuse for a moment
    while True:
        try:
            return await aio_pika.connect(url, timeout=5)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def take(queue: aio_pika.abc.AbstractQueue, n: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        else:
            got.append(message)
    return got


def test_a_batch_arrives_in_order_through_the_default_exchange(url: str) -> None:
    async def main() -> None:
        connection = await connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(f"bayou-test-{uuid.uuid4().hex}", exclusive=True)
            target = create_target(spec(url=url, routing_key=queue.name))
            assert isinstance(target, AmqpTarget) and target.arn == "arn:bayou:sqs::rabbit:amqp"
            messages = batch(3)
            await target.send(messages)
            got = await take(queue, 4)
            await target.close()
        assert [json.loads(m.body) for m in got] == [m["body"] for m in messages]
        assert [m.message_id for m in got] == [message_id(m) for m in messages]
        assert all(m.content_type == "application/json" for m in got)
        assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in got)

    asyncio.run(main())


def test_a_declared_topic_exchange_routes_by_routing_key(url: str) -> None:
    async def main() -> None:
        exchange_name = f"bayou-test-{uuid.uuid4().hex}"
        target = create(spec(url=url, exchange=exchange_name, exchange_type="topic", durable=False))
        connection = await connect(url)
        async with connection:
            channel = await connection.channel()
            # the exchange the target will declare (same type and durability), and a queue bound to it
            exchange = await channel.declare_exchange(exchange_name, "topic", durable=False, auto_delete=False)
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, "bayou.#")
            await target.send(batch(2))
            await target.send(batch(3)[2:])
            got = await take(queue, 3)
            await target.close()
            await exchange.delete()
        assert [json.loads(m.body)["Records"][0]["s3"]["object"]["key"] for m in got] == ["k0", "k1", "k2"]
        assert {m.routing_key for m in got} == {"bayou.events"}

    asyncio.run(main())


def test_a_named_exchange_that_does_not_exist_fails_then_works_once_declared(url: str) -> None:
    async def main() -> None:
        exchange_name = f"bayou-test-{uuid.uuid4().hex}"
        target = create(spec(url=url, exchange=exchange_name, routing_key="rk"))
        with pytest.raises(TargetError, match="amqp"):
            await target.send(batch(1))
        connection = await connect(url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(exchange_name, "direct", auto_delete=False)
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, "rk")
            await target.send(batch(1))  # a new connection after the failure
            got = await take(queue, 1)
            await target.close()
            await exchange.delete()
        assert len(got) == 1

    asyncio.run(main())


def test_mandatory_makes_an_unroutable_message_an_error_and_the_next_send_reconnects(url: str) -> None:
    async def main() -> None:
        name = f"bayou-test-{uuid.uuid4().hex}"
        target = create(spec(url=url, routing_key=name, mandatory=True))
        with pytest.raises(TargetError):
            await target.send(batch(1))  # no queue of that name: returned, not dropped
        connection = await connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name, exclusive=True)
            await target.send(batch(2))
            got = await take(queue, 2)
            await target.close()
        assert [m.message_id for m in got] == [message_id(m) for m in batch(2)]

    asyncio.run(main())


def test_a_connection_the_broker_closed_is_made_again(url: str) -> None:
    async def main() -> None:
        connection = await connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            target = create(spec(url=url, routing_key=queue.name))
            await target.send(batch(1))
            assert target._connection is not None
            await target._connection.close()  # as when the broker restarts between two batches
            await target.send(batch(2)[1:])
            got = await take(queue, 2)
            await target.close()
        assert len(got) == 2

    asyncio.run(main())


def test_a_wrong_port_is_a_target_error_quickly_and_close_is_idempotent() -> None:
    async def main() -> None:
        target = create(spec(url=f"amqp://guest:secret@127.0.0.1:{unused_port()}/", routing_key="q", timeout=3))
        await target.close()  # before any connection
        started = time.monotonic()
        with pytest.raises(TargetError) as raised:
            await target.send(batch(1))
        assert time.monotonic() - started < 5
        assert "secret" not in str(raised.value)
        await target.close()
        await target.close()

    asyncio.run(main())


def test_the_default_exchange_needs_a_routing_key() -> None:
    with pytest.raises(TargetError, match="routing_key"):
        create(spec())


def test_message_ids_are_stable_per_event_and_distinct_between_events() -> None:
    one = {"key": "b/k", "body": record("b/k", "0A")}
    assert message_id(one) == message_id({"key": "b/k", "body": record("b/k", "0A")})
    assert message_id(one) != message_id({"key": "b/k", "body": record("b/k", "0B")})
    assert message_id(one) != message_id({"key": "b/k", "body": record("b/k", "0A", "ObjectRemoved:Delete")})
    assert message_id(one) != message_id({"key": "b/other", "body": record("b/other", "0A")})
    wrapped = {"key": "b/k", "body": cloudevent(one["body"], "bayou")}
    assert message_id(wrapped) == message_id(one)  # the same event, whatever the format
    test_event = {"key": "", "body": {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}}
    assert message_id(test_event) == message_id(dict(test_event))
    assert len(message_id(test_event)) <= 255
