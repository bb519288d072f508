"""GETs and HEADs of hot objects answered from the per-process cache must be indistinguishable
from the general path's answers, and every request the cache path cannot judge must still get the
general path's answer (ranges, conditions, overrides, versions, bad or missing signatures)."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.config import Config

from .helpers import raw, unique_bucket

pytestmark = pytest.mark.e2e

VOLATILE = {"x-amz-request-id", "x-amz-id-2", "date"}


def _stable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VOLATILE}
    return response.status_code, headers, response.content


def _drop_caches(s3, bucket: str) -> None:
    """Any write drops every process's object cache: the next GET takes the general path."""
    s3.put_object(Bucket=bucket, Key="unrelated", Body=b"")


@pytest.fixture(scope="module")
def v4(server):
    """Presigns with SigV4 (boto3's default presigner for S3 is SigV2, which the cache path leaves alone)."""
    return server.client(Config(signature_version="s3v4"))


@pytest.fixture(scope="module", params=["s3v4", "sigv2"])
def presigner(request, v4, s3):
    return v4 if request.param == "s3v4" else s3


@pytest.fixture(scope="module")
def bucket(s3):
    name = unique_bucket("hot")
    s3.create_bucket(Bucket=name)
    body = b"hot object " * 300
    s3.put_object(
        Bucket=name, Key="plain", Body=body, ContentType="text/plain", Metadata={"owner": "data-team"},
        CacheControl="max-age=60", ContentDisposition="inline", StorageClass="STANDARD_IA",
        Tagging="a=1&b=2", ChecksumAlgorithm="SHA256",
    )
    s3.put_object(Bucket=name, Key="dir/ünïcode key+%", Body=b"x" * 10)
    # Above the inline limit (128 KiB): stored as a blob file, streamed from it by both paths.
    s3.put_object(Bucket=name, Key="big", Body=BIG, ContentType="application/octet-stream", Metadata={"m": "1"})
    return name


BIG = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: two pieces of the 1 MiB stream


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("key", ["plain", "dir/ünïcode key+%", "big"])
def test_presigned_repeat_is_identical(s3, presigner, bucket, method, key):
    _drop_caches(s3, bucket)
    op = "get_object" if method == "GET" else "head_object"
    url = presigner.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    answers = [_stable(httpx.request(method, url)) for _ in range(3)]
    assert answers[0][0] == 200
    assert answers[1] == answers[0] and answers[2] == answers[0]
    assert "x-amz-request-id" in httpx.request(method, url).headers


def test_header_signed_repeat_with_checksum_mode_is_identical(s3, server, bucket):
    _drop_caches(s3, bucket)
    answers = [
        _stable(raw(server, "GET", f"/{bucket}/plain", headers={"x-amz-checksum-mode": "ENABLED"}))
        for _ in range(3)
    ]
    assert answers[0][0] == 200 and answers[0][1]["x-amz-checksum-sha256"]
    assert answers[1] == answers[0] and answers[2] == answers[0]
    plain = [_stable(raw(server, "GET", f"/{bucket}/plain")) for _ in range(2)]
    assert "x-amz-checksum-sha256" not in plain[0][1] and plain[1] == plain[0]


def test_boto3_reads_hot_object_with_its_metadata(s3, s3_wr, bucket):
    for client in (s3, s3_wr, s3, s3_wr):
        got = client.get_object(Bucket=bucket, Key="plain")
        assert got["Body"].read() == b"hot object " * 300
        assert got["Metadata"] == {"owner": "data-team"}
        assert got["ContentType"] == "text/plain" and got["CacheControl"] == "max-age=60"
        assert got["StorageClass"] == "STANDARD_IA" and got["TagCount"] == 2


def test_options_and_conditions_still_apply_to_hot_objects(v4, bucket):
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"}, ExpiresIn=600)
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert httpx.get(url, headers={"Range": "bytes=0-2"}).status_code == 206
    assert httpx.get(url, headers={"Range": "bytes=0-2"}).content == b"hot"
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Match": '"nope"'}).status_code == 412
    override = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "plain", "ResponseContentType": "image/png"}, ExpiresIn=600
    )
    assert httpx.get(override).headers["content-type"] == "image/png"
    assert httpx.get(url).headers["content-type"] == "text/plain"


