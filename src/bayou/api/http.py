"""Minimal request/response primitives over raw ASGI.

Bayou speaks ASGI directly (no framework) because the hot paths are a handful of byte copies:
a framework's per-request objects would cost more than the S3 logic itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any
from urllib.parse import unquote_to_bytes

from bayou.auth.sigv4 import parse_query
from bayou.blobs.local import FileRange
from bayou.errors import IncompleteBody, InvalidURI, RequestTimeout

Scope = dict[str, Any]
Receive = Any
Send = Any

BODY_IDLE_TIMEOUT = 30.0


def _check_utf8(pairs: tuple[tuple[str, str], ...]) -> None:
    """Query values are text: bytes that are not UTF-8 are a bad URI, not a server error later.

    Bytes that were not UTF-8 survive decoding as lone surrogates, which a strict encode
    rejects; one encode of everything joined costs far less than one per name and value.
    """
    try:
        "".join(chain.from_iterable(pairs)).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidURI() from exc


@dataclass(slots=True)
class Request:
    method: str
    raw_path: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    client: str
    receive: Receive
    request_id: str
    query_pairs: tuple[tuple[str, str], ...] = ()
    body_done: bool = False
    #: The whole body, when it had to be read before authentication (a Lambda request signs its hash).
    preread: bytes | None = None

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, request_id: str) -> Request:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        try:
            path = (unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidURI() from exc
        raw_query_bytes: bytes = scope.get("query_string", b"")
        raw_path_str = raw_path.decode("utf-8", "surrogateescape")
        raw_query = raw_query_bytes.decode("utf-8", "surrogateescape")
        # UTF-8 with surrogateescape: the exact bytes survive (SigV4 signs them; metadata echoes them).
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("utf-8", "surrogateescape").strip()
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        pairs = tuple(parse_query(raw_query))
        if not raw_query.isascii() or "%" in raw_query:
            _check_utf8(pairs)
        client = scope.get("client") or ("", 0)
        return cls(
            scope["method"], raw_path_str, path, raw_query, dict(pairs), headers, client[0], receive, request_id,
            pairs,
        )

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        """The body as received, with disconnects and stalls turned into S3 errors."""
        if self.preread is not None:
            body, self.preread = self.preread, None
            if body:
                yield body
            return
        while True:
            try:
                async with asyncio.timeout(BODY_IDLE_TIMEOUT):
                    message = await self.receive()
            except TimeoutError as exc:
                raise RequestTimeout() from exc
            if message["type"] == "http.disconnect":
                self.body_done = True
                raise IncompleteBody()
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self.body_done = True
            if body:
                yield body
            if self.body_done:
                return

    def has_body(self) -> bool:
        length = self.headers.get("content-length", "0")
        return "transfer-encoding" in self.headers or (length.isdigit() and int(length) > 0)

    async def discard_body(self, limit: int) -> bool:
        """Read and drop what the handler left unread, up to `limit` bytes; True if it all went.

        A response sent before its request's body was read would leave those bytes on a
        keep-alive connection to be parsed as the next request; the caller closes the
        connection instead when the rest is too big to be worth reading.
        """
        if self.body_done or not self.has_body():
            return True
        seen = 0
        try:
            async with asyncio.timeout(1.0):
                while not self.body_done:
                    message = await self.receive()
                    if message["type"] == "http.disconnect" or not message.get("more_body", False):
                        self.body_done = True
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        return False
        except TimeoutError:
            return False
        return True


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] | AsyncIterator[bytes | FileRange] = b""

    def header(self, name: str, value: str | None) -> None:
        if value is not None:
            self.headers.append((name, value))


RawHeaders = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Immediate:
    """A 200 response the app could give without awaiting anything, for the HTTP protocol to write
    at once instead of running the request as an ASGI task (see http_protocol.py)."""

    #: Header lines, each `name: value\r\n` (Content-Length among them); the protocol adds the
    #: status line, its own default headers (Date) and the blank line.
    header_lines: bytes
    body: bytes | FileRange
    #: Called once the body is written (closes the blob file a FileRange belongs to).
    done: Callable[[], None] | None = None


def encode_headers(headers: list[tuple[str, str]]) -> RawHeaders:
    """ASGI's header form; values keep the bytes they arrived with (see `Request.from_scope`)."""
    return [(k.encode("latin-1"), v.encode("utf-8", "surrogateescape")) for k, v in headers]


async def send_whole(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    """A response whose body is in memory: the head (with Content-Length set by the caller), then the body."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    headers = encode_headers(response.headers)
    if isinstance(response.body, bytes):
        if not any(k.lower() == "content-length" for k, _ in response.headers):
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send_whole(send, response.status, headers, b"" if head else response.body)
        return
    if head:
        await send_whole(send, response.status, headers, b"")
        return
    await send_stream(send, response.status, headers, response.body)


async def send_stream(
    send: Send, status: int, headers: RawHeaders, chunks: AsyncIterator[bytes] | AsyncIterator[bytes | FileRange]
) -> None:
    """A response whose body is produced piece by piece (Content-Length, if known, set by the caller)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
