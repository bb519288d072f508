"""The nats target against a real NATS JetStream: ordered acked publishes, dedup, failures."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from brokers import assert_quick_target_error, ensure, s3_messages

from bayou.services.events.nats_jetstream import dedup_id
from bayou.services.events.targets import TargetError, TargetSpec, cloudevent, create_target


@pytest.fixture(scope="module")
def url() -> str:
    host, port = ensure("nats")
    return f"nats://{host}:{port}"


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:12]
    return f"BAYOU_TEST_{tag}", f"bayou.test.{tag}"


def target(**config: Any) -> Any:
    return create_target(TargetSpec("t1", "nats", config))


def with_stream(url: str, stream: str, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run body(js) with a plain client, deleting the stream afterwards."""

    async def go() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            await body(js)
        finally:
            try:
                await js.delete_stream(stream)
            except Exception:
                pass
            await nc.close()

    asyncio.run(go())


async def read_all(js: Any, stream: str, subject: str) -> list[Any]:
    sub = await js.pull_subscribe(subject, stream=stream)
    info = await js.stream_info(stream)
    msgs = await sub.fetch(info.state.messages, timeout=5) if info.state.messages else []
    for m in msgs:
        await m.ack()
    return msgs


def test_batch_arrives_in_order_in_a_stream_it_creates(url: str) -> None:
    stream, subject = names()
    messages = s3_messages(3)

    async def body(js: Any) -> None:
        t = target(servers=url, subject=subject, stream=stream)
        await t.send(messages)
        await t.close()
        got = await read_all(js, stream, subject)
        assert [json.loads(m.data) for m in got] == [m["body"] for m in messages]
        assert [m.headers["Nats-Msg-Id"] for m in got] == [f"{m['key']}:{n:016X}:ObjectCreated:Put:to-target"
                                                          for n, m in enumerate(messages, 1)]
        assert [m.metadata.sequence.stream for m in got] == [1, 2, 3]

    with_stream(url, stream, body)


def test_redelivered_batch_is_dropped_by_the_duplicate_window(url: str) -> None:
    stream, subject = names()

    async def body(js: Any) -> None:
        t = target(servers=[url], subject=subject, stream=stream)
        await t.send(s3_messages(3))
        await t.close()
        await t.close()
        await t.send(s3_messages(3))  # the same batch again, on a new connection
        await t.send(s3_messages(2, first=3))  # overlaps: only 4 is new
        await t.close()
        got = await read_all(js, stream, subject)
        sizes = [json.loads(m.data)["Records"][0]["s3"]["object"]["size"] for m in got]
        assert sizes == [1, 2, 3, 4]

    with_stream(url, stream, body)


def test_existing_stream_is_used_as_is(url: str) -> None:
    stream, subject = names()

    async def body(js: Any) -> None:
        await js.add_stream(name=stream, subjects=[f"{subject}.>"])
        t = target(servers=url, subject=f"{subject}.created")  # no `stream`: one must capture it
        await t.send(s3_messages(3))
        await t.close()
        got = await read_all(js, stream, f"{subject}.>")
        assert len(got) == 3

    with_stream(url, stream, body)


def test_subject_no_stream_captures_is_a_target_error(url: str) -> None:
    _, subject = names()

    async def go() -> None:
        t = target(servers=url, subject=subject, timeout=1)
        start = time.monotonic()
        with pytest.raises(TargetError, match=subject):
            await t.send(s3_messages(1))
        assert time.monotonic() - start < 5
        await t.close()

    asyncio.run(go())


@pytest.mark.parametrize("where", ["refused", "silent"])
def test_wrong_address_is_a_quick_target_error(where: str) -> None:
    assert_quick_target_error(lambda port: target(servers=f"nats://127.0.0.1:{port}", subject="bayou.test.nowhere", timeout=1), where, "cannot connect")


def test_subject_is_required() -> None:
    with pytest.raises(TargetError, match="subject"):
        target(servers="nats://127.0.0.1:4222")


def test_dedup_id_is_stable_and_header_safe() -> None:
    [message] = s3_messages(1)
    assert dedup_id(message) == "photos/img/1.jpg:0000000000000001:ObjectCreated:Put:to-target"
    # A CloudEvents envelope carries the same record: the same id, whatever its `time`.
    envelope = {"key": message["key"], "body": cloudevent(message["body"], "bayou")}
    assert dedup_id(envelope) == dedup_id(message)
    # A key a header cannot carry (newline, non-ASCII) is hashed.
    odd = json.loads(json.dumps(message))
    odd["key"] = "photos/a\r\nb-é"
    assert dedup_id(odd).startswith("sha256:") and dedup_id(odd) == dedup_id(json.loads(json.dumps(odd)))
    # s3:TestEvent has no sequencer: a hash of the event itself (stable across redeliveries).
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-05-01T10:00:00.000Z",
                  "Bucket": "photos", "RequestId": "r1", "HostId": "r1"}
    a = dedup_id({"key": "photos", "body": test_event})
    assert a.startswith("sha256:")
    assert a == dedup_id({"key": "photos", "body": cloudevent(test_event, "bayou")})
    assert a != dedup_id({"key": "photos", "body": {**test_event, "RequestId": "r2"}})


def test_a_failure_mid_batch_says_how_many_were_acknowledged(url: str) -> None:
    stream, subject = names()

    async def body(js: Any) -> None:
        t = target(servers=url, subject=subject, stream=stream)
        batch = s3_messages(3)
        batch[1]["body"]["Records"][0]["padding"] = "x" * (2 << 20)  # past the server's max_payload
        with pytest.raises(TargetError) as caught:
            await t.send(batch)
        assert caught.value.delivered == 1  # type: ignore[attr-defined]
        await t.send(batch[2:])  # the connection is made again
        await t.close()
        got = await read_all(js, stream, subject)
        assert [json.loads(m.data)["Records"][0]["s3"]["object"]["size"] for m in got] == [1, 3]

    with_stream(url, stream, body)
