"""ListenNotification: a bucket's events streamed to a connected client, as MinIO's ListenBucketNotification.

`GET /<bucket>?events=s3:ObjectCreated:*&events=s3:ObjectRemoved:*&prefix=P&suffix=S` answers 200
with newline-delimited JSON, one `{"Records": [record]}` line per event, and a blank line every
KEEPALIVE_SECONDS while nothing happens, until the client disconnects. How the listener reaches
every worker process is in storage/listeners.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from bayou.api.http import Receive, Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.clock import Clock
from bayou.errors import InvalidArgument
from bayou.meta.records import OutboxRow
from bayou.meta.store import MetaStore
from bayou.storage import listeners
from bayou.storage.events import EVENT_NAMES
from bayou.storage.listeners import Listener

POLL_SECONDS = 0.05
KEEPALIVE_SECONDS = 5.0
KEEPALIVE = b"\n"
BATCH = 100
HEADERS = [("Content-Type", "application/x-ndjson"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")]


def parse_events(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """Every `events` value (repeated, or comma-separated), each one S3 notifications know."""
    names = tuple(n.strip() for name, value in pairs if name == "events" for n in value.split(",") if n.strip())
    if not names:
        raise InvalidArgument("At least one event must be specified", ArgumentName="events")
    for name in names:
        if name not in EVENT_NAMES:
            raise InvalidArgument("The event is not supported for notifications", ArgumentName="events",
                                  ArgumentValue=name)
    return names


async def listen(ctx: S3Context, ep: router.ListenNotification) -> Response:
    events = parse_events(ctx.request.query_pairs)
    if ep.bucket is not None:
        await ctx.storage.get_bucket(ep.bucket)
    meta, clock = ctx.storage.meta, ctx.storage.clock
    query = ctx.request.query
    listener = Listener.new(ep.bucket, events, query.get("prefix", ""), query.get("suffix", ""), clock.now())
    await listeners.register(meta, listener, clock.now())
    return Response(200, list(HEADERS), _stream(meta, clock, listener, ctx.request.receive))


async def _stream(meta: MetaStore, clock: Clock, listener: Listener, receive: Receive) -> AsyncIterator[bytes]:
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        sent = refreshed = time.monotonic()
        while not gone.done():
            rows = await listeners.pending(meta, listener, BATCH)
            if rows:
                yield b"".join(_line(row) for row in rows)
                await listeners.acknowledge(meta, rows)
                sent = time.monotonic()
                if len(rows) == BATCH:
                    continue
            now = time.monotonic()
            if now - sent >= KEEPALIVE_SECONDS:
                yield KEEPALIVE
                sent = now
            if now - refreshed >= listeners.REFRESH_SECONDS:
                listener = await listeners.refresh(meta, listener, clock.now())
                refreshed = now
            await asyncio.wait({gone}, timeout=POLL_SECONDS)
    finally:
        gone.cancel()
        await listeners.unregister(meta, listener)


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (the request has no body: the next message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _line(row: OutboxRow) -> bytes:
    return json.dumps(row.payload["message"], separators=(",", ":")).encode() + b"\n"
