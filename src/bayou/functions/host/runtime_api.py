"""Bayou's Lambda Runtime API: the HTTP endpoint that a custom runtime's `bootstrap` polls.

One `RuntimeApi` per execution environment, listening on 127.0.0.1 on an ephemeral port, so a
request id never has to be matched against another environment's invocations and a listener dies
with its environment. The paths, headers and status codes are AWS's
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), so awslambdaric, the Node.js,
Go, Rust and Java runtime clients and hand-written bootstraps work unchanged.

HTTP/1.1 is parsed by h11: connections are kept alive (runtime clients reuse one connection for
every /next and /response) and `GET .../invocation/next` is a long poll that blocks until the
environment hands it an invocation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Literal

import h11

from .environment import InvocationRequest

PREFIX = b"/2018-06-01/runtime"
#: Lambda's limit for a synchronous response ("maximum allowed payload size (6291556 bytes)").
MAX_RESPONSE_BYTES = 6291556
#: Error bodies are small; anything past this is cut rather than buffered.
MAX_ERROR_BYTES = 1 << 20
_READ_CHUNK = 64 * 1024
_DRAIN_LIMIT = 64 << 20


@dataclass(slots=True)
class RuntimeReply:
    """What the runtime posted: an invocation's response or error, or its init error."""

    kind: Literal["response", "error", "too_large"]
    body: bytes
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header


@dataclass(slots=True, eq=False)
class PendingInvocation:
    """An invocation handed to the environment: queued, then delivered by /next, then replied."""

    request: InvocationRequest
    reply: asyncio.Future[RuntimeReply]
    delivered_at: float | None = None  # time.monotonic() when /next returned it
    trace_id: str = field(default_factory=lambda: _trace_id())


