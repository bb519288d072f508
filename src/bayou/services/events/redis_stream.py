"""The `redis` event target: each message is XADDed to a Redis stream.

Config keys (`config` of the target spec):
  url      Redis URL, default `redis://127.0.0.1:6379/0` (`rediss://` for TLS, password in the URL).
  stream   the stream's key (required).
  maxlen   optional: trim the stream to about this many entries (`XADD ... MAXLEN ~ n`).
  timeout  seconds to connect and for each reply, default 5.

Each entry has two fields: `key` ("<bucket>/<key>") and `event` (the message body as JSON). A batch
is sent as one pipeline (not a MULTI transaction), in order; if Redis refuses an entry, the
TargetError says how many before it were added (`delivered`). The connection is made on the first
send and made again after a failure. Redis has no deduplication: a retried batch adds its entries
again, and consumers drop duplicates by the record's `s3.object.sequencer`.
"""

from __future__ import annotations

import json
from typing import Any

from bayou.services.events.targets import TargetError, TargetSpec

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class RedisStreamTarget:
    def __init__(self, spec: TargetSpec) -> None:
        config = spec.config
        self.arn = spec.arn
        self._url = str(config.get("url") or DEFAULT_URL)
        stream = config.get("stream")
        if not stream:
            raise TargetError(f"redis target {spec.id}: config needs 'stream'")
        self._stream = str(stream)
        self._maxlen = int(config["maxlen"]) if config.get("maxlen") else None
        self._timeout = float(config.get("timeout", 5))
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            try:
                import redis.asyncio as redis
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff
            except ImportError as exc:
                raise TargetError("the redis target needs the redis library: pip install 'bayou[redis]'") from exc
            # No retries inside the client: the dispatcher retries the whole batch with backoff.
            self._client = redis.from_url(self._url, socket_connect_timeout=self._timeout,
                                          socket_timeout=self._timeout, retry=Retry(NoBackoff(), 0),
                                          client_name="bayou-events")
        return self._client

    async def send(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        client = self._connect()
        try:
            async with client.pipeline(transaction=False) as pipe:
                for message in messages:
                    fields = {"key": message["key"], "event": json.dumps(message["body"], separators=(",", ":"))}
                    pipe.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            await self.close()
            raise TargetError(f"redis {self._stream} at {self._url}: {type(exc).__name__}: {exc}") from exc
        for done, result in enumerate(results):
            if isinstance(result, Exception):  # a command refused (WRONGTYPE...): the ones before it were added
                error = TargetError(f"redis {self._stream} at {self._url}: {type(result).__name__}: {result}")
                error.delivered = done  # the dispatcher forgets the messages already added
                raise error from result

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # closing a broken connection: nothing more to do
                pass


def create(spec: TargetSpec) -> RedisStreamTarget:
    return RedisStreamTarget(spec)
