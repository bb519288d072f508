"""Object API: put/get/head/delete, ranges, overrides, metadata, DeleteObjects, CopyObject,
conditional requests and writes, ETag/Content-MD5 and the flexible checksums."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import os
import threading

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import (
    assert_xml_error,
    checksum_b64,
    crc32_b64,
    err,
    etag_of,
    key_path,
    md5_hex,
    object_exists,
    raw,
    unique_bucket,
    xml_error,
)

pytestmark = pytest.mark.e2e

BODY = bytes(range(100))  # byte i == i: every range is easy to check
ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


@pytest.fixture
def obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=BODY)
    return bucket, "obj"


# ---------------------------------------------------------------- basic CRUD


@pytest.mark.parametrize("size", [0, 1, 4096, 200 * 1024, 3 * 1024 * 1024 + 7])
def test_put_get_head_delete(any_s3, bucket, size):
    body = os.urandom(size)
    put = any_s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ETag"] == etag_of(body)
    got = any_s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == body
    assert got["ContentLength"] == size
    assert got["ETag"] == etag_of(body)
    assert got["LastModified"] is not None
    head = any_s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentLength"] == size and head["ETag"] == etag_of(body)
    assert any_s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        any_s3.get_object(Bucket=bucket, Key="k")
    assert err(ei.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as ei:
        any_s3.head_object(Bucket=bucket, Key="k")
    assert err(ei.value)[1] == 404


def test_overwrite_replaces_whole_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"a" * 1000, Metadata={"old": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"b" * 10)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"b" * 10
    assert got["Metadata"] == {}


def test_delete_is_idempotent(s3, bucket):
    for _ in range(2):
        resp = s3.delete_object(Bucket=bucket, Key="never-existed")
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_get_missing_key_error_body(server, bucket):
    resp = raw(server, "GET", key_path(bucket, "nope/missing"))
    fields = assert_xml_error(resp, 404, "NoSuchKey")
    assert fields.get("Key") in ("nope/missing", None)
    assert resp.headers.get("x-amz-request-id") == fields["RequestId"]


# ---------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-10", 10, 10),
        ("bytes=-5", 95, 99),
        ("bytes=5-", 5, 99),
        ("bytes=90-200", 90, 99),  # clipped to the object
        ("bytes=-500", 0, 99),  # suffix longer than the object
    ],
)
def test_range_get(s3, obj, header, start, end):
    bucket, key = obj
    resp = s3.get_object(Bucket=bucket, Key=key, Range=header)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert resp["ContentRange"] == f"bytes {start}-{end}/100"
    assert resp["ContentLength"] == end - start + 1
    assert resp["Body"].read() == BODY[start : end + 1]
    assert resp["ETag"] == etag_of(BODY)


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=500-600"])
def test_range_not_satisfiable(s3, server, obj, header):
    bucket, key = obj
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key=key, Range=header)
    assert err(ei.value) == ("InvalidRange", 416)
    assert ei.value.response["ResponseMetadata"]["HTTPHeaders"].get("content-range") == "bytes */100"
    resp = raw(server, "GET", key_path(bucket, key), headers={"Range": header})
    assert_xml_error(resp, 416, "InvalidRange")


def test_malformed_range_is_ignored(s3, obj):
    bucket, key = obj
    resp = s3.get_object(Bucket=bucket, Key=key, Range="bytes=abc")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Body"].read() == BODY


def test_range_on_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert err(ei.value) == ("InvalidRange", 416)
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_range_head(s3, obj):
    bucket, key = obj
    resp = s3.head_object(Bucket=bucket, Key=key, Range="bytes=0-3")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert resp["ContentLength"] == 4
    assert resp["ContentRange"] == "bytes 0-3/100"


def test_range_large_object(s3, bucket):
    body = os.urandom(5 * 1024 * 1024 + 3)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    a, b = 1024 * 1024 - 5, 4 * 1024 * 1024 + 11
    resp = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={a}-{b}")
    assert resp["Body"].read() == body[a : b + 1]
    assert resp["ContentRange"] == f"bytes {a}-{b}/{len(body)}"


# ---------------------------------------------------------------- headers and metadata

OVERRIDES = {
    "ResponseContentType": ("content-type", "text/x-override"),
    "ResponseContentDisposition": ("content-disposition", 'attachment; filename="o.bin"'),
    "ResponseContentLanguage": ("content-language", "fr-CA"),
    "ResponseCacheControl": ("cache-control", "no-store"),
    "ResponseContentEncoding": ("content-encoding", "identity"),
    "ResponseExpires": ("expires", "Wed, 21 Oct 2037 07:28:00 GMT"),
}


def test_response_overrides_params(s3, obj):
    bucket, key = obj
    params = {name: value for name, (_, value) in OVERRIDES.items() if name != "ResponseExpires"}
    resp = s3.get_object(Bucket=bucket, Key=key, **params)
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    for name, (header, value) in OVERRIDES.items():
        if name != "ResponseExpires":
            assert headers.get(header) == value, (header, headers)
    assert resp["Body"].read() == BODY


def test_response_overrides_presigned(s3, obj):
    bucket, key = obj
    params = {"Bucket": bucket, "Key": key} | {n: v for n, (_, v) in OVERRIDES.items()}
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    resp = httpx.get(url)
    assert resp.status_code == 200, resp.text
    for header, value in OVERRIDES.values():
        if header == "expires":
            # botocore serialises the timestamp in its own format; compare the instant
            assert _http_date(resp.headers.get(header, "")) == _http_date(value), resp.headers
        else:
            assert resp.headers.get(header) == value, (header, resp.headers)
    assert resp.content == BODY


def _http_date(value: str) -> dt.datetime | None:
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None


def test_user_metadata_round_trip(s3, bucket):
    meta = {"color": "blue", "Mixed-Case": "Value With Spaces", "empty": ""}
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta)
    expected = {k.lower(): v for k, v in meta.items()}
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == expected
    assert s3.get_object(Bucket=bucket, Key="m")["Metadata"] == expected


def test_content_headers_round_trip(any_s3, bucket):
    expires = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    any_s3.put_object(
        Bucket=bucket,
        Key="h",
        Body=b"payload",
        ContentType="application/x-bayou",
        ContentEncoding="gzip",
        ContentDisposition='inline; filename="h.txt"',
        ContentLanguage="de-DE",
        CacheControl="max-age=60",
        Expires=expires,
    )
    for resp in (any_s3.head_object(Bucket=bucket, Key="h"), any_s3.get_object(Bucket=bucket, Key="h")):
        assert resp["ContentType"] == "application/x-bayou"
        # aws-chunked (if the client used it) must be stripped, the user's encoding kept
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'inline; filename="h.txt"'
        assert resp["ContentLanguage"] == "de-DE"
        assert resp["CacheControl"] == "max-age=60"
        assert resp["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Tue, 06 May 2031 07:08:09 GMT"
    assert any_s3.get_object(Bucket=bucket, Key="h")["Body"].read() == b"payload"


def test_content_type_with_parameters(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ct", Body=b"x", ContentType='text/plain; charset="utf-8"; q=1')
    assert s3.head_object(Bucket=bucket, Key="ct")["ContentType"] == 'text/plain; charset="utf-8"; q=1'


def test_default_content_type(server, s3, bucket):
    resp = raw(server, "PUT", key_path(bucket, "noct"), body=b"abc")
    assert resp.status_code == 200, resp.text
    assert s3.head_object(Bucket=bucket, Key="noct")["ContentType"] in (
        "binary/octet-stream",
        "application/octet-stream",
    )


# ---------------------------------------------------------------- DeleteObjects


def test_delete_objects_verbose(any_s3, bucket):
    keys = [f"d/{i}" for i in range(5)]
    for k in keys:
        any_s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    resp = any_s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["d/absent"]], "Quiet": False}
    )
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys + ["d/absent"])
    assert not resp.get("Errors")
    assert any_s3.list_objects_v2(Bucket=bucket, Prefix="d/")["KeyCount"] == 0


def test_delete_objects_quiet(any_s3, bucket):
    keys = [f"q/{i}" for i in range(5)]
    for k in keys:
        any_s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    any_s3.put_object(Bucket=bucket, Key="q/keep", Body=b"x")
    resp = any_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    assert not resp.get("Deleted")
    assert not resp.get("Errors")
    assert [o["Key"] for o in any_s3.list_objects_v2(Bucket=bucket, Prefix="q/")["Contents"]] == ["q/keep"]


def test_delete_objects_with_content_md5_raw(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r1", Body=b"x")
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>r1</Key></Object></Delete>'
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp = raw(server, "POST", f"/{bucket}", query={"delete": ""}, body=body, headers={"Content-MD5": md5})
    assert resp.status_code == 200, resp.text
    assert b"<Key>r1</Key>" in resp.content
    assert not object_exists(s3, bucket, "r1")


def test_delete_objects_with_crc32_instead_of_md5(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r2", Body=b"x")
    body = b"<Delete><Object><Key>r2</Key></Object><Quiet>true</Quiet></Delete>"
    resp = raw(
        server,
        "POST",
        f"/{bucket}",
        query={"delete": ""},
        body=body,
        headers={"x-amz-checksum-crc32": crc32_b64(body), "x-amz-sdk-checksum-algorithm": "CRC32"},
    )
    assert resp.status_code == 200, resp.text
    assert not object_exists(s3, bucket, "r2")


def test_delete_objects_bad_md5(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r3", Body=b"x")
    body = b"<Delete><Object><Key>r3</Key></Object></Delete>"
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = raw(server, "POST", f"/{bucket}", query={"delete": ""}, body=body, headers={"Content-MD5": wrong})
    assert_xml_error(resp, 400, "BadDigest")
    assert object_exists(s3, bucket, "r3")


# ---------------------------------------------------------------- CopyObject


def test_copy_metadata_directive_copy(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"})
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert resp["CopyObjectResult"]["ETag"] == etag_of(b"copy me")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"a": "1"}
    assert head["ContentType"] == "text/plain"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"


def test_copy_metadata_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="application/json",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "application/json"
    # the source is untouched
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"a": "1"}


def test_copy_onto_itself_with_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"} and got["Body"].read() == b"same"


def test_copy_cross_bucket_large(s3, bucket, bucket2):
    body = os.urandom(1024 * 1024 + 5)
    s3.put_object(Bucket=bucket, Key="src/big", Body=body)
    s3.copy_object(Bucket=bucket2, Key="dst/big", CopySource={"Bucket": bucket, "Key": "src/big"})
    assert s3.get_object(Bucket=bucket2, Key="dst/big")["Body"].read() == body
    s3.delete_object(Bucket=bucket, Key="src/big")  # the copy does not share fate with the source
    assert s3.get_object(Bucket=bucket2, Key="dst/big")["Body"].read() == body


def test_copy_source_key_with_dotdot_is_just_a_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/../b", Body=b"dotdot")
    s3.put_object(Bucket=bucket, Key="b", Body=b"plain b")
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "a/../b"})
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"dotdot"


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert err(ei.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": unique_bucket("nob"), "Key": "absent"})
    assert err(ei.value) == ("NoSuchBucket", 404)


def test_copy_source_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"cond")
    etag = etag_of(b"cond")
    src = {"Bucket": bucket, "Key": "src"}
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    failing = [
        {"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfUnmodifiedSince": past},
    ]
    for i, cond in enumerate(failing):
        with pytest.raises(ClientError) as ei:
            s3.copy_object(Bucket=bucket, Key=f"fail{i}", CopySource=src, **cond)
        assert err(ei.value) == ("PreconditionFailed", 412), cond
        assert not object_exists(s3, bucket, f"fail{i}")
    passing = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfModifiedSince": past},
        {"CopySourceIfUnmodifiedSince": future},
    ]
    for i, cond in enumerate(passing):
        s3.copy_object(Bucket=bucket, Key=f"ok{i}", CopySource=src, **cond)
        assert s3.get_object(Bucket=bucket, Key=f"ok{i}")["Body"].read() == b"cond"


# ---------------------------------------------------------------- conditional GET / HEAD


def _cond_status(s3, method, bucket, key, **cond) -> int:
    try:
        resp = getattr(s3, method)(Bucket=bucket, Key=key, **cond)
        return resp["ResponseMetadata"]["HTTPStatusCode"]
    except ClientError as exc:
        return err(exc)[1]


@pytest.mark.parametrize("method", ["get_object", "head_object"])
def test_conditional_get_head(s3, obj, method):
    bucket, key = obj
    etag = etag_of(BODY)
    other = '"0123456789abcdef0123456789abcdef"'
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    cases = [
        ({"IfMatch": etag}, 200),
        ({"IfMatch": other}, 412),
        ({"IfMatch": "*"}, 200),
        ({"IfNoneMatch": etag}, 304),
        ({"IfNoneMatch": "*"}, 304),
        ({"IfNoneMatch": other}, 200),
        ({"IfModifiedSince": past}, 200),
        ({"IfModifiedSince": future}, 304),
        ({"IfUnmodifiedSince": future}, 200),
        ({"IfUnmodifiedSince": past}, 412),
        # AWS: If-Match true wins over If-Unmodified-Since false
        ({"IfMatch": etag, "IfUnmodifiedSince": past}, 200),
        # AWS: If-None-Match false (etag matches) with If-Modified-Since true -> 304
        ({"IfNoneMatch": etag, "IfModifiedSince": past}, 304),
    ]
    results = [(cond, _cond_status(s3, method, bucket, key, **cond)) for cond, _ in cases]
    assert results == [(cond, status) for cond, status in cases]


@pytest.mark.parametrize("method", ["get_object", "head_object"])
def test_conditional_dates_at_exact_last_modified(s3, obj, method):
    # Last-Modified has one-second resolution; a stored sub-second time must not make an object
    # look "modified since" its own Last-Modified.
    bucket, key = obj
    last_modified = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    assert _cond_status(s3, method, bucket, key, IfModifiedSince=last_modified) == 304
    assert _cond_status(s3, method, bucket, key, IfUnmodifiedSince=last_modified) == 200
    earlier = last_modified - dt.timedelta(seconds=1)
    assert _cond_status(s3, method, bucket, key, IfModifiedSince=earlier) == 200
    assert _cond_status(s3, method, bucket, key, IfUnmodifiedSince=earlier) == 412


def test_conditional_get_error_codes(server, obj):
    bucket, key = obj
    resp = raw(
        server, "GET", key_path(bucket, key), headers={"If-Match": '"0123456789abcdef0123456789abcdef"'}
    )
    assert_xml_error(resp, 412, "PreconditionFailed")
    resp = raw(server, "GET", key_path(bucket, key), headers={"If-None-Match": etag_of(BODY)})
    assert resp.status_code == 304
    assert resp.content == b""
    assert resp.headers.get("etag") == etag_of(BODY)


def test_conditions_evaluated_after_authorization(server, obj):
    bucket, key = obj
    url = f"{server.endpoint}{key_path(bucket, key)}"
    resp = httpx.get(url, headers={"If-None-Match": etag_of(BODY)})
    assert_xml_error(resp, 403, "AccessDenied")
    resp = httpx.get(url, headers={"If-Match": '"0123456789abcdef0123456789abcdef"'})
    assert_xml_error(resp, 403, "AccessDenied")


# ---------------------------------------------------------------- conditional PUT


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert err(ei.value) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_put_if_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert err(ei.value) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v1"
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=etag_of(b"v1"))
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v2"


def _conditional_put_race(client, bucket: str, key: str, bodies: list[bytes], **condition: str) -> None:
    """Every body PUT at once under one condition: exactly one wins, whole; the rest get 412 (or 409)."""
    n = len(bodies)
    barrier = threading.Barrier(n)
    outcomes: list[object] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            client.put_object(Bucket=bucket, Key=key, Body=bodies[i], **condition)
            outcomes[i] = 200
        except ClientError as exc:
            outcomes[i] = err(exc)
        except Exception as exc:  # noqa: BLE001 - report anything else as a failure
            outcomes[i] = repr(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, o in enumerate(outcomes) if o == 200]
    assert len(winners) == 1, outcomes
    losers = [o for o in outcomes if o != 200]
    assert all(o in (("PreconditionFailed", 412), ("ConditionalRequestConflict", 409)) for o in losers), (
        outcomes
    )
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winners[0]]


@pytest.mark.parametrize("size", [1000, 300 * 1024])
def test_put_if_none_match_concurrent_exactly_one_wins(server, bucket, size):
    n = 12
    client = server.client(Config(max_pool_connections=n, retries={"max_attempts": 1}))
    _conditional_put_race(client, bucket, "race", [bytes([i]) * size for i in range(n)], IfNoneMatch="*")


@pytest.mark.parametrize("size", [1000, 300 * 1024])
def test_put_if_match_concurrent_exactly_one_wins(server, bucket, size):
    """Compare-and-swap: twelve writers that all read the same ETag; one replaces it, the others see 412."""
    n = 12
    client = server.client(Config(max_pool_connections=n, retries={"max_attempts": 1}))
    client.put_object(Bucket=bucket, Key="cas-race", Body=b"v0")
    bodies = [bytes([i + 1]) * size for i in range(n)]
    _conditional_put_race(client, bucket, "cas-race", bodies, IfMatch=etag_of(b"v0"))


# ---------------------------------------------------------------- integrity


def test_etag_is_md5(s3, bucket):
    for i, body in enumerate([b"", b"hello", os.urandom(150 * 1024), os.urandom(2 * 1024 * 1024)]):
        assert s3.put_object(Bucket=bucket, Key=f"e{i}", Body=body)["ETag"] == etag_of(body)
        assert s3.head_object(Bucket=bucket, Key=f"e{i}")["ETag"] == f'"{md5_hex(body)}"'
    listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed["e1"] == etag_of(b"hello")


def test_content_md5_ok(any_s3, bucket):
    body = b"md5 checked"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    any_s3.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=md5)
    assert any_s3.get_object(Bucket=bucket, Key="ok")["Body"].read() == body


def test_content_md5_mismatch_is_bad_digest(any_s3_once, bucket):
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as ei:
        any_s3_once.put_object(Bucket=bucket, Key="bad", Body=b"md5 checked", ContentMD5=wrong)
    assert err(ei.value) == ("BadDigest", 400)
    assert not object_exists(any_s3_once, bucket, "bad")


@pytest.mark.parametrize("value", ["not-base64!!", base64.b64encode(b"short").decode()])
def test_content_md5_malformed_is_invalid_digest(server, s3, bucket, value):
    resp = raw(server, "PUT", key_path(bucket, "bad"), body=b"md5 checked", headers={"Content-MD5": value})
    assert_xml_error(resp, 400, "InvalidDigest")
    assert not object_exists(s3, bucket, "bad")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_stored_and_returned(server, any_s3, bucket, algorithm):
    body = os.urandom(200 * 1024 + 3)
    expected = checksum_b64(algorithm, body)
    field = f"Checksum{algorithm}"
    put = any_s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    assert put.get(field) == expected
    got = any_s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got.get(field) == expected
    assert got["Body"].read() == body
    assert any_s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED").get(field) == expected
    # Without checksum mode, no checksum header; on a ranged GET, never the whole-object checksum.
    plain = raw(server, "GET", key_path(bucket, "c"))
    assert plain.status_code == 200 and plain.content == body
    assert f"x-amz-checksum-{algorithm.lower()}" not in plain.headers
    with_mode = raw(server, "GET", key_path(bucket, "c"), headers={"x-amz-checksum-mode": "ENABLED"})
    assert with_mode.headers.get(f"x-amz-checksum-{algorithm.lower()}") == expected
    ranged = any_s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED", Range="bytes=0-99")
    assert ranged["Body"].read() == body[:100]
    headers = ranged["ResponseMetadata"]["HTTPHeaders"]
    assert f"x-amz-checksum-{algorithm.lower()}" not in headers


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_explicit_value_ok_and_wrong(s3_wr_once, bucket, algorithm):
    s3_wr = s3_wr_once
    body = b"explicit checksum body"
    field = f"Checksum{algorithm}"
    s3_wr.put_object(Bucket=bucket, Key="x", Body=body, **{field: checksum_b64(algorithm, body)})
    assert s3_wr.head_object(Bucket=bucket, Key="x", ChecksumMode="ENABLED").get(field) == checksum_b64(
        algorithm, body
    )
    with pytest.raises(ClientError) as ei:
        s3_wr.put_object(Bucket=bucket, Key="y", Body=body, **{field: checksum_b64(algorithm, b"other")})
    assert err(ei.value) == ("BadDigest", 400)
    assert not object_exists(s3_wr, bucket, "y")


def test_wrong_crc32_header_raw(server, s3, bucket):
    body = b"raw body with a checksum header"
    ok = raw(
        server, "PUT", key_path(bucket, "ok"), body=body, headers={"x-amz-checksum-crc32": crc32_b64(body)}
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers.get("x-amz-checksum-crc32") == crc32_b64(body)
    bad = raw(
        server,
        "PUT",
        key_path(bucket, "bad"),
        body=body,
        headers={"x-amz-checksum-crc32": crc32_b64(b"nope")},
    )
    assert_xml_error(bad, 400, "BadDigest")
    assert not object_exists(s3, bucket, "bad")
    # a wrong checksum on an overwrite leaves the old object in place
    bad = raw(
        server,
        "PUT",
        key_path(bucket, "ok"),
        body=b"new",
        headers={"x-amz-checksum-crc32": crc32_b64(b"nope")},
    )
    assert_xml_error(bad, 400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key="ok")["Body"].read() == body


def test_malformed_checksum_header(server, s3, bucket):
    resp = raw(
        server, "PUT", key_path(bucket, "m"), body=b"abc", headers={"x-amz-checksum-sha256": "!!notbase64"}
    )
    assert resp.status_code == 400, resp.text
    assert xml_error(resp).get("Code") in ("InvalidRequest", "InvalidArgument", "InvalidDigest", "BadDigest")
    assert not object_exists(s3, bucket, "m")
