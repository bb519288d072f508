"""The redis target against a real Redis: XADD in order, trimming, failures as TargetError."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from brokers import assert_quick_target_error, ensure, s3_messages

from bayou.services.events.targets import TargetError, TargetSpec, create_target


@pytest.fixture(scope="module")
def server() -> Iterator[redis.Redis]:
    host, port = ensure("redis")
    client = redis.Redis(host=host, port=port)
    yield client
    client.close()


@pytest.fixture
def stream(server: redis.Redis) -> Iterator[str]:
    name = f"bayou-test-{uuid.uuid4().hex[:12]}"
    yield name
    server.delete(name)


def target(**config: Any) -> Any:
    return create_target(TargetSpec("t1", "redis", config))


def entries(server: redis.Redis, stream: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f[b"key"].decode(), json.loads(f[b"event"])) for _, f in server.xrange(stream)]


def test_batch_arrives_in_order(server: redis.Redis, stream: str) -> None:
    messages = s3_messages(3)

    async def go() -> None:
        t = target(stream=stream)
        await t.send(messages)
        await t.close()

    asyncio.run(go())
    assert entries(server, stream) == [(m["key"], m["body"]) for m in messages]


def test_redelivery_appends_again_and_close_is_idempotent(server: redis.Redis, stream: str) -> None:
    # Redis promises no deduplication: consumers use the sequencer.
    async def go() -> None:
        t = target(stream=stream)
        await t.send(s3_messages(2))
        await t.close()
        await t.close()
        await t.send(s3_messages(2))  # connects again after close()
        await t.close()
        await t.close()

    asyncio.run(go())
    seqs = [body["Records"][0]["s3"]["object"]["sequencer"] for _, body in entries(server, stream)]
    assert seqs == ["0000000000000001", "0000000000000002"] * 2


def test_maxlen_trims_approximately(server: redis.Redis, stream: str) -> None:
    async def go() -> None:
        t = target(stream=stream, maxlen=10)
        for first in range(1, 500, 100):
            await t.send(s3_messages(100, first=first))
        await t.close()

    asyncio.run(go())
    assert 10 <= server.xlen(stream) < 500


def test_connection_is_made_again_after_the_server_drops_it(server: redis.Redis, stream: str) -> None:
    async def go() -> None:
        t = target(stream=stream)
        await t.send(s3_messages(1))
        for client in server.client_list():
            if client["name"] == "bayou-events":
                server.client_kill_filter(_id=client["id"])
        try:
            await t.send(s3_messages(1, first=2))
        except TargetError:
            await t.send(s3_messages(1, first=2))
        await t.close()

    asyncio.run(go())
    assert [body["Records"][0]["s3"]["object"]["size"] for _, body in entries(server, stream)] == [1, 2]


@pytest.mark.parametrize("where", ["refused", "silent"])
def test_wrong_address_is_a_quick_target_error(where: str) -> None:
    assert_quick_target_error(lambda port: target(url=f"redis://127.0.0.1:{port}/0", stream="x", timeout=1), where, "redis")


def test_stream_is_required() -> None:
    with pytest.raises(TargetError, match="stream"):
        target()


def test_a_refused_entry_is_a_target_error(server: redis.Redis, stream: str) -> None:
    server.set(stream, "not a stream")

    async def go() -> None:
        t = target(stream=stream)
        with pytest.raises(TargetError, match="WRONGTYPE") as caught:
            await t.send(s3_messages(2))
        assert getattr(caught.value, "delivered", 0) == 0
        await t.close()

    asyncio.run(go())
