"""The cached GET path answers only plain, correctly signed GET/HEADs of cached objects; everything
else is left to the general path (None), which renders the errors and applies the options."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bayou.api.s3.cached_get import CachedGets
from bayou.auth.credentials import StaticKeyring
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


def _gets(found=(RECORD, b"data")) -> CachedGets:
    return CachedGets(lambda bucket, key, with_data: found if (bucket, key) == ("b", "k") else None,
                      StaticKeyring({AK: SK}), time.time, "us-east-1", ("localhost",))


@pytest.mark.parametrize("presign", [False, True])
def test_plain_signed_get_is_answered_with_the_objects_headers(presign):
    answer = _gets().answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}, presign=presign), "RID")
    assert answer is not None
    headers, body = answer
    assert body == b"data"
    assert (b"ETag", b'"abc"') in headers and (b"x-amz-meta-m", b"v") in headers
    assert (b"Content-Length", b"4") in headers and (b"Content-Type", b"text/plain") in headers


def test_head_has_no_body_and_the_full_length():
    headers, body = _gets().answer(_scope("HEAD", "http://127.0.0.1:9000/b/k", {}), "RID")
    assert body == b"" and (b"Content-Length", b"4") in headers


def test_virtual_host_style_is_answered():
    assert _gets().answer(_scope("GET", "http://b.localhost:9000/k", {}), "RID") is not None


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
    assert _gets().answer(_scope("GET", url, headers), "RID") is None


def test_bad_or_missing_signatures_step_aside():
    gets = _gets()
    assert gets.answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}, secret="wrong"), "RID") is None
    assert gets.answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}, presign=True, secret="wrong"), "RID") is None
    assert gets.answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}, service="lambda"), "RID") is None
    anonymous = {"type": "http", "method": "GET", "path": "/b/k", "raw_path": b"/b/k", "query_string": b"",
                 "headers": [(b"host", b"127.0.0.1:9000")], "client": ("127.0.0.1", 1)}
    assert gets.answer(anonymous, "RID") is None
    sigv2 = dict(anonymous, query_string=b"AWSAccessKeyId=AKIDCACHED&Expires=9999999999&Signature=x")
    assert gets.answer(sigv2, "RID") is None


def test_a_request_with_a_body_steps_aside():
    scope = _scope("GET", "http://127.0.0.1:9000/b/k", {"Content-Length": "3"})
    assert _gets().answer(scope, "RID") is None


def test_get_of_a_row_without_inline_data_steps_aside():
    assert _gets((RECORD, None)).answer(_scope("GET", "http://127.0.0.1:9000/b/k", {}), "RID") is None
