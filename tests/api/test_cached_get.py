"""The cached GET path answers only plain, correctly signed GET/HEADs of cached objects; everything
else is left to the general path (None), which renders the errors and applies the options."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bayou.api.s3.cached_get import CachedGets
from bayou.auth.credentials import StaticKeyring
from bayou.blobs.local import LocalBlobReader
from bayou.meta.records import ObjectRecord

AK, SK = "AKIDCACHED", "cached-secret"
RECORD = ObjectRecord(
    bucket="b", key="k", size=4, etag="abc", last_modified=0.0, blob_id="x", inline=True,
    content_type="text/plain", user_metadata={"m": "v"},
)


def _scope(method: str, url: str, headers: dict[str, str], *, presign: bool = False, secret: str = SK,
           service: str = "s3") -> dict:
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    credentials = Credentials(AK, secret)
    if presign:
        S3SigV4QueryAuth(credentials, service, "us-east-1", expires=60).add_auth(request)
    else:
        request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
        S3SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    parts = urlsplit(request.url)
    wire = {"host": parts.netloc, **{k.lower(): v for k, v in request.headers.items()}}
    return {
        "type": "http", "method": method, "path": parts.path, "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(), "headers": [(k.encode(), v.encode()) for k, v in wire.items()],
        "client": ("127.0.0.1", 1),
    }


def _no_blob(blob_id: str) -> LocalBlobReader:
    raise AssertionError(f"no blob should be opened (asked for {blob_id})")


def _answer(gets: CachedGets, scope: dict) -> tuple[list[tuple[bytes, bytes]], object] | None:
    """The ASGI form of what the cached path answers: headers and body."""
    hit = gets.answer(scope)
    return None if hit is None else (gets.headers(hit), hit.body())


def _gets(found=(RECORD, b"data"), open_blob=_no_blob) -> CachedGets:
    return CachedGets(lambda bucket, key, with_data: found if (bucket, key) == ("b", "k") else None,
                      open_blob, StaticKeyring({AK: SK}), time.time, "us-east-1", ("localhost",))


@pytest.mark.parametrize("presign", [False, True])
def test_plain_signed_get_is_answered_with_the_objects_headers(presign):
    answer = _answer(_gets(), _scope("GET", "http://127.0.0.1:9000/b/k", {}, presign=presign))
    assert answer is not None
    headers, body = answer
    assert body == b"data"
    assert (b"ETag", b'"abc"') in headers and (b"x-amz-meta-m", b"v") in headers
    assert (b"Content-Length", b"4") in headers and (b"Content-Type", b"text/plain") in headers


def test_head_has_no_body_and_the_full_length():
    headers, body = _answer(_gets(), _scope("HEAD", "http://127.0.0.1:9000/b/k", {}))
    assert body == b"" and (b"Content-Length", b"4") in headers


def test_virtual_host_style_is_answered():
    assert _answer(_gets(), _scope("GET", "http://b.localhost:9000/k", {})) is not None


@pytest.mark.parametrize(
    "url, headers",
    [
        ("http://127.0.0.1:9000/b/k", {"Range": "bytes=0-1"}),
        ("http://127.0.0.1:9000/b/k", {"If-None-Match": '"abc"'}),
        ("http://127.0.0.1:9000/b/k", {"If-Modified-Since": "Sun, 22 Nov 2026 00:00:00 GMT"}),
        ("http://127.0.0.1:9000/b/k", {"x-amz-expected-bucket-owner": "123"}),
        ("http://127.0.0.1:9000/b/k", {"Origin": "https://example.com"}),
        ("http://127.0.0.1:9000/b/k?versionId=null", {}),
        ("http://127.0.0.1:9000/b/k?partNumber=1", {}),
        ("http://127.0.0.1:9000/b/k?response-content-type=x", {}),
        ("http://127.0.0.1:9000/b/k?x-bayou-transform=f", {}),
        ("http://127.0.0.1:9000/b/k?tagging", {}),
        ("http://127.0.0.1:9000/b/other", {}),  # not cached
        ("http://127.0.0.1:9000/b", {}),  # a bucket, not an object
        ("http://b.localhost:9000/_bayou/fn-url/x", {}),  # Bayou's own endpoints come first
    ],
)
def test_anything_but_a_plain_get_of_a_cached_object_steps_aside(url, headers):
    assert _answer(_gets(), _scope("GET", url, headers)) is None


def test_bad_or_missing_signatures_step_aside():
    gets = _gets()
    assert _answer(gets, _scope("GET", "http://127.0.0.1:9000/b/k", {}, secret="wrong")) is None
    assert _answer(gets, _scope("GET", "http://127.0.0.1:9000/b/k", {}, presign=True, secret="wrong")) is None
    assert _answer(gets, _scope("GET", "http://127.0.0.1:9000/b/k", {}, service="lambda")) is None
    anonymous = {"type": "http", "method": "GET", "path": "/b/k", "raw_path": b"/b/k", "query_string": b"",
                 "headers": [(b"host", b"127.0.0.1:9000")], "client": ("127.0.0.1", 1)}
    assert _answer(gets, anonymous) is None
    sigv2 = dict(anonymous, query_string=b"AWSAccessKeyId=AKIDCACHED&Expires=9999999999&Signature=x")
    assert _answer(gets, sigv2) is None


def test_a_request_with_a_body_steps_aside():
    scope = _scope("GET", "http://127.0.0.1:9000/b/k", {"Content-Length": "3"})
    assert _answer(_gets(), scope) is None


def test_get_of_an_inline_row_without_its_data_steps_aside():
    assert _answer(_gets((RECORD, None)), _scope("GET", "http://127.0.0.1:9000/b/k", {})) is None


FILE_RECORD = dataclasses.replace(RECORD, size=3 * 1024 * 1024 + 5, inline=False, blob_id="blob1")


def _blob_file(tmp_path: Path) -> tuple[Path, bytes]:
    content = os.urandom(FILE_RECORD.size)
    path = tmp_path / "blob1"
    path.write_bytes(content)
    return path, content


def test_get_of_an_object_in_one_blob_file_streams_the_file(tmp_path):
    path, content = _blob_file(tmp_path)
    opened = []

    def open_blob(blob_id: str) -> LocalBlobReader:
        opened.append(blob_id)
        return LocalBlobReader(path)

    headers, body = _answer(_gets((FILE_RECORD, None), open_blob), _scope("GET", "http://127.0.0.1:9000/b/k", {}))
    assert opened == ["blob1"]
    assert not isinstance(body, bytes)

    async def collect() -> list[bytes]:
        return [bytes(chunk.view()) async for chunk in body]

    chunks = asyncio.run(collect())
    assert b"".join(chunks) == content and len(chunks) == 4  # 1 MiB pieces
    assert (b"Content-Length", str(FILE_RECORD.size).encode()) in headers


def test_head_of_an_object_in_a_blob_file_opens_nothing(tmp_path):
    headers, body = _answer(_gets((FILE_RECORD, None)), _scope("HEAD", "http://127.0.0.1:9000/b/k", {}))
    assert body == b"" and (b"Content-Length", str(FILE_RECORD.size).encode()) in headers


def test_multipart_objects_and_collected_blobs_step_aside(tmp_path):
    multipart = dataclasses.replace(FILE_RECORD, parts_count=2)
    assert _answer(_gets((multipart, None)), _scope("GET", "http://127.0.0.1:9000/b/k", {})) is None

    def collected(blob_id: str) -> LocalBlobReader:
        raise FileNotFoundError(blob_id)

    assert _answer(_gets((FILE_RECORD, None), collected), _scope("GET", "http://127.0.0.1:9000/b/k", {})) is None


def test_file_limit_lets_larger_blob_file_objects_step_aside_before_opening_them():
    scope = _scope("GET", "http://127.0.0.1:9000/b/k", {})
    assert _gets((FILE_RECORD, None)).answer(scope, file_limit=FILE_RECORD.size - 1) is None  # _no_blob not called
    assert _gets().answer(scope, file_limit=1) is not None  # inline data is whole already
    assert _gets((FILE_RECORD, None)).answer(_scope("HEAD", "http://127.0.0.1:9000/b/k", {}), file_limit=1) is not None


def test_header_lines_are_the_asgi_headers_as_uvicorn_writes_them():
    gets = _gets()
    hit = gets.answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}))
    expected = b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in gets.headers(hit))
    assert gets.header_lines(hit) == expected
    assert b"etag: \"abc\"\r\n" in expected and b"content-length: 4\r\n" in expected


@pytest.mark.parametrize("metadata", [{"m": "a\x01b"}, {"m": "a\x7f"}, {"bad name": "v"}, {"m(": "v"}])
def test_header_lines_refuse_what_http_cannot_carry(metadata):
    gets = _gets((dataclasses.replace(RECORD, user_metadata=metadata), b"data"))
    hit = gets.answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}))
    assert gets.header_lines(hit) is None
