"""The postgresql target against a real PostgreSQL: one transaction per batch, idempotent redelivery."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from brokers import assert_quick_target_error, ensure, s3_messages

from bayou.services.events.targets import TargetError, TargetSpec, create_target


@pytest.fixture(scope="module")
def dsn() -> str:
    host, port = ensure("postgresql")
    return f"postgresql://{host}:{port}/test"


def sql(dsn: str, query: str, *args: Any) -> list[Any]:
    async def go() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture
def table(dsn: str) -> Iterator[str]:
    name = f"bayou_test_{uuid.uuid4().hex[:12]}"
    yield name
    sql(dsn, f"DROP TABLE IF EXISTS {name}")


def target(**config: Any) -> Any:
    return create_target(TargetSpec("t1", "postgresql", config))


def send(t: Any, *batches: list[dict[str, Any]], close: bool = True) -> None:
    async def go() -> None:
        for batch in batches:
            await t.send(batch)
        if close:
            await t.close()
            await t.close()

    asyncio.run(go())


def test_batch_arrives_in_order_in_a_table_it_creates(dsn: str, table: str) -> None:
    messages = s3_messages(3)
    send(target(dsn=dsn, table=table), messages)
    rows = sql(dsn, f"SELECT key, event_name, event_time, record, dedup FROM {table} ORDER BY id")
    assert [r["key"] for r in rows] == [m["key"] for m in messages]
    assert [json.loads(r["record"]) for r in rows] == [m["body"]["Records"][0] for m in messages]
    assert {r["event_name"] for r in rows} == {"ObjectCreated:Put"}
    assert rows[0]["event_time"].isoformat() == "2024-05-01T10:00:01+00:00"
    assert rows[0]["dedup"] == "photos/img/1.jpg:0000000000000001:ObjectCreated:Put:to-target"


def test_redelivery_adds_nothing(dsn: str, table: str) -> None:
    t = target(dsn=dsn, table=table)
    send(t, s3_messages(3))
    send(t, s3_messages(3), s3_messages(2, first=3))  # reconnects after close(); only 4 is new
    rows = sql(dsn, f"SELECT record FROM {table} ORDER BY id")
    assert [json.loads(r["record"])["s3"]["object"]["size"] for r in rows] == [1, 2, 3, 4]


def test_a_batch_is_one_transaction(dsn: str, table: str) -> None:
    t = target(dsn=dsn, table=table)
    send(t, s3_messages(1))
    # A NOT NULL violation in the middle of the batch: none of the batch is kept.
    bad = s3_messages(3, first=2)
    bad[1] = {**bad[1], "key": None}
    with pytest.raises(TargetError, match="postgresql"):
        send(t, bad)
    assert len(sql(dsn, f"SELECT 1 FROM {table}")) == 1


def test_connection_is_made_again_after_the_server_drops_it(dsn: str, table: str) -> None:
    t = target(dsn=dsn, table=table)

    async def go() -> None:
        await t.send(s3_messages(1))
        await asyncio.to_thread(sql, dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                          "WHERE application_name = 'bayou-events'")
        try:
            await t.send(s3_messages(1, first=2))
        except TargetError:
            await t.send(s3_messages(1, first=2))
        await t.close()

    asyncio.run(go())
    assert len(sql(dsn, f"SELECT 1 FROM {table}")) == 2


@pytest.mark.parametrize("where", ["refused", "silent"])
def test_wrong_address_is_a_quick_target_error(where: str) -> None:
    assert_quick_target_error(lambda port: target(dsn=f"postgresql://127.0.0.1:{port}/test", timeout=1), where, "postgresql")


def test_table_must_be_a_plain_name() -> None:
    with pytest.raises(TargetError, match="table"):
        target(table="events; DROP TABLE x")
    target(table="public.bayou_events")
