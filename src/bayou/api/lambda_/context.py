"""What every Lambda handler receives, and the request body as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayou.api.http import Request
from bayou.errors import InvalidRequestContentException, RequestTooLargeException
from bayou.functions.registry import FunctionRegistry

#: CreateFunction / UpdateFunctionCode carry the zip base64-encoded in JSON (50 MB zip → ~67 MB).
CODE_BODY_LIMIT = 70 * 1024 * 1024
#: Invoke's payload limit is 6 MB (6291456 bytes); the invoke handler checks it exactly.
INVOKE_BODY_LIMIT = 7 * 1024 * 1024
#: Every other request document.
BODY_LIMIT = 1024 * 1024


@dataclass(slots=True)
class LambdaContext:
    request: Request
    registry: FunctionRegistry
    invoker: Any
    region: str
    public_url: str  # e.g. "http://localhost:9000", no trailing slash
    now: Callable[[], float]
    #: The body once read (a cache: handlers may read it twice). A body the app read before
    #: authenticating (SigV4 of a Lambda request signs its hash) comes through Request.raw_chunks.
    body: bytes | None = None
    #: Key for GetFunction's Code.Location links (code_download.code_signing_key(keyring)).
    code_signing_key: bytes | None = None
    #: <data>/functions/logs, where the function host writes logs (read by api/lambda_/logs.py).
    log_dir: Path | None = None

    async def read_body(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes (RequestTooLargeException past it); read once."""
        if self.body is None:
            self.body = await read_capped(self.request, limit)
        elif len(self.body) > limit:
            raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for this operation.")
        return self.body

    async def read_json(self, limit: int = BODY_LIMIT) -> dict[str, Any]:
        """The body as a JSON object; an empty body is `{}`."""
        return parse_json_object(await self.read_body(limit))


async def read_capped(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for this operation.")
    body = bytearray()
    async for chunk in request.raw_chunks():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for this operation.")
    return bytes(body)


def parse_json_object(data: bytes) -> dict[str, Any]:
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequestContentException(
            f"Could not parse request body into json: expected an object, got {type(value).__name__}"
        )
    return value