def test_bad_expired_or_missing_signatures_are_refused_for_hot_objects(v4, server, bucket):
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"}, ExpiresIn=600)
    assert httpx.get(url).status_code == 200  # control, and now it is cached
    assert httpx.get(url).status_code == 200
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert tampered != url
    denied = httpx.get(tampered)
    assert denied.status_code == 403 and b"SignatureDoesNotMatch" in denied.content
    anonymous = httpx.get(f"{server.endpoint}/{bucket}/plain")
    assert anonymous.status_code == 403 and b"AccessDenied" in anonymous.content
    expired = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"}, ExpiresIn=1)
    time.sleep(2.1)
    gone = httpx.get(expired)
    assert gone.status_code == 403 and b"Request has expired" in gone.content
    forged = raw(server, "GET", f"/{bucket}/plain", secret_key="not-the-secret")
    assert forged.status_code == 403 and b"SignatureDoesNotMatch" in forged.content
    other_region = raw(server, "GET", f"/{bucket}/plain", region="eu-west-1")
    assert other_region.status_code == 400


def test_overwrite_and_delete_are_seen_at_once(s3, v4, bucket):
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "flip"}, ExpiresIn=600)
    for i in range(5):
        body = f"version {i}".encode()
        s3.put_object(Bucket=bucket, Key="flip", Body=body)
        assert httpx.get(url).content == body and httpx.get(url).content == body
        assert httpx.get(url).headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    s3.delete_object(Bucket=bucket, Key="flip")
    assert httpx.get(url).status_code == 404


def test_blob_file_objects_overwritten_and_deleted_are_seen_at_once(s3, v4, bucket):
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "bigflip"}, ExpiresIn=600)
    for i in range(4):
        body = bytes([i]) * (300 * 1024) + b"end"
        s3.put_object(Bucket=bucket, Key="bigflip", Body=body)
        for _ in range(3):
            got = httpx.get(url)
            assert got.status_code == 200 and got.content == body
            assert got.headers["content-length"] == str(len(body))
    s3.delete_object(Bucket=bucket, Key="bigflip")
    assert httpx.get(url).status_code == 404


def test_boto3_reads_a_hot_blob_file_object_whole_and_in_ranges(s3, bucket):
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == BIG
    assert s3.get_object(Bucket=bucket, Key="big", Range="bytes=1048570-")["Body"].read() == BIG[1048570:]


def test_versioned_hot_object_reports_its_version(s3, s3_path):
    name = unique_bucket("hotv")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=name, Key="k", Body=b"two")["VersionId"]
    for _ in range(3):
        got = s3.get_object(Bucket=name, Key="k")
        assert got["VersionId"] == second and got["Body"].read() == b"two"
        old = s3.get_object(Bucket=name, Key="k", VersionId=first)
        assert old["VersionId"] == first and old["Body"].read() == b"one"


def _exchange(server, payload: bytes, responses: int) -> list[bytes]:
    """Send `payload` (one or more requests) on one connection; read `responses` whole responses."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        out: list[bytes] = []
        while len(out) < responses:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                head = data[: end + 4]
                length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)", head).group(1))
                has_body = not out_is_head(payload, len(out))
                total = end + 4 + (length if has_body else 0)
                if len(data) >= total:
                    out.append(data[:total])
                    data = data[total:]
                    continue
            chunk = sock.recv(1 << 20)
            assert chunk, "connection closed early"
            data += chunk
        return out


def out_is_head(payload: bytes, index: int) -> bool:
    return payload.split(b"\r\n\r\n")[index].startswith(b"HEAD ")


def _mask(response: bytes) -> bytes:
    """The response with the values that differ per request (Date, request ids) blanked."""
    return re.sub(rb"(?im)^(date|x-amz-request-id|x-amz-id-2): .*$", rb"\1: -", response)


def _request(method: str, url: str, extra: str = "") -> bytes:
    parts = urlsplit(url)
    return f"{method} {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("key", ["plain", "exact-mib"])
def test_the_immediate_lane_writes_the_same_bytes_as_the_asgi_path(server, s3, v4, bucket, method, key):
    """A request pipelined behind an unfinished (ranged) response runs as an ASGI task; the same
    request alone on a connection is answered by the immediate lane. Byte for byte the same."""
    s3.put_object(Bucket=bucket, Key="exact-mib", Body=MIB)
    op = "get_object" if method == "GET" else "head_object"
    url = v4.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    ranged = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    _exchange(server, _request(method, url), 1)  # caches the object in whichever worker answers
    lane = [_exchange(server, _request(method, url), 1)[0] for _ in range(3)]
    behind = _exchange(server, _request("GET", ranged, "Range: bytes=0-0\r\n") + _request(method, url), 2)
    assert behind[0].startswith(b"HTTP/1.1 206")
    assert lane[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert all(_mask(answer) == _mask(behind[1]) for answer in lane)
    if method == "GET":
        assert lane[0].endswith(b"hot object " * 300 if key == "plain" else MIB)


MIB = bytes(range(256)) * 4096  # exactly 1 MiB: a blob file sent whole (sendfile) by the lane
