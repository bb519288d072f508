"""Lambda's context object, as awslambdaric builds it, for handlers that read it."""

from __future__ import annotations

import base64
import json
import time
from typing import Any


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, fields: dict[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, fields: dict[str, Any]) -> None:
        client = fields.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = fields.get("custom")
        self.env = fields.get("env")


def decode_client_context(raw: str | None) -> ClientContext | None:
    """The Invoke header's base64 JSON; anything undecodable is treated as absent."""
    if not raw:
        return None
    try:
        fields = json.loads(base64.b64decode(raw))
    except (ValueError, TypeError):
        return None
    return ClientContext(fields) if isinstance(fields, dict) else None


class LambdaContext:
    """The second argument of every handler."""

    def __init__(self, request: dict[str, Any], environ: dict[str, str]) -> None:
        self.aws_request_id: str = request.get("request_id", "")
        self.invoked_function_arn: str = request.get("invoked_arn", "")
        self._deadline_ms: int = int(request.get("deadline_ms") or 0)
        self.client_context = decode_client_context(request.get("client_context"))
        self.identity = None
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])"
        )