class RuntimeApi:
    """The Runtime API of one environment.

    The environment `submit()`s an invocation and awaits `pending.reply`; the runtime takes it with
    GET /next and resolves it with POST /response or /error. `withdraw()` abandons an invocation
    (timeout, runtime exit): a later post for its id is answered 400, as for an unknown id.
    """

    def __init__(self) -> None:
        self.first_next = asyncio.Event()
        self.first_next_at: float | None = None  # time.monotonic()
        self.init_error: RuntimeReply | None = None
        self.init_failed = asyncio.Event()
        self._backlog: deque[PendingInvocation] = deque()
        self._waiters: deque[asyncio.Future[PendingInvocation]] = deque()
        self._delivered: dict[str, PendingInvocation] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.address = ""

    async def start(self) -> str:
        """Listen on 127.0.0.1:<ephemeral>; returns the value for AWS_LAMBDA_RUNTIME_API."""
        self._server = await asyncio.start_server(self._accept, host="127.0.0.1", port=0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"{host}:{port}"
        return self.address

    async def close(self) -> None:
        """Stop listening, drop every connection, abandon every invocation. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()
        for pending in [*self._backlog, *self._delivered.values()]:
            self.withdraw(pending)
        if server is not None:
            await server.wait_closed()

    def submit(self, request: InvocationRequest) -> PendingInvocation:
        """Queue an invocation for the runtime's next (or current) GET /next."""
        pending = PendingInvocation(request, asyncio.get_running_loop().create_future())
        self._hand_out(pending)
        return pending

    def withdraw(self, pending: PendingInvocation) -> None:
        """Forget an invocation (it timed out or the runtime died)."""
        self._delivered.pop(pending.request.request_id, None)
        if pending in self._backlog:
            self._backlog.remove(pending)
        if not pending.reply.done():
            pending.reply.cancel()

    def _hand_out(self, pending: PendingInvocation) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(pending)
                return
        self._backlog.append(pending)

    async def _take(self) -> PendingInvocation:
        while self._backlog:
            pending = self._backlog.popleft()
            if not pending.reply.done():
                return pending
        waiter: asyncio.Future[PendingInvocation] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed out just as the poll was abandoned
                self.requeue(waiter.result())
            raise

    def requeue(self, pending: PendingInvocation) -> None:
        """Put back an invocation that its poll could not deliver, ahead of the others."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(pending)
                return
        self._backlog.appendleft(pending)

    # HTTP

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await _Connection(self, reader, writer).serve()
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError):
            pass
        except asyncio.CancelledError:  # close(); ending normally spares 3.11's streams callback a traceback
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def route(self, conn: _Connection, method: bytes, target: bytes) -> _Reply:
        path = target.split(b"?", 1)[0]
        if not path.startswith(PREFIX + b"/"):
            return _not_found(path)
        parts = path[len(PREFIX) + 1 :].split(b"/")
        if parts == [b"invocation", b"next"]:
            return await self._next(conn) if method == b"GET" else _not_allowed()
        if parts == [b"init", b"error"]:
            return await self._init_error(conn) if method == b"POST" else _not_allowed()
        if len(parts) == 3 and parts[0] == b"invocation" and parts[2] in (b"response", b"error"):
            if method != b"POST":
                return _not_allowed()
            return await self._post(conn, parts[1].decode("latin-1"), parts[2].decode())
        return _not_found(path)

    async def _next(self, conn: _Connection) -> _Reply:
        await conn.read_body(0)
        if not self.first_next.is_set():
            self.first_next_at = time.monotonic()
            self.first_next.set()
        while True:
            pending = await conn.while_connected(self._take())
            if pending is None:
                return _Reply.closed()
            if not conn.connected:  # the client left as the invocation arrived: give it to the next poll
                self.requeue(pending)
                return _Reply.closed()
            if not pending.reply.done():  # else withdrawn between hand-out and delivery
                break
        pending.delivered_at = time.monotonic()
        self._delivered[pending.request.request_id] = pending
        return _Reply(200, pending.request.payload, _next_headers(pending))

    async def _post(self, conn: _Connection, request_id: str, kind: str) -> _Reply:
        limit = MAX_RESPONSE_BYTES if kind == "response" else MAX_ERROR_BYTES
        body, fits = await conn.read_body(limit)
        pending = self._delivered.pop(request_id, None)
        if pending is None:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        if not fits:
            pending.reply.set_result(RuntimeReply("too_large", b""))
            return _error(413, "RequestEntityTooLarge", f"Payload larger than {limit} bytes")
        error_type = conn.header(b"lambda-runtime-function-error-type")
        pending.reply.set_result(
            RuntimeReply("response" if kind == "response" else "error", body, error_type)
        )
        return _Reply.accepted()

    async def _init_error(self, conn: _Connection) -> _Reply:
        body, fits = await conn.read_body(MAX_ERROR_BYTES)
        if not fits:
            return _error(413, "RequestEntityTooLarge", f"Payload larger than {MAX_ERROR_BYTES} bytes")
        if self.init_error is None:
            self.init_error = RuntimeReply("error", body, conn.header(b"lambda-runtime-function-error-type"))
            self.init_failed.set()
        return _Reply.accepted()


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False
    drop: bool = False  # the client is gone: send nothing

    @classmethod
    def accepted(cls, *, close: bool = False) -> _Reply:
        return cls(202, b'{"status":"OK"}', [(b"content-type", b"application/json")], close)

    @classmethod
    def closed(cls) -> _Reply:
        return cls(0, drop=True)


class _Connection:
    """One keep-alive HTTP/1.1 connection from the runtime, request after request."""

    def __init__(self, api: RuntimeApi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.api = api
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)
        self.request: h11.Request | None = None
        self.connected = True

    async def serve(self) -> None:
        while True:
            event = await self._event()
            if not isinstance(event, h11.Request):
                return
            self.request = event
            reply = await self.api.route(self, event.method, event.target)
            if reply.drop:
                return
            if self.h11.their_state is not h11.DONE:  # an unread body: do not try to skip it
                reply.close = True
            self._send(reply)
            await self.writer.drain()
            if reply.close or self.h11.our_state is h11.MUST_CLOSE:
                return
            self.h11.start_next_cycle()

    def header(self, name: bytes) -> str | None:
        assert self.request is not None
        for key, value in self.request.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    async def read_body(self, limit: int) -> tuple[bytes, bool]:
        """The request body if it fits in `limit` bytes, and whether it did.

        A longer body is read and dropped (so that the client, which sends it all before reading
        the reply, sees a 413 and not a reset) up to _DRAIN_LIMIT; past that the connection closes.
        """
        chunks: list[bytes] = []
        size = 0
        while size <= _DRAIN_LIMIT:
            event = await self._event()
            if isinstance(event, h11.EndOfMessage):
                break
            if not isinstance(event, h11.Data):
                raise ConnectionError("connection closed mid-request")
            size += len(event.data)
            if size <= limit:
                chunks.append(bytes(event.data))
        return (b"".join(chunks), True) if size <= limit else (b"", False)

    async def while_connected(
        self, waiting: Coroutine[object, object, PendingInvocation]
    ) -> PendingInvocation | None:
        """Await `waiting` unless the client disconnects first (then None)."""
        task = asyncio.ensure_future(waiting)
        reading: asyncio.Future[bytes] | None = None
        try:
            while not task.done() and self.connected:
                reading = asyncio.ensure_future(self.reader.read(_READ_CHUNK))
                await asyncio.wait({task, reading}, return_when=asyncio.FIRST_COMPLETED)
                reading.cancel()
                await asyncio.wait({reading})  # the reader allows one waiter: let this one go first
                if not reading.cancelled():
                    data = b"" if reading.exception() else reading.result()
                    self.h11.receive_data(data)  # pipelined bytes are kept for the next request
                    self.connected = bool(data)
                reading = None
            if task.done():
                return task.result()
            return None
        finally:
            task.cancel()
            if reading is not None:
                reading.cancel()

    async def _event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if not self.connected:
                return h11.ConnectionClosed()
            data = await self.reader.read(_READ_CHUNK)
            if not data:
                self.connected = False
            self.h11.receive_data(data)

    def _send(self, reply: _Reply) -> None:
        headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
        if reply.close:
            headers.append((b"connection", b"close"))
        self.writer.write(self.h11.send(h11.Response(status_code=reply.status, headers=headers)))
        if reply.body:
            self.writer.write(self.h11.send(h11.Data(data=reply.body)))
        self.writer.write(self.h11.send(h11.EndOfMessage()))


def _next_headers(pending: PendingInvocation) -> list[tuple[bytes, bytes]]:
    request = pending.request
    headers = [
        (b"content-type", b"application/json"),
        (b"lambda-runtime-aws-request-id", request.request_id.encode()),
        (b"lambda-runtime-deadline-ms", str(request.deadline_ms).encode()),
        (b"lambda-runtime-invoked-function-arn", request.invoked_arn.encode()),
        (b"lambda-runtime-trace-id", pending.trace_id.encode()),
    ]
    if request.client_context:
        headers.append((b"lambda-runtime-client-context", _client_context(request.client_context)))
    return headers


def _client_context(encoded: str) -> bytes:
    """Invoke carries the client context as base64 JSON; the Runtime API passes the JSON itself."""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return encoded.encode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


def _error(status: int, error_type: str, message: str, *, close: bool = False) -> _Reply:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return _Reply(status, body, [(b"content-type", b"application/json")], close)


def _not_found(path: bytes) -> _Reply:
    return _error(404, "NotFound", f"Unknown path {path.decode('latin-1')}")


def _not_allowed() -> _Reply:
    return _error(405, "MethodNotAllowed", "Method not allowed")
