"""Authentication: presigned URLs, header SigV4 failures, clock skew, payload hashes and aws-chunked bodies.

Every negative case has a positive control through the same helper, so a broken signer in the test
cannot make a rejection look right.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import time
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import (
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    assert_xml_error,
    aws_chunked_signed,
    aws_chunked_unsigned_trailer,
    crc32_b64,
    err,
    frozen_now,
    key_path,
    object_exists,
    raw,
    sign,
    utcnow,
    xml_error,
)

pytestmark = pytest.mark.e2e


def _tamper_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    q = [(k, value if k == name else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(q)))


def _flip(sig: str) -> str:
    return ("0" if sig[0] != "0" else "1") + sig[1:]


# ---------------------------------------------------------------- presigned URLs
# boto3's default generate_presigned_url still signs with SigV2 (AWSAccessKeyId/Signature/Expires);
# with signature_version="s3v4" it signs with SigV4 (X-Amz-*). Both are what unmodified clients send.


@pytest.fixture(scope="module")
def s3v4(server):
    return server.client(Config(signature_version="s3v4"))


@pytest.fixture(scope="module", params=["boto3-default", "s3v4"])
def presigner(request, s3, s3v4):
    return s3 if request.param == "boto3-default" else s3v4


def _sig_param(url: str) -> str:
    q = dict(parse_qsl(urlsplit(url).query))
    return "X-Amz-Signature" if "X-Amz-Signature" in q else "Signature"


def test_default_presign_is_what_we_think(s3, s3v4, bucket):
    # guards the parametrisation below: one SigV2 and one SigV4 presigner
    assert "Signature=" in s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert "X-Amz-Signature=" in s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}
    )


def test_presigned_get_plain_http(presigner, bucket):
    presigner.put_object(Bucket=bucket, Key="p/obj", Body=b"presigned body")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p/obj"}, ExpiresIn=300
    )
    with urllib.request.urlopen(url) as resp:  # a plain stdlib client
        assert resp.status == 200
        assert resp.read() == b"presigned body"
    resp = httpx.get(url)
    assert resp.status_code == 200 and resp.content == b"presigned body"


def test_presigned_head(presigner, bucket):
    presigner.put_object(Bucket=bucket, Key="h", Body=b"12345")
    url = presigner.generate_presigned_url(
        "head_object", Params={"Bucket": bucket, "Key": "h"}, ExpiresIn=300
    )
    resp = httpx.head(url)
    assert resp.status_code == 200 and resp.headers["content-length"] == "5"


def test_presigned_put_plain_http(presigner, bucket):
    body = os.urandom(300 * 1024)
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300
    )
    resp = httpx.put(url, content=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert presigner.get_object(Bucket=bucket, Key="up")["Body"].read() == body


def test_presigned_put_signed_content_type_enforced(presigner, bucket):
    params = {"Bucket": bucket, "Key": "ct", "ContentType": "text/plain"}
    url = presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=300)
    resp = httpx.put(url, content=b"x", headers={"Content-Type": "application/evil"})
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert not object_exists(presigner, bucket, "ct")
    resp = httpx.put(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200, resp.text
    assert presigner.head_object(Bucket=bucket, Key="ct")["ContentType"] == "text/plain"


def test_presigned_tampered(presigner, bucket):
    presigner.put_object(Bucket=bucket, Key="t", Body=b"x")
    presigner.put_object(Bucket=bucket, Key="u", Body=b"y")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "t"}, ExpiresIn=300)
    name = _sig_param(url)
    sig = dict(parse_qsl(urlsplit(url).query))[name]
    assert_xml_error(httpx.get(_tamper_query(url, name, _flip(sig))), 403, "SignatureDoesNotMatch")
    expires = "X-Amz-Expires" if name == "X-Amz-Signature" else "Expires"
    longer = str(int(dict(parse_qsl(urlsplit(url).query))[expires]) + 1)
    assert_xml_error(httpx.get(_tamper_query(url, expires, longer)), 403, "SignatureDoesNotMatch")
    assert_xml_error(httpx.get(url.replace(f"/{bucket}/t?", f"/{bucket}/u?")), 403, "SignatureDoesNotMatch")
    assert httpx.get(url).status_code == 200  # control


def test_presigned_put_tampered_does_not_store(presigner, bucket):
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "tp"}, ExpiresIn=300
    )
    name = _sig_param(url)
    sig = dict(parse_qsl(urlsplit(url).query))[name]
    assert_xml_error(
        httpx.put(_tamper_query(url, name, _flip(sig)), content=b"x"), 403, "SignatureDoesNotMatch"
    )
    assert not object_exists(presigner, bucket, "tp")


def test_presigned_v2_expired(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=-60)
    assert "Expires=" in url
    assert_xml_error(httpx.get(url), 403, "AccessDenied")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "e2"}, ExpiresIn=-60)
    assert_xml_error(httpx.put(put_url, content=b"x"), 403, "AccessDenied")
    assert not object_exists(s3, bucket, "e2")


def test_presigned_v4_expired(s3v4, bucket):
    s3v4.put_object(Bucket=bucket, Key="e", Body=b"x")
    with frozen_now(utcnow() - dt.timedelta(hours=2)):
        url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=3600)
    assert_xml_error(httpx.get(url), 403, "AccessDenied")
    with frozen_now(utcnow() - dt.timedelta(hours=2)):
        put_url = s3v4.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "e2"}, ExpiresIn=3600
        )
    assert_xml_error(httpx.put(put_url, content=b"x"), 403, "AccessDenied")
    assert not object_exists(s3v4, bucket, "e2")


def test_presigned_v4_old_but_unexpired_is_valid(s3v4, bucket):
    # Presigned URLs are bound by X-Amz-Expires, not by the 15-minute skew window.
    s3v4.put_object(Bucket=bucket, Key="old", Body=b"still good")
    with frozen_now(utcnow() - dt.timedelta(hours=1)):
        url = s3v4.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "old"}, ExpiresIn=7200
        )
    resp = httpx.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"still good"


def test_presigned_v4_signed_in_the_future(s3v4, bucket):
    s3v4.put_object(Bucket=bucket, Key="fut", Body=b"x")
    with frozen_now(utcnow() + dt.timedelta(hours=1)):
        url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "fut"}, ExpiresIn=60)
    resp = httpx.get(url)
    assert resp.status_code == 403, resp.text


def test_presigned_v4_expires_over_a_week(s3v4, bucket):
    s3v4.put_object(Bucket=bucket, Key="w", Body=b"x")
    ok = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w"}, ExpiresIn=604800)
    assert httpx.get(ok).status_code == 200
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w"}, ExpiresIn=604801)
    assert "X-Amz-Expires=604801" in url
    assert_xml_error(httpx.get(url), 400, "AuthorizationQueryParametersError")


def test_presigned_v4_wrong_region(server, s3, bucket):
    other = server.client(Config(signature_version="s3v4"), region="eu-west-1")
    s3.put_object(Bucket=bucket, Key="r", Body=b"x")
    url = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r"}, ExpiresIn=300)
    assert "eu-west-1" in url
    resp = httpx.get(url)
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert "'eu-west-1' is wrong; expecting 'us-east-1'" in resp.text


@pytest.mark.parametrize(
    "drop", ["X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm"]
)
def test_presigned_v4_missing_parameter(s3v4, bucket, drop):
    s3v4.put_object(Bucket=bucket, Key="m", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "m"}, ExpiresIn=300)
    parts = urlsplit(url)
    q = [(k, v) for k, v in parse_qsl(parts.query) if k != drop]
    resp = httpx.get(urlunsplit(parts._replace(query=urlencode(q))))
    assert resp.status_code in (400, 403), resp.text
    assert_xml_error(resp, resp.status_code, ("AuthorizationQueryParametersError", "AccessDenied"))


@pytest.mark.parametrize("drop", ["AWSAccessKeyId", "Expires"])
def test_presigned_v2_missing_parameter(s3, bucket, drop):
    s3.put_object(Bucket=bucket, Key="m", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "m"}, ExpiresIn=300)
    parts = urlsplit(url)
    q = [(k, v) for k, v in parse_qsl(parts.query) if k != drop]
    resp = httpx.get(urlunsplit(parts._replace(query=urlencode(q))))
    assert resp.status_code in (400, 403), resp.text
    xml_error(resp)


def test_header_sigv2_refused(server, bucket):
    # Header SigV2 is not a form current clients send: it fails closed.
    resp = raw(
        server,
        "GET",
        f"/{bucket}",
        signed=False,
        headers={"Authorization": f"AWS {server.access_key}:c2lnbmF0dXJl"},
    )
    assert resp.status_code in (400, 403), resp.text
    xml_error(resp)


# ---------------------------------------------------------------- header auth failures


def test_wrong_secret_key(server, bucket):
    client = server.client(secret_key="definitely-not-the-secret")
    with pytest.raises(ClientError) as ei:
        client.list_objects_v2(Bucket=bucket)
    assert err(ei.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as ei:
        client.put_object(Bucket=bucket, Key="ws", Body=b"x")
    assert err(ei.value) == ("SignatureDoesNotMatch", 403)
    assert not object_exists(server.client(), bucket, "ws")


def test_unknown_access_key(server, bucket):
    client = server.client(access_key="AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(ClientError) as ei:
        client.list_buckets()
    assert err(ei.value) == ("InvalidAccessKeyId", 403)


def test_anonymous_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="anon", Body=b"secret")
    for method, path in [
        ("GET", "/"),
        ("GET", f"/{bucket}"),
        ("GET", f"/{bucket}/anon"),
        ("HEAD", f"/{bucket}/anon"),
    ]:
        resp = raw(server, method, path, signed=False)
        assert resp.status_code == 403, (method, path, resp.status_code)
        if method != "HEAD":
            assert_xml_error(resp, 403, "AccessDenied")
    resp = raw(server, "PUT", f"/{bucket}/anon-put", body=b"x", signed=False)
    assert_xml_error(resp, 403, "AccessDenied")
    assert not object_exists(s3, bucket, "anon-put")
    resp = raw(server, "PUT", f"/{bucket}-anon", signed=False)
    assert_xml_error(resp, 403, "AccessDenied")


@pytest.mark.parametrize(
    "header", ["AWS4-HMAC-SHA256 garbage", "AWS AKIA:c2lnbmF0dXJl", "Bearer abc", "AWS4-HMAC-SHA256"]
)
def test_unknown_or_malformed_auth_fails_closed(server, bucket, header):
    resp = raw(server, "GET", f"/{bucket}", signed=False, headers={"Authorization": header})
    assert resp.status_code in (400, 403), (header, resp.status_code)
    xml_fields = assert_xml_error(
        resp,
        resp.status_code,
        (
            "AccessDenied",
            "AuthorizationHeaderMalformed",
            "InvalidArgument",
            "SignatureDoesNotMatch",
            "InvalidRequest",
        ),
    )
    assert xml_fields["Code"]


def test_tampered_header_signature(server, bucket):
    url = f"{server.endpoint}/{bucket}"
    headers = sign(server, "GET", url)
    assert httpx.get(url, headers=headers).status_code == 200  # control
    headers["Authorization"] = headers["Authorization"][:-1] + (
        "0" if headers["Authorization"][-1] != "0" else "1"
    )
    assert_xml_error(httpx.get(url, headers=headers), 403, "SignatureDoesNotMatch")


def test_signed_header_changed_after_signing(server, s3, bucket):
    url = f"{server.endpoint}{key_path(bucket, 'sh')}"
    headers = sign(server, "PUT", url, {"x-amz-meta-a": "1"}, b"body")
    assert_xml_error(
        httpx.put(url, headers=headers | {"x-amz-meta-a": "2"}, content=b"body"), 403, "SignatureDoesNotMatch"
    )
    assert not object_exists(s3, bucket, "sh")
    assert httpx.put(url, headers=headers, content=b"body").status_code == 200


def test_header_auth_wrong_region(server, bucket):
    resp = raw(server, "GET", f"/{bucket}", region="eu-west-1")
    assert resp.status_code in (400, 403), resp.status_code
    assert_xml_error(resp, resp.status_code, ("AuthorizationHeaderMalformed", "SignatureDoesNotMatch"))


@pytest.mark.parametrize("minutes", [-20, 20, -60 * 24])
def test_request_time_too_skewed(server, s3, bucket, minutes):
    when = utcnow() + dt.timedelta(minutes=minutes)
    resp = raw(server, "GET", f"/{bucket}", when=when)
    assert_xml_error(resp, 403, "RequestTimeTooSkewed")
    resp = raw(server, "PUT", key_path(bucket, "skew"), body=b"x", when=when)
    assert_xml_error(resp, 403, "RequestTimeTooSkewed")
    assert not object_exists(s3, bucket, "skew")


@pytest.mark.parametrize("minutes", [-10, 10])
def test_small_skew_accepted(server, bucket, minutes):
    resp = raw(server, "GET", f"/{bucket}", when=utcnow() + dt.timedelta(minutes=minutes))
    assert resp.status_code == 200, resp.text


# ---------------------------------------------------------------- payload hashes


def test_signed_payload_ok_and_unsigned_payload_ok(server, s3, bucket):
    resp = raw(server, "PUT", key_path(bucket, "signed"), body=b"signed body")
    assert resp.status_code == 200, resp.text
    resp = raw(
        server, "PUT", key_path(bucket, "unsigned"), body=b"unsigned body", payload_hash=UNSIGNED_PAYLOAD
    )
    assert resp.status_code == 200, resp.text
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"signed body"
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"unsigned body"


@pytest.mark.parametrize("size", [10, 300 * 1024])
def test_content_sha256_mismatch(server, s3, bucket, size):
    body = os.urandom(size)
    lie = hashlib.sha256(b"not the body").hexdigest()
    resp = raw(server, "PUT", key_path(bucket, "mismatch"), body=body, payload_hash=lie)
    assert_xml_error(resp, 400, "XAmzContentSHA256Mismatch")
    assert not object_exists(s3, bucket, "mismatch")


def test_content_sha256_malformed(server, s3, bucket):
    resp = raw(server, "PUT", key_path(bucket, "badhash"), body=b"x", payload_hash="not-a-hash")
    assert resp.status_code in (400, 403), resp.status_code
    assert_xml_error(
        resp,
        resp.status_code,
        ("InvalidArgument", "XAmzContentSHA256Mismatch", "InvalidRequest", "SignatureDoesNotMatch"),
    )
    assert not object_exists(s3, bucket, "badhash")


# ---------------------------------------------------------------- aws-chunked bodies


@pytest.mark.parametrize(
    ("size", "chunk"), [(0, 65536), (1000, 65536), (200 * 1024 + 17, 65536), (100_000, 8192)]
)
def test_streaming_signed_payload_ok(server, s3, bucket, size, chunk):
    payload = os.urandom(size)
    resp = aws_chunked_signed(server, key_path(bucket, "chunked"), payload, chunk_size=chunk)
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == payload
    assert got["ContentLength"] == size
    assert got["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert "aws-chunked" not in got.get("ContentEncoding", "")


def test_streaming_keeps_other_content_encoding(server, s3, bucket):
    payload = b"gzipped, pretend"
    resp = aws_chunked_signed(
        server, key_path(bucket, "enc"), payload, extra_headers={"Content-Encoding": "aws-chunked,gzip"}
    )
    assert resp.status_code == 200, resp.text
    head = s3.head_object(Bucket=bucket, Key="enc")
    assert head["ContentEncoding"] == "gzip"


@pytest.mark.parametrize("corrupt", [0, 2, "final"])
def test_streaming_bad_chunk_signature(server, s3, bucket, corrupt):
    payload = os.urandom(3 * 64 * 1024 + 5)  # 4 data chunks + the final empty chunk
    index = 4 if corrupt == "final" else corrupt
    resp = aws_chunked_signed(server, key_path(bucket, f"badchunk{corrupt}"), payload, corrupt_chunk=index)
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert not object_exists(s3, bucket, f"badchunk{corrupt}")


def test_streaming_bad_chunk_signature_does_not_replace(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    resp = aws_chunked_signed(server, key_path(bucket, "keep"), os.urandom(100_000), corrupt_chunk=1)
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"original"


def test_streaming_signed_trailer(server, s3, bucket):
    payload = os.urandom(150 * 1024)
    good = ("x-amz-checksum-crc32", crc32_b64(payload))
    resp = aws_chunked_signed(server, key_path(bucket, "st"), payload, trailer=good)
    assert resp.status_code == 200, resp.text
    assert s3.get_object(Bucket=bucket, Key="st")["Body"].read() == payload
    got = s3.head_object(Bucket=bucket, Key="st", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32") == good[1]
    # wrong checksum in a correctly signed trailer
    bad = ("x-amz-checksum-crc32", crc32_b64(b"other"))
    resp = aws_chunked_signed(server, key_path(bucket, "st-bad"), payload, trailer=bad)
    assert_xml_error(resp, 400, "BadDigest")
    assert not object_exists(s3, bucket, "st-bad")
    # right checksum, tampered trailer signature
    resp = aws_chunked_signed(
        server, key_path(bucket, "st-sig"), payload, trailer=good, corrupt_trailer_sig=True
    )
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert not object_exists(s3, bucket, "st-sig")


@pytest.mark.parametrize("http_chunked", [False, True], ids=["content-length", "transfer-chunked"])
def test_streaming_unsigned_trailer(server, s3, bucket, http_chunked):
    payload = os.urandom(200 * 1024 + 1)
    good = ("x-amz-checksum-crc32", crc32_b64(payload))
    resp = aws_chunked_unsigned_trailer(
        server, key_path(bucket, "ut"), payload, good, http_chunked=http_chunked
    )
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="ut", ChecksumMode="ENABLED")
    assert got["Body"].read() == payload
    assert got.get("ChecksumCRC32") == good[1]
    assert "aws-chunked" not in got.get("ContentEncoding", "")
    bad = ("x-amz-checksum-crc32", crc32_b64(payload + b"!"))
    resp = aws_chunked_unsigned_trailer(
        server, key_path(bucket, "ut-bad"), payload, bad, http_chunked=http_chunked
    )
    assert_xml_error(resp, 400, "BadDigest")
    assert not object_exists(s3, bucket, "ut-bad")


def test_streaming_unsigned_trailer_sha256(server, s3, bucket):
    import base64

    payload = os.urandom(70_000)
    value = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    resp = aws_chunked_unsigned_trailer(
        server, key_path(bucket, "sha"), payload, ("x-amz-checksum-sha256", value)
    )
    assert resp.status_code == 200, resp.text
    assert s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED").get("ChecksumSHA256") == value


def test_streaming_decoded_length_mismatch(server, s3, bucket):
    payload = os.urandom(5000)
    url = f"{server.endpoint}{key_path(bucket, 'dl')}"
    body = (
        f"{len(payload):x}\r\n".encode()
        + payload
        + b"\r\n0\r\n"
        + f"x-amz-checksum-crc32:{crc32_b64(payload)}\r\n\r\n".encode()
    )
    hdrs = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(payload) + 10),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    }
    headers = sign(server, "PUT", url, hdrs, payload_hash=STREAMING_UNSIGNED_TRAILER)
    resp = httpx.put(url, headers=headers, content=body)
    assert_xml_error(resp, 400, "IncompleteBody")
    assert not object_exists(s3, bucket, "dl")


# ---------------------------------------------------------------- truncated bodies


def _socket_put(
    server, path: str, body: bytes, *, cut_at: int | None = None, payload_hash: str = UNSIGNED_PAYLOAD,
    chunked: bool = False, content_length: int | None = None,
) -> bytes:
    """Send a PUT by hand (Content-Length, or one HTTP chunk); with `cut_at`, only that many bytes
    of the framed body go, then a half-close, and whatever answer comes is returned."""
    url = f"{server.endpoint}{path}"
    declared = len(body) if content_length is None else content_length
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(declared)}
    wire = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if chunked else body
    headers = sign(server, "PUT", url, framing, payload_hash=payload_hash)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if "host" not in {k.lower() for k in headers}:
        head += f"Host: {server.address}\r\n"
    head += "Connection: close\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + wire[:cut_at])
        if cut_at is not None:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while data := sock.recv(65536):
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def _reply_code(reply: bytes) -> tuple[int, str | None]:
    """Status and S3 error code of a raw HTTP reply."""
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, ET.fromstring(body).findtext("Code") if body.startswith(b"<?xml") else None


@pytest.mark.parametrize(
    "payload_hash, chunked", [("unsigned", False), ("signed", False), ("unsigned", True)],
    ids=["unsigned", "signed", "unsigned-http-chunked"],
)
def test_truncated_body_is_incomplete_body_and_not_stored(server, s3, bucket, payload_hash, chunked):
    """The client sends part of what it announced and half-closes: it is told IncompleteBody."""
    full = os.urandom(200_000)
    ph = UNSIGNED_PAYLOAD if payload_hash == "unsigned" else hashlib.sha256(full).hexdigest()
    key = f"trunc-{payload_hash}-{chunked}"
    path = key_path(bucket, key)
    reply = _socket_put(server, path, full, cut_at=120_000, payload_hash=ph, chunked=chunked)
    assert _reply_code(reply) == (400, "IncompleteBody"), reply[:400]
    assert b"connection: close" in reply.lower()
    assert not object_exists(s3, bucket, key)
    # control: the same request with the whole body is stored
    reply = _socket_put(server, path, full, payload_hash=ph, chunked=chunked)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == full


def test_put_over_5_gib_is_entity_too_large_before_any_byte_is_read(server, s3, bucket):
    """Content-Length 5 GiB + 1 and no body: refused from the headers alone (no wait for the body)."""
    started = time.monotonic()
    reply = _socket_put(server, key_path(bucket, "huge"), b"", content_length=5 * 1024**3 + 1)
    assert _reply_code(reply) == (400, "EntityTooLarge"), reply[:400]
    assert time.monotonic() - started < 5
    assert not object_exists(s3, bucket, "huge")


def test_truncated_body_does_not_replace(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="trunc-keep", Body=b"original")
    reply = _socket_put(server, key_path(bucket, "trunc-keep"), os.urandom(50_000), cut_at=10_000)
    assert _reply_code(reply) == (400, "IncompleteBody"), reply[:400]
    assert s3.get_object(Bucket=bucket, Key="trunc-keep")["Body"].read() == b"original"


# ---------------------------------------------------------------- error bodies


def test_error_bodies_are_s3_xml(server, bucket):
    cases = [
        raw(server, "GET", f"/{bucket}/missing-key"),
        raw(server, "GET", "/no-such-bucket-for-errors/x"),
        raw(server, "GET", f"/{bucket}", signed=False),
        raw(server, "GET", f"/{bucket}", secret_key="wrong"),
        raw(server, "GET", f"/{bucket}", access_key="UNKNOWNKEY"),
    ]
    expected = [
        (404, "NoSuchKey"),
        (404, "NoSuchBucket"),
        (403, "AccessDenied"),
        (403, "SignatureDoesNotMatch"),
        (403, "InvalidAccessKeyId"),
    ]
    for resp, (status, code) in zip(cases, expected, strict=True):
        fields = assert_xml_error(resp, status, code)
        assert resp.headers.get("content-type", "").startswith(("application/xml", "text/xml")), resp.headers
        assert fields.get("RequestId")
        assert resp.headers.get("x-amz-request-id") == fields["RequestId"]
    assert xml_error(cases[0])["Resource"]
    assert xml_error(cases[1])["Resource"]
