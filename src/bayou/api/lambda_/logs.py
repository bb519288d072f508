"""GetFunctionLogs, a Bayou extension of the Lambda API: `GET /2015-03-31/functions/{name}/logs?offset=N`.

Lambda sends logs to CloudWatch; Bayou's function host appends them to
`<data>/functions/logs/<function>.log` (functions/host/logs.py), rotated at 1 MiB into one `.1`
generation. This endpoint pages through that file for `bayou fn logs`.

Offsets are byte positions in the current file. The only rotation a reader can see is the file
being shorter than its offset: then the rest of the rotated `.1` (if it is at least that long)
comes first, followed by the new file from 0, so a reader polling at least once per MiB of output
misses nothing. Otherwise (the `.1` was itself rotated away) reading restarts at 0 of the current
file with a `note`. A file that rotated and regrew past the reader's offset between two polls is
not detected: those lines are skipped.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.render import json_response
from bayou.errors import ServiceException

#: At most this many bytes of log text per response.
MAX_CHUNK = 1 << 20
#: The host's file-name rule (functions/host/logs.py); Lambda names are already safe.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class LogChunk:
    data: bytes
    next_offset: int
    note: str | None = None


def log_path(log_dir: Path, function: str) -> Path:
    return log_dir / (_UNSAFE.sub("_", function) + ".log")


def _read(path: Path, offset: int, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(limit)
    except FileNotFoundError:
        return b""


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _complete(data: bytes, cut: bool) -> bytes:
    """`data` without a trailing partial UTF-8 character; when cut at the limit, up to its last line."""
    if cut and b"\n" in data:
        return data[: data.rindex(b"\n") + 1]
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: keep it only if its sequence is complete
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def read_log(log_dir: Path, function: str, offset: int, limit: int = MAX_CHUNK) -> LogChunk:
    """Log text of `function` from `offset` (see the module docstring), at most `limit` bytes."""
    path = log_path(log_dir, function)
    size = _size(path) or 0
    if offset <= size:
        data = _complete(_read(path, offset, limit), size - offset > limit)
        return LogChunk(data, offset + len(data))
    rotated = Path(str(path) + ".1")
    older = _size(rotated)
    if older is None or older < offset:
        data = _complete(_read(path, 0, limit), size > limit)
        note = f"The log was rotated more than once since offset {offset}; reading restarts at 0 of the current file."
        return LogChunk(data, len(data), note)
    head = _read(rotated, offset, limit)
    if len(head) >= limit:  # cannot happen with the host's 1 MiB rotation unless limit is lowered
        head = _complete(head, True)
        note = "The log was rotated; the rest of the rotated file was cut at the limit."
        return LogChunk(head, 0, note)
    tail = _complete(_read(path, 0, limit - len(head)), size > limit - len(head))
    return LogChunk(head + tail, len(tail))


async def get_function_logs(ctx: LambdaContext, endpoint: router.GetFunctionLogs) -> Response:
    await ctx.registry.get_function(endpoint.name)  # ResourceNotFoundException for an unknown function
    if ctx.log_dir is None:
        raise ServiceException("Function logs are not available on this server (no log directory).")
    chunk = await asyncio.to_thread(read_log, ctx.log_dir, endpoint.name, endpoint.offset)
    body: dict[str, object] = {"events": chunk.data.decode("utf-8", "replace"), "nextOffset": chunk.next_offset}
    if chunk.note is not None:
        body["note"] = chunk.note
    return json_response(200, body)
