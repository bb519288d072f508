"""The `kafka` target: produces each event to a Kafka topic with an idempotent, acks=all producer.

Config keys (`topic` is required):

- `bootstrap_servers`: `host:port`, a comma-separated list of them, or a list; default
  `127.0.0.1:9092`.
- `topic`: the topic every event is produced to.
- `client_id`: optional client id; default `bayou`.
- `timeout`: seconds to wait for the connection (bootstrap) and for each batch's acknowledgement;
  default 10.

Each record's key is the object's `<bucket>/<key>`, so every event of one object goes to the same
partition and keeps its order there; the value is the JSON event, with a `content-type` header.
A batch is produced in order and then awaited as a whole: with `acks=all` and
`enable_idempotence` a broker's retry neither reorders nor duplicates records within the
partition. The producer is started on the first send and started anew after any failure.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TIMEOUT = 10.0
HEADERS = [("content-type", b"application/json")]


def create(spec: TargetSpec) -> KafkaTarget:
    return KafkaTarget(spec)


class KafkaTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        self._topic = str(config.get("topic") or "")
        if not self._topic:
            raise TargetError(f"kafka target {spec.id}: topic is required")
        servers = config.get("bootstrap_servers") or DEFAULT_BOOTSTRAP
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        self._servers: list[str] = [str(s) for s in servers]
        self._client_id = str(config.get("client_id") or "bayou")
        self._timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def send(self, messages: list[dict[str, Any]]) -> None:
        async with self._lock:
            try:
                producer = await self._connect()
                pending = []
                for message in messages:  # queued in order; per partition they are sent in order
                    pending.append(await producer.send(
                        self._topic,
                        json.dumps(message["body"], separators=(",", ":")).encode(),
                        key=str(message.get("key", "")).encode(),
                        headers=HEADERS,
                    ))
                await asyncio.wait_for(asyncio.gather(*pending), self._timeout)
            except Exception as exc:  # KafkaError, OSError, TimeoutError: all retried
                await self._drop()
                raise TargetError(f"kafka {','.join(self._servers)}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        timeout_ms = int(self._timeout * 1000)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=timeout_ms,  # also bounds send()'s wait for an unknown topic's metadata
        )
        try:
            await asyncio.wait_for(producer.start(), self._timeout)
        except BaseException:
            await _quietly_stop(producer, self._timeout)
            raise
        self._producer = producer
        return producer

    async def _drop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer, self._timeout)


async def _quietly_stop(producer: AIOKafkaProducer, timeout: float) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except Exception:  # a producer that never started or lost its broker: nothing more to release
        pass
