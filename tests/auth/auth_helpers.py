"""Shared test helpers: requests signed by botocore itself, turned into ``RequestHead``s.

A plain module (not conftest) so that test files import it by a name no other directory uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bayou.auth.request import RequestHead

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
ENDPOINT = "https://localhost:9000"
NOW = 1369353600.0  # 2013-05-24T00:00:00Z, the date of AWS's S3 examples


@dataclass
class Captured:
    head: RequestHead
    body: bytes


def head_from_botocore(request: Any) -> RequestHead:
    """A RequestHead as the API layer would build it from what botocore puts on the wire."""
    url = urlsplit(request.url)
    headers: list[tuple[bytes, bytes]] = []
    for name, value in request.headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")  # as http.client does
        headers.append((name.encode("latin-1"), raw))
    if "host" not in {name.lower() for name, _ in request.headers.items()}:
        headers.append((b"host", url.netloc.encode()))
    return RequestHead.from_raw(request.method, url.path, url.query, headers)


def body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(iter(lambda: body.read(65536), b""))


def botocore_sign(
    method: str,
    path_and_query: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    service: str = "s3",
    region: str = REGION,
    when: float = NOW,
    presign_expires: int | None = None,
    access_key: str = AK,
    secret: str = SK,
    generic: bool = False,
) -> RequestHead:
    """Sign with botocore's own signer at a fixed time; header auth unless ``presign_expires``.

    ``generic`` uses the non-S3 signer classes, which keep a caller-set X-Amz-Content-SHA256
    (S3SigV4Auth always replaces it with its own payload hash).
    """
    request = AWSRequest(method, ENDPOINT + path_and_query, headers=dict(headers or {}), data=body)
    credentials = Credentials(access_key, secret)
    auth: SigV4Auth
    if presign_expires is not None:
        query_cls = S3SigV4QueryAuth if service == "s3" and not generic else SigV4QueryAuth
        auth = query_cls(credentials, service, region, expires=presign_expires)
    else:
        auth = (S3SigV4Auth if service == "s3" and not generic else SigV4Auth)(credentials, service, region)
    frozen = datetime.fromtimestamp(when, UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        auth.add_auth(request)
    return head_from_botocore(request)
