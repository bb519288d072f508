"""Minimal request/response primitives over raw ASGI.

Bayou speaks ASGI directly (no framework) because the hot paths are a handful of byte copies:
a framework's per-request objects would cost more than the S3 logic itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from bayou.errors import IncompleteBody, InvalidURI, RequestTimeout

Scope = dict[str, Any]
Receive = Any
Send = Any

BODY_IDLE_TIMEOUT = 30.0


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

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, request_id: str) -> Request:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path_str = raw_path.decode("latin-1")
        try:
            path = unquote_to_bytes(raw_path_str).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidURI() from exc
        raw_query = scope.get("query_string", b"").decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        try:
            query = dict(parse_qsl(raw_query, keep_blank_values=True, errors="strict"))
        except UnicodeDecodeError as exc:
            raise InvalidURI() from exc
        client = scope.get("client") or ("", 0)
        return cls(scope["method"], raw_path_str, path, raw_query, query, headers, client[0], receive, request_id)

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        """The body as received, with disconnects and stalls turned into S3 errors."""
        while True:
            try:
                async with asyncio.timeout(BODY_IDLE_TIMEOUT):
                    message = await self.receive()
            except TimeoutError as exc:
                raise RequestTimeout() from exc
            if message["type"] == "http.disconnect":
                raise IncompleteBody()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    async def read_all(self, limit: int, too_large: Exception) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.raw_chunks():
            size += len(chunk)
            if size > limit:
                raise too_large
            parts.append(chunk)
        return b"".join(parts)


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""

    def header(self, name: str, value: str | None) -> None:
        if value is not None:
            self.headers.append((name, value))


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if isinstance(response.body, bytes):
        if not any(k.lower() == "content-length" for k, _ in response.headers):
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if head:
        await send({"type": "http.response.body", "body": b""})
        return
    async for chunk in response.body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
