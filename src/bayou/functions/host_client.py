"""A server worker's connection to the function host: many concurrent requests on one socket.

Replies are matched to requests by id. The connection is opened on first use and reopened
after the host restarts (the server's supervisor restarts it), so a worker never needs to know
when the host came up.

`invoke` sends an environment spec in full until the host has answered a request that carried it
on the current connection, and then only its key (the host remembers specs per connection; see
`functions/host/server.py`). A new connection forgets what the old one taught, and a key the host
does not know (`unknown_env`) is sent again in full.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from bayou.errors import RequestTooLargeException, ServiceException
from bayou.functions.protocol import MAX_BODY, encode_frame, read_frame

log = logging.getLogger("bayou.functions")

#: How long a request waits for the host to (re)appear before failing with ServiceException.
CONNECT_PATIENCE = 10.0
_KNOWN_LIMIT = 4096
#: Beyond an invocation's own deadline: the environment's init limit (10 s) and a margin.
_INVOKE_MARGIN = 20.0
_OTHER_PATIENCE = 30.0


def _patience(header: dict[str, Any]) -> float:
    deadline_ms = header.get("deadline_ms")
    if header.get("op") == "invoke" and isinstance(deadline_ms, int | float):
        return max(1.0, deadline_ms / 1000 - time.time()) + _INVOKE_MARGIN
    return _OTHER_PATIENCE


class HostClient:
    def __init__(self, socket_path: str) -> None:
        self._path = socket_path
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Lock | None = None
        self._connection_no = 0
        self._closed = False
        #: spec key -> the spec object the host has acknowledged on the current connection
        self._known: dict[str, dict[str, Any]] = {}
        #: spec key -> the number of the last request that carried it in full
        self._sent: dict[str, int] = {}

    async def invoke(
        self, header: dict[str, Any], spec: dict[str, Any], body: bytes = b""
    ) -> tuple[dict[str, Any], bytes]:
        """An `invoke` request for `spec` (the same object each time, for the cache to apply)."""
        key = spec["key"]
        if self._known.get(key) is spec:
            reply = await self.request({**header, "env_key": key}, body)
            if reply[0].get("status") != "unknown_env":
                return reply
            self._known.pop(key, None)
        await self._connection()
        connection = self._connection_no
        if len(self._sent) >= _KNOWN_LIMIT:
            self._sent.clear()
        sent = self._sent[key] = next(self._ids)
        reply = await self.request({**header, "env": spec}, body)
        if (
            reply[0].get("status") not in ("error", "unknown_env")
            and connection == self._connection_no
            and self._sent.get(key) == sent
        ):
            if len(self._known) >= _KNOWN_LIMIT:
                self._known.clear()
            self._known[key] = spec
        return reply

    async def request(self, header: dict[str, Any], body: bytes = b"") -> tuple[dict[str, Any], bytes]:
        """Send one request and wait for its reply. A lost connection fails the request
        (ServiceException): the caller decides whether to retry, since an invocation may have run.

        A body the host would refuse as a frame is refused here (RequestTooLargeException), since
        the host answers a bad frame by closing the connection that every other request shares.
        The wait is bounded: an invocation's deadline plus the init limit and a margin, else 30 s."""
        if len(body) > MAX_BODY:
            raise RequestTooLargeException(f"Request must be smaller than {MAX_BODY} bytes for the function host.")
        writer = await self._connection()
        request_id = next(self._ids)
        future: asyncio.Future[tuple[dict[str, Any], bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(encode_frame({**header, "id": request_id}, body))
            async with asyncio.timeout(_patience(header)):
                return await future
        except TimeoutError:
            raise ServiceException("The function runtime did not answer in time.") from None
        finally:
            self._pending.pop(request_id, None)

    async def _connection(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            reader, writer = await self._open()
            self._writer = writer
            self._connection_no += 1
            self._known.clear()
            self._sent.clear()
            asyncio.get_running_loop().create_task(self._read_replies(reader, writer))
            return writer

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + CONNECT_PATIENCE
        while True:
            try:
                return await asyncio.open_unix_connection(self._path, limit=1 << 24)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if loop.time() > give_up or self._closed:
                    raise ServiceException("The function runtime is not available.") from exc
                await asyncio.sleep(0.05)

    async def _read_replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header, body = await read_frame(reader)
                future = self._pending.get(header.get("id", -1))
                if future is not None and not future.done():
                    future.set_result((header, body))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception:
            log.exception("unreadable reply from the function host")
        finally:
            if self._writer is writer:
                self._writer = None
                self._known.clear()
            writer.close()
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(ServiceException("The function runtime restarted during the request."))

    async def close(self) -> None:
        """At shutdown: no more waiting for a host that is stopping too (the server's process group
        gets the same signal)."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None
