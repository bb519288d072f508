"""The `amqp` target: publishes each event to a RabbitMQ (AMQP 0.9.1) exchange, with publisher confirms.

Config keys (all optional but `routing_key` when publishing to the default exchange):

- `url`: the broker, `amqp://user:password@host:port/vhost` (`amqps://` for TLS);
  default `amqp://guest:guest@127.0.0.1:5672/`.
- `exchange`: the exchange to publish to; default `""`, the default exchange, which routes by
  queue name: then `routing_key` is required and names the queue.
- `routing_key`: the routing key of every message; default `bayou.events` for a named exchange.
- `exchange_type`: when given (`direct`, `fanout`, `topic`, `headers`), the exchange is declared on
  connect with this type (and `durable`); when absent the exchange must already exist (it is checked
  on connect).
- `durable`: durability of a declared exchange; default true.
- `mandatory`: when true, a message that no queue receives is an error (the batch is retried)
  instead of being dropped by the broker; default false.
- `timeout`: seconds to wait for the connection and for each publisher confirm; default 10.

Each message is published in order, persistent (delivery mode 2), `content_type`
`application/json`, and its confirm awaited before the next one is sent. Its `message_id` is
stable across retries (a hash of bucket/key, `s3.object.sequencer` and `eventName`), so a consumer
can drop the duplicates that at-least-once delivery brings. The connection is made on the first
send and made again after any failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import aio_pika
import yarl
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_ROUTING_KEY = "bayou.events"
DEFAULT_TIMEOUT = 10.0


def create(spec: TargetSpec) -> AmqpTarget:
    return AmqpTarget(spec)


def message_id(message: dict[str, Any]) -> str:
    """A stable id for this event: the same on every retry, different for every event."""
    body = message.get("body") or {}
    record: Any = None
    if isinstance(body.get("Records"), list) and body["Records"]:
        record = body["Records"][0]
    elif body.get("specversion") and isinstance(body.get("data"), dict):  # a CloudEvents envelope
        data = body["data"]
        record = data["Records"][0] if isinstance(data.get("Records"), list) and data["Records"] else data
    sequencer = None
    if isinstance(record, dict):
        sequencer = ((record.get("s3") or {}).get("object") or {}).get("sequencer")
    if sequencer and record.get("eventName"):
        basis = f"{message.get('key', '')}\n{sequencer}\n{record['eventName']}"
    else:  # s3:TestEvent and other records without a sequencer: the content itself
        basis = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(basis.encode()).hexdigest()


class AmqpTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        self._url = str(config.get("url") or DEFAULT_URL)
        self._exchange_name = str(config.get("exchange") or "")
        routing_key = config.get("routing_key")
        if not self._exchange_name and not routing_key:
            raise TargetError(f"amqp target {spec.id}: routing_key is required with the default exchange")
        self._routing_key = str(routing_key or DEFAULT_ROUTING_KEY)
        self._exchange_type = config.get("exchange_type")
        self._durable = bool(config.get("durable", True))
        self._mandatory = bool(config.get("mandatory", False))
        self._timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        url = yarl.URL(self._url)
        self._where = f"{url.host}:{url.port}{url.path}"  # for errors: never the password
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def send(self, messages: list[dict[str, Any]]) -> None:
        async with self._lock:
            try:
                exchange = await self._connect()
                for message in messages:
                    amqp_message = aio_pika.Message(
                        json.dumps(message["body"], separators=(",", ":")).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message_id(message),
                        app_id="bayou",
                    )
                    # With publisher confirms on, this returns once the broker confirmed the message
                    # (and raises on a nack, or on a return when mandatory).
                    await exchange.publish(amqp_message, self._routing_key, mandatory=self._mandatory,
                                           timeout=self._timeout)
            except Exception as exc:  # aio-pika's, aiormq's, OSError, TimeoutError: all retried
                await self._drop()
                raise TargetError(f"amqp {self._where}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connect(self) -> AbstractExchange:
        if self._exchange is not None and self._channel is not None and not self._channel.is_closed:
            return self._exchange
        await self._drop()
        self._connection = await asyncio.wait_for(aio_pika.connect(self._url, timeout=self._timeout),
                                                  self._timeout)
        self._channel = await asyncio.wait_for(
            self._connection.channel(publisher_confirms=True, on_return_raises=self._mandatory), self._timeout)
        if not self._exchange_name:
            self._exchange = self._channel.default_exchange
        elif self._exchange_type:
            self._exchange = await self._channel.declare_exchange(
                self._exchange_name, str(self._exchange_type), durable=self._durable, timeout=self._timeout)
        else:
            self._exchange = await asyncio.wait_for(self._channel.get_exchange(self._exchange_name, ensure=True),
                                                    self._timeout)
        return self._exchange

    async def _drop(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), self._timeout)
            except Exception:  # already broken: nothing more to release
                pass
