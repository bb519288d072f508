"""Lambda's JSON error body: the one place Lambda errors become HTTP (DESIGN.md invariant 6)."""

from __future__ import annotations

import json
from typing import Any

from bayou.api.http import Response
from bayou.errors import BayouError, LambdaError


def json_response(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(status, [*(headers or []), ("Content-Type", "application/json")], data)


def error_response(error: BayouError) -> Response:
    """Lambda's shape: x-amzn-ErrorType header, {"Type", "message", ...fields} body.

    An S3 error raised under the Lambda API (e.g. a bad signature) is rendered in the same
    shape, since the Lambda client parses only JSON.
    """
    kind = error.kind if isinstance(error, LambdaError) else ("Service" if error.status >= 500 else "User")
    body: dict[str, Any] = {"Type": kind, "message": error.message, **error.fields}
    headers = [(name, value) for name, value in error.headers.items()]
    headers.append(("x-amzn-ErrorType", error.code))
    return json_response(error.status, body, headers)
