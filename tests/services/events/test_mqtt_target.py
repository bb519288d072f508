"""The mqtt event target against a real Mosquitto (started if it is not running): a batch arrives in
order at a subscriber, at QoS 1; failures are TargetErrors and the next send reconnects."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiomqtt
import pytest
from brokers import ensure_mosquitto, unused_port

from bayou.services.events.mqtt import MqttTarget, create
from bayou.services.events.targets import TargetError, TargetSpec, create_target


def batch(n: int = 3) -> list[dict[str, Any]]:
    return [{"key": f"b/k{i}", "body": {"Records": [{"eventName": "ObjectCreated:Put",
                                                     "s3": {"object": {"key": f"k{i}", "sequencer": f"{i:016X}"}}}]}}
            for i in range(n)]


def spec(**config: Any) -> TargetSpec:
    return TargetSpec("mosquitto", "mqtt", config)


@pytest.fixture(scope="module")
def broker() -> tuple[str, int]:
    return ensure_mosquitto()


async def receive(subscriber: aiomqtt.Client, n: int) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []

    async def collect() -> None:
        async for message in subscriber.messages:
            got.append(message)
            if len(got) == n:
                return

    try:
        await asyncio.wait_for(collect(), 10)
    except TimeoutError:
        pass
    return got


def test_a_batch_arrives_in_order_at_qos_1(broker: tuple[str, int]) -> None:
    host, port = broker
    topic = f"bayou-test/{uuid.uuid4().hex}/events"

    async def main() -> None:
        target = create_target(spec(host=host, port=port, topic=topic))
        assert isinstance(target, MqttTarget) and target.arn == "arn:bayou:sqs::mosquitto:mqtt"
        async with aiomqtt.Client(host, port) as subscriber:
            await subscriber.subscribe(topic, qos=1)  # returns after the SUBACK
            messages = batch(3)
            await target.send(messages)
            got = await receive(subscriber, 3)
        await target.close()
        assert [json.loads(bytes(m.payload)) for m in got] == [m["body"] for m in messages]  # type: ignore[arg-type]
        assert all(str(m.topic) == topic and m.qos == 1 and not m.retain for m in got)

    asyncio.run(main())


def test_two_batches_share_a_connection_and_a_dropped_one_is_made_again(broker: tuple[str, int]) -> None:
    host, port = broker
    topic = f"bayou-test/{uuid.uuid4().hex}"

    async def main() -> None:
        target = create(spec(host=host, port=port, topic=topic, qos=2, client_id=f"bayou-{uuid.uuid4().hex}"))
        async with aiomqtt.Client(host, port) as subscriber:
            await subscriber.subscribe(topic, qos=2)
            await target.send(batch(1))
            client = target._client
            await target.send(batch(2)[1:])
            assert target._client is client
            assert client is not None
            await client.__aexit__(None, None, None)  # the connection goes away between batches
            with pytest.raises(TargetError):  # noticed on this send; the dispatcher retries it ...
                await target.send(batch(3)[2:])
            await target.send(batch(3)[2:])  # ... on a new connection
            got = await receive(subscriber, 3)
        await target.close()
        keys = [json.loads(bytes(m.payload))["Records"][0]["s3"]["object"]["key"] for m in got]  # type: ignore[arg-type]
        assert keys == ["k0", "k1", "k2"]

    asyncio.run(main())


def test_a_wrong_port_is_a_target_error_quickly_and_close_is_idempotent() -> None:
    async def main() -> None:
        target = create(spec(port=unused_port(), topic="t", timeout=3))
        await target.close()  # before any connection
        started = time.monotonic()
        with pytest.raises(TargetError, match="mqtt"):
            await target.send(batch(1))
        assert time.monotonic() - started < 5
        await target.close()
        await target.close()

    asyncio.run(main())


@pytest.mark.parametrize("config, error", [
    ({}, "topic is required"),
    ({"topic": "a/#"}, "wildcard"),
    ({"topic": "a", "qos": 3}, "qos"),
])
def test_bad_config_is_refused(config: dict[str, Any], error: str) -> None:
    with pytest.raises(TargetError, match=error):
        create(spec(**config))
