"""Fixtures: capture-only boto3 clients.

Real boto3 clients are driven with a ``before-send`` hook that captures the prepared request and
answers it locally, so nothing leaves the process and we verify exactly what boto3 would send.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from auth_helpers import AK, ENDPOINT, REGION, SK, Captured, body_bytes, head_from_botocore
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config


@pytest.fixture
def boto_capture() -> Iterator[Callable[..., tuple[Any, list[Captured]]]]:
    """``make(service, **config)`` -> (client, captured list) for a capture-only boto3 client."""

    def make(service: str = "s3", **config: Any) -> tuple[Any, list[Captured]]:
        captured: list[Captured] = []
        client = boto3.client(
            service,
            region_name=REGION,
            endpoint_url=ENDPOINT,
            aws_access_key_id=AK,
            aws_secret_access_key=SK,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

        def answer(request: AWSRequest, **_: Any) -> AWSResponse:
            captured.append(Captured(head_from_botocore(request), body_bytes(request)))
            raw = _Raw(b"{}" if service != "s3" else b"")
            return AWSResponse(request.url, 200, {}, raw)

        client.meta.events.register("before-send", answer)
        return client, captured

    yield make


class _Raw(io.BytesIO):
    """Just enough of a urllib3 response for botocore to parse an empty 200."""

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.read()
