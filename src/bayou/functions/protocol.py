"""The wire format between server workers and the function host: framed JSON plus raw bytes.

A frame is `u32 header length | header JSON | u32 body length | body`, both lengths big-endian.
The header is small JSON; the body carries payloads verbatim (up to 6 MB) so they are never
base64-encoded or re-parsed on the way. Requests carry an integer "id" that the reply echoes,
so one connection carries many concurrent invocations. This module imports nothing of Bayou:
the host, the workers and the tests all share it.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

_LEN = struct.Struct(">I")
#: Headers are small; payloads are bounded by Lambda's 6 MB limit plus room for error JSON.
MAX_HEADER = 1 << 20
MAX_BODY = 8 << 20


class ProtocolError(Exception):
    """The peer sent something that is not a frame (or a frame too large)."""


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((_LEN.pack(len(head)), head, _LEN.pack(len(body)), body))


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The next frame; raises asyncio.IncompleteReadError at a clean or unclean EOF."""
    (head_len,) = _LEN.unpack(await reader.readexactly(4))
    if head_len > MAX_HEADER:
        raise ProtocolError(f"header of {head_len} bytes")
    header = json.loads(await reader.readexactly(head_len))
    (body_len,) = _LEN.unpack(await reader.readexactly(4))
    if body_len > MAX_BODY:
        raise ProtocolError(f"body of {body_len} bytes")
    body = await reader.readexactly(body_len) if body_len else b""
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    return header, body


def read_frame_blocking(stream: Any) -> tuple[dict[str, Any], bytes] | None:
    """The same, from a blocking binary file object (inside execution environments); None at EOF."""
    raw = stream.read(4)
    if len(raw) < 4:
        return None
    (head_len,) = _LEN.unpack(raw)
    header = json.loads(_read_exact(stream, head_len))
    (body_len,) = _LEN.unpack(_read_exact(stream, 4))
    return header, _read_exact(stream, body_len)


def _read_exact(stream: Any, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("peer closed mid-frame")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
