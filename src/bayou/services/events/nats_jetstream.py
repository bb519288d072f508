"""The `nats` event target: each message is published to a NATS JetStream subject.

Config keys (`config` of the target spec):
  servers  a NATS URL or a list of them, default `nats://127.0.0.1:4222` (credentials in the URL).
  subject  the subject to publish to (required); a JetStream stream must capture it.
  stream   optional: the stream's name; if no stream of that name exists, one is created
           capturing `subject` (file storage, JetStream's default 2-minute duplicate window).
           Without it, a stream capturing the subject must already exist.
  timeout  seconds to connect and to wait for each publish acknowledgement, default 5.

The body is published as JSON, one message after another, each acknowledgement awaited before the
next is sent, so the stream holds a batch in order. Each message carries a `Nats-Msg-Id` header
(`dedup_id`), stable across redeliveries, so the stream's duplicate window drops a batch that is
sent again after a failure; a TargetError says how many were acknowledged before it
(`delivered`). The connection is made on the first send and made again after one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_SERVERS = "nats://127.0.0.1:4222"
_MAX_READABLE_ID = 256


def dedup_id(message: dict[str, Any]) -> str:
    """An id for a message, the same each time the same event is delivered again.

    For an event record: `<bucket>/<key>:<sequencer>:<eventName>:<configurationId>` (sequencers only
    grow, so it names one event of one rule). Anything else (s3:TestEvent), or an id that is not
    short printable ASCII (a header must not carry it as is): `sha256:` + the hex digest of it or of
    the canonical JSON of the event."""
    body = message.get("body") or {}
    inner = body.get("data", body) if "specversion" in body else body  # a CloudEvents envelope
    records = inner.get("Records") if isinstance(inner, dict) else None
    record = records[0] if records else inner
    s3 = record.get("s3") if isinstance(record, dict) else None
    sequencer = (s3 or {}).get("object", {}).get("sequencer")
    if sequencer:
        text = f"{message.get('key', '')}:{sequencer}:{record.get('eventName', '')}:{s3.get('configurationId', '')}"
        if len(text) <= _MAX_READABLE_ID and text.isascii() and text.isprintable():
            return text
    else:
        text = json.dumps(inner, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class NatsJetStreamTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        servers = config.get("servers") or DEFAULT_SERVERS
        self._servers: list[str] = [servers] if isinstance(servers, str) else [str(s) for s in servers]
        subject = config.get("subject")
        if not subject:
            raise TargetError(f"nats target {spec.id}: config needs 'subject'")
        self._subject = str(subject)
        self._stream = str(config["stream"]) if config.get("stream") else None
        self._timeout = float(config.get("timeout", 5))
        self._nc: Any = None
        self._js: Any = None

    async def _connect(self) -> Any:
        if self._nc is not None and not self._nc.is_closed:
            return self._js
        try:
            from nats.aio.client import Client
            from nats.js.errors import NotFoundError
        except ImportError as exc:
            raise TargetError("the nats target needs the nats-py library: pip install 'bayou[nats]'") from exc

        errors: list[Exception] = []

        async def remember(exc: Exception) -> None:  # failures surface as TargetError from send()
            errors.append(exc)

        # No reconnecting inside the client: a failed batch is retried whole by the dispatcher. (With
        # max_reconnect_attempts=0 nats-py would try the first connection forever; 1 means two tries.)
        self._nc = nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(self._servers, connect_timeout=self._timeout, allow_reconnect=False,
                           max_reconnect_attempts=1, reconnect_time_wait=0.1, error_cb=remember,
                           name="bayou-events"),
                2 * self._timeout * len(self._servers) + 1)
        except Exception as exc:
            cause = errors[-1] if errors else exc
            raise TargetError(f"cannot connect: {type(cause).__name__}: {cause}") from exc
        self._js = nc.jetstream(timeout=self._timeout)
        if self._stream is not None:
            try:
                await self._js.stream_info(self._stream)
            except NotFoundError:
                await self._js.add_stream(name=self._stream, subjects=[self._subject])
        return self._js

    async def send(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        acked = 0
        try:
            js = await self._connect()
            for message in messages:
                payload = json.dumps(message["body"], separators=(",", ":")).encode()
                await js.publish(self._subject, payload, timeout=self._timeout,
                                 headers={"Nats-Msg-Id": dedup_id(message)})
                acked += 1
        except Exception as exc:
            await self.close()
            detail = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            error = TargetError(f"nats {self._subject} at {','.join(self._servers)}: {detail}")
            error.delivered = acked  # acknowledged before the failure: the dispatcher forgets those
            raise error from exc

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            try:
                await nc.close()
            except Exception:  # closing a broken connection: nothing more to do
                pass


def create(spec: TargetSpec) -> NatsJetStreamTarget:
    return NatsJetStreamTarget(spec)
