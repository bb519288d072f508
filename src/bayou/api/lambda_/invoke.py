"""Invoke (and the deprecated InvokeAsync): the data plane of the Lambda API.

RequestResponse runs now and answers with the handler's result (a function error is still a
200, flagged by X-Amz-Function-Error); Event is made durable and answered 202 before it runs;
DryRun only checks that the function exists and may be invoked.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from bayou.api.http import Response
from bayou.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
)

#: Lambda's payload quotas: 6 MB synchronous, 1 MB asynchronous (bytes, as Lambda counts them).
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


async def read_payload(ctx: Any, limit: int) -> bytes:
    """The whole request body, at most `limit` bytes, and valid JSON (Lambda's checks, in its words)."""
    body = bytearray()
    async for chunk in ctx.request.raw_chunks():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
    payload = bytes(body)
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {_reason(exc)}") from None
    return payload


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def _client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > CLIENT_CONTEXT_LIMIT:
        raise InvalidParameterValueException("Client context must be at most 3583 bytes (base64 encoded).")
    try:
        json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.") from None
    return value


async def handle_invoke(ctx: Any, endpoint: Any) -> Response:
    headers = ctx.request.headers
    invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )
    log_type = headers.get("x-amz-log-type", "None")
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Tail, None]"
        )
    client_context = _client_context(headers.get("x-amz-client-context"))
    limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
    payload = await read_payload(ctx, limit)
    target = await ctx.registry.resolve(endpoint.name, endpoint.qualifier)
    request_id = str(uuid.uuid4())
    if invocation_type == "DryRun":
        return Response(204, [("X-Amz-Executed-Version", target.executed_version)])
    if invocation_type == "Event":
        await ctx.invoker.enqueue(target, payload, request_id=request_id)
        return Response(202, [("x-amzn-RequestId", request_id)])
    result = await ctx.invoker.invoke(
        target, payload, request_id=request_id, log_tail=log_type == "Tail",
        client_context=client_context,
    )
    response = Response(200, [("Content-Type", "application/json"), ("X-Amz-Executed-Version", result.executed_version)])
    response.header("X-Amz-Function-Error", result.function_error)
    if log_type == "Tail":
        response.header("X-Amz-Log-Result", result.log_tail or "")
    response.headers.append(("x-amzn-RequestId", request_id))
    response.body = result.body
    return response


async def handle_invoke_async(ctx: Any, endpoint: Any) -> Response:
    """InvokeAsync (deprecated, still in botocore): an Event invocation answered {"Status": 202}."""
    payload = await read_payload(ctx, ASYNC_PAYLOAD_LIMIT)
    target = await ctx.registry.resolve(endpoint.name, None)
    await ctx.invoker.enqueue(target, payload)
    return Response(202, [("Content-Type", "application/json")], b'{"Status":202}')
