"""Lambda's destination records for asynchronous invocations, and where they go.

A destination is another function (the record becomes its asynchronous event, queued in the
same transaction that retires the invocation) or a bucket, optionally with a prefix
(`arn:aws:s3:::bucket/prefix`), where the record is written as a JSON object whose key ends in
the request id, so that a redelivery rewrites the same object instead of adding a second one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True, slots=True)
class Destination:
    kind: str  # "function" or "bucket"
    name: str  # function reference (name or ARN) or bucket name
    prefix: str = ""


def parse_destination(arn: str) -> Destination | None:
    """A supported destination ARN, or None (SQS, SNS and EventBridge need targets Bayou lacks)."""
    if arn.startswith("arn:aws:lambda:"):
        return Destination("function", arn)
    if arn.startswith("arn:aws:s3:::"):
        bucket, _, prefix = arn[len("arn:aws:s3:::"):].partition("/")
        if bucket:
            return Destination("bucket", bucket, prefix)
    return None


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


def _iso_ms(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def destination_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    attempts: int,
    payload: bytes,
    now: float,
    executed_version: str | None = None,
    function_error: str | None = None,
    response: bytes | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso_ms(now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(payload),
    }
    if executed_version is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            context["functionError"] = function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(response or b"null")
    return record


def destination_key(destination: Destination, function: str, request_id: str, now: float) -> str:
    stamp = time.gmtime(now)
    key = (
        f"aws/lambda/async/{function}/{time.strftime('%Y/%m/%d', stamp)}/"
        f"{time.strftime('%Y-%m-%dT%H.%M.%S', stamp)}-{request_id}"
    )
    prefix = destination.prefix
    return f"{prefix.rstrip('/')}/{key}" if prefix else key
