"""The `mqtt` target: publishes each event to an MQTT broker (Mosquitto and the like), MQTT 3.1.1.

Config keys (`topic` is required):

- `host`, `port`: the broker; default `127.0.0.1`, `1883`.
- `topic`: the topic every event is published to.
- `qos`: 0, 1 or 2; default 1 (each publish waits for the broker's PUBACK; 2: for PUBCOMP).
- `username`, `password`: optional credentials.
- `client_id`: optional client identifier; default a random one for each connection.
- `tls`: true to connect with TLS (the system's trusted CAs, or `tls_ca_file`); default false.
- `timeout`: seconds to wait for the connection and for each acknowledgement; default 10.

Messages are JSON, not retained, published one after another in order, each acknowledged (at QoS
1 or 2) before the next is sent. The connection is made on the first send and made again after
any failure.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiomqtt

from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883
DEFAULT_TIMEOUT = 10.0


def create(spec: TargetSpec) -> MqttTarget:
    return MqttTarget(spec)


class MqttTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        self._topic = str(config.get("topic") or "")
        if not self._topic:
            raise TargetError(f"mqtt target {spec.id}: topic is required")
        if "+" in self._topic or "#" in self._topic:
            raise TargetError(f"mqtt target {spec.id}: topic {self._topic!r} has a wildcard")
        self._qos = int(config.get("qos", 1))
        if self._qos not in (0, 1, 2):
            raise TargetError(f"mqtt target {spec.id}: qos must be 0, 1 or 2")
        self._host = str(config.get("host") or DEFAULT_HOST)
        self._port = int(config.get("port") or DEFAULT_PORT)
        self._username = config.get("username")
        self._password = config.get("password")
        self._client_id = config.get("client_id")
        self._tls = bool(config.get("tls", False))
        self._tls_ca_file = config.get("tls_ca_file")
        self._timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()

    async def send(self, messages: list[dict[str, Any]]) -> None:
        async with self._lock:
            try:
                client = await self._connect()
                for message in messages:
                    payload = json.dumps(message["body"], separators=(",", ":")).encode()
                    # aiomqtt waits for PUBACK (qos 1) / PUBCOMP (qos 2) before returning.
                    await client.publish(self._topic, payload, qos=self._qos, retain=False, timeout=self._timeout)
            except Exception as exc:  # MqttError, OSError, TimeoutError: all retried
                await self._drop()
                raise TargetError(f"mqtt {self._host}:{self._port}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        tls_context = ssl.create_default_context(cafile=self._tls_ca_file) if self._tls else None
        client = aiomqtt.Client(
            self._host, self._port,
            username=None if self._username is None else str(self._username),
            password=None if self._password is None else str(self._password),
            identifier=None if self._client_id is None else str(self._client_id),
            timeout=self._timeout,
            tls_context=tls_context,
        )
        try:
            await asyncio.wait_for(client.__aenter__(), self._timeout)
        except BaseException:
            await _quietly_exit(client, self._timeout)
            raise
        self._client = client
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _quietly_exit(client, self._timeout)


async def _quietly_exit(client: aiomqtt.Client, timeout: float) -> None:
    try:
        await asyncio.wait_for(client.__aexit__(None, None, None), timeout)
    except Exception:  # already disconnected or broken: nothing more to release
        pass
