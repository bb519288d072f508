"""The `postgresql` event target: each message becomes a row of an events table.

Config keys (`config` of the target spec):
  dsn      libpq-style URL, default `postgresql://127.0.0.1:5432/postgres` (user and password in
           it, or `postgresql:///db?host=/run/postgresql` for the Unix socket).
  table    the table, default `bayou_events` (`schema.table` allowed; plain identifiers only).
           Created if missing, as:
               id bigserial primary key, key text not null, event_name text,
               event_time timestamptz, record jsonb not null, dedup text unique not null
  timeout  seconds to connect and for each statement, default 10.

`key` is "<bucket>/<key>"; `event_name` is the record's `eventName` (or `s3:TestEvent`);
`event_time` its `eventTime`; `record` the S3 event record itself (a CloudEvents envelope as is,
for a target with that format); `dedup` the message's stable id (`nats_jetstream.dedup_id`). A
batch is inserted in one transaction, in order (so `id` follows delivery order), with
`ON CONFLICT (dedup) DO NOTHING`: delivering an event again adds nothing. The connection is made
on the first send and made again after a failure.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from bayou.services.events.nats_jetstream import dedup_id
from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_DSN = "postgresql://127.0.0.1:5432/postgres"
DEFAULT_TABLE = "bayou_events"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def row_of(message: dict[str, Any]) -> tuple[str, str | None, datetime | None, str, str]:
    """(key, event_name, event_time, record as JSON, dedup) for one message."""
    body = message["body"]
    record = body
    if "Records" in body and len(body["Records"]) == 1:
        record = body["Records"][0]
    name = record.get("eventName") or record.get("Event") or record.get("type")
    when = record.get("eventTime") or record.get("Time") or record.get("time")
    event_time = None
    if isinstance(when, str):
        try:
            event_time = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            pass
    return message["key"], name, event_time, json.dumps(record, separators=(",", ":")), dedup_id(message)


class PostgresTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        self._dsn = str(config.get("dsn") or DEFAULT_DSN)
        table = str(config.get("table") or DEFAULT_TABLE)
        if not _IDENTIFIER.fullmatch(table):
            raise TargetError(f"postgresql target {spec.id}: table {table!r} is not a plain [schema.]name")
        self._table = ".".join(f'"{part}"' for part in table.split("."))
        self._timeout = float(config.get("timeout", 10))
        self._conn: Any = None

    async def _connect(self) -> Any:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        try:
            import asyncpg
        except ImportError as exc:
            raise TargetError("the postgresql target needs asyncpg: pip install 'bayou[postgresql]'") from exc
        conn = await asyncpg.connect(self._dsn, timeout=self._timeout, command_timeout=self._timeout,
                                     server_settings={"application_name": "bayou-events"})
        try:
            await self._create_table(conn)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def _create_table(self, conn: Any) -> None:
        import asyncpg

        ddl = (f"CREATE TABLE IF NOT EXISTS {self._table} (id bigserial PRIMARY KEY, key text NOT NULL, "
               "event_name text, event_time timestamptz, record jsonb NOT NULL, dedup text UNIQUE NOT NULL)")
        try:
            await conn.execute(ddl)
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
            pass  # another process created it at the same moment

    async def send(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        try:
            rows = [row_of(message) for message in messages]
            conn = await self._connect()
            async with conn.transaction():
                await conn.executemany(
                    f"INSERT INTO {self._table} (key, event_name, event_time, record, dedup) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (dedup) DO NOTHING", rows)
        except Exception as exc:
            await self.close()
            detail = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            raise TargetError(f"postgresql {self._table}: {detail}") from exc

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=self._timeout)
            except Exception:  # a broken connection: drop it
                conn.terminate()


def create(spec: TargetSpec) -> PostgresTarget:
    return PostgresTarget(spec)
