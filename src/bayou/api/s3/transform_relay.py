"""Relaying WriteGetObjectResponse between server workers.

With `--workers` > 1 the function's POST may reach a worker other than the one holding the
waiting GET. Each worker listens on its own unix socket, named after its pid, and the GET's
`outputRoute` (`io-<pid>-<random>`) names that worker. A worker receiving a POST for another
worker forwards it over that worker's socket, which feeds its waiting GET as a local POST would:

    forwarder → frame: JSON {"route", "token", "headers" (x-amz-fwd-* / x-amz-meta-*), "length"}
    holder    → b"y" (token claimed) or b"n" (unknown, used or answered: InvalidRequestToken)
    forwarder → body frames, then an empty frame (the end); a connection closed before it aborts the GET
    holder    → b"d" once the whole body is queued for the GET

A frame is a 4-byte big-endian length and at most MAX_FRAME bytes. Memory stays bounded: the
holder reads a frame only when its GET's queue has room, and the forwarder waits for the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from bayou.functions.host_process import host_socket_path

_FRAME = struct.Struct(">I")
MAX_FRAME = 256 * 1024
HEAD_TIMEOUT = 10.0
ACCEPTED, REFUSED, DONE = b"y", b"n", b"d"


def relay_socket_path(data_dir: Path, pid: int) -> str:
    """`.../run/xf<pid>.s` next to the function host's socket: never longer than that path."""
    head, _, tail = host_socket_path(data_dir).rpartition("fnhost")
    return f"{head}xf{pid}{tail.removesuffix('.sock')}.s"


async def listen(path: str, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> asyncio.AbstractServer:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    server = await asyncio.start_unix_server(handle, path=path)
    os.chmod(path, 0o600)
    return server


def close(server: asyncio.AbstractServer | None, path: str) -> None:
    if server is not None:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def read_head(reader: asyncio.StreamReader) -> dict[str, Any]:
    frame = await asyncio.wait_for(_read_frame(reader), HEAD_TIMEOUT)
    head = json.loads(frame) if frame else None
    if not isinstance(head, dict):
        raise ValueError("relay: no head")
    return head


async def received_body(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The forwarded body; asyncio.IncompleteReadError if the forwarder stopped before the end frame."""
    while frame := await _read_frame(reader):
        yield frame


async def forward(path: str, head: dict[str, Any], body: AsyncIterator[bytes]) -> bool:
    """Send a WriteGetObjectResponse to the worker holding its GET; False if that worker refused the token."""
    try:
        reader, writer = await asyncio.open_unix_connection(path)
    except OSError:
        return False  # no such worker (any more)
    try:
        _write_frame(writer, json.dumps(head).encode())
        await writer.drain()
        if await reader.read(1) != ACCEPTED:
            return False
        async for chunk in body:
            for start in range(0, len(chunk), MAX_FRAME):
                _write_frame(writer, chunk[start:start + MAX_FRAME])
                await writer.drain()
        _write_frame(writer, b"")
        await writer.drain()
        if await reader.read(1) != DONE:
            raise ConnectionError("the worker holding the GET did not take the whole body")
        return True
    finally:
        writer.close()


def _write_frame(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(_FRAME.pack(len(data)))
    if data:
        writer.write(data)


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = _FRAME.unpack(await reader.readexactly(_FRAME.size))
    if size > MAX_FRAME:
        raise ValueError(f"relay: frame of {size} bytes")
    return await reader.readexactly(size) if size else b""
