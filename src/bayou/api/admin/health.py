"""Bayou's own endpoints under /_bayou/ (bucket names cannot contain '_', so no collision)."""

from __future__ import annotations

import json

from bayou import __version__
from bayou.api.http import Response
from bayou.errors import NoSuchKey


def admin_response(path: str) -> Response:
    if path in ("/_bayou/health", "/_bayou/health/"):
        body = json.dumps({"status": "ok", "version": __version__}).encode()
        return Response(200, [("Content-Type", "application/json")], body)
    raise NoSuchKey("No such Bayou endpoint.", Key=path)
