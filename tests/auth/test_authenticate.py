"""The authentication decision: AWS examples, botocore-signed requests, and every error path."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import time
import zlib
from base64 import b64encode
from pathlib import Path

import pytest
from auth_helpers import AK, NOW, SK, botocore_sign, head_from_botocore

from bayou.auth.authenticate import AuthContext, PayloadMode, authenticate, needs_body_sha256
from bayou.auth.credentials import StaticKeyring
from bayou.auth.request import RequestHead
from bayou.auth.sigv4 import EMPTY_SHA256
from bayou.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BayouError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from bayou.errors import NotImplemented as S3NotImplemented

KEYRING = StaticKeyring({AK: SK})
CREDENTIAL = f"{AK}/20130524/us-east-1/s3/aws4_request"
HOST = "examplebucket.s3.amazonaws.com"


def auth(head: RequestHead, now: float = NOW, *, body_sha256: str | None = None) -> AuthContext:
    return authenticate(head, KEYRING, now, "us-east-1", body_sha256=body_sha256)


def with_headers(head: RequestHead, **changes: str | None) -> RequestHead:
    headers = dict(head.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return dataclasses.replace(head, headers=headers)


def raises(
    error: type[BayouError],
    head: RequestHead,
    match: str | None = None,
    now: float = NOW,
    body_sha256: str | None = None,
) -> BayouError:
    with pytest.raises(error, match=match) as info:
        auth(head, now, body_sha256=body_sha256)
    return info.value


# --- AWS published examples -------------------------------------------------------------------

GET_EXAMPLE = RequestHead(
    "GET",
    "/test.txt",
    "",
    {
        "host": HOST,
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "authorization": f"AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders=host;range;"
        "x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    },
)

PRESIGNED_EXAMPLE = RequestHead(
    "GET",
    "/test.txt",
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
    "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    {"host": HOST},
)


def test_aws_get_object_example() -> None:
    ctx = auth(GET_EXAMPLE)
    assert ctx == AuthContext(AK, "s3", PayloadMode("sha256", EMPTY_SHA256))


def test_aws_get_object_example_with_spaces_after_commas() -> None:
    value = GET_EXAMPLE.headers["authorization"].replace(",", ", ")
    assert auth(with_headers(GET_EXAMPLE, authorization=value)).access_key == AK


def test_aws_presigned_example() -> None:
    ctx = auth(PRESIGNED_EXAMPLE, NOW + 3600)
    assert ctx == AuthContext(AK, "s3", PayloadMode("unsigned"))
    assert auth(PRESIGNED_EXAMPLE, NOW + 86400).access_key == AK


def test_aws_presigned_example_expired() -> None:
    error = raises(AccessDenied, PRESIGNED_EXAMPLE, "Request has expired", NOW + 86401)
    assert error.fields["X-Amz-Expires"] == "86400"
    assert error.fields["Expires"] == "2013-05-25T00:00:00Z"


def test_presigned_not_yet_valid() -> None:
    raises(AccessDenied, PRESIGNED_EXAMPLE, "not valid yet", NOW - 16 * 60)
    assert auth(PRESIGNED_EXAMPLE, NOW - 14 * 60).access_key == AK


STREAM_HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
}


def _stream_body(signatures: list[str], trailer: bytes = b"") -> bytes:
    data = [b"a" * 65536, b"a" * 1024, b""]
    parts = [b"%x;chunk-signature=%s\r\n%s\r\n" % (len(d), s.encode(), d) for d, s in zip(data, signatures, strict=True)]
    if trailer:
        parts[-1] = parts[-1][:-2] + trailer
    return b"".join(parts)


def test_aws_streaming_signed_example_end_to_end() -> None:
    signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers = {
        **STREAM_HEADERS,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "authorization": f"AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders={signed},Signature={seed}",
    }
    ctx = auth(RequestHead("PUT", "/examplebucket/chunkObject.txt", "", headers))
    assert ctx.payload.kind == "streaming-signed" and ctx.payload.is_streaming and not ctx.payload.has_trailer
    assert ctx.payload.chunk_signer is not None and ctx.payload.chunk_signer.seed_signature == seed
    body = _stream_body(
        [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ]
    )
    assert len(body) == 66824
    decoder = ctx.payload.chunked_decoder()
    assert decoder.feed(body) == b"a" * 66560
    assert decoder.finish() == {}


def test_aws_streaming_signed_trailer_example_end_to_end() -> None:
    signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
    seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    headers = {
        **STREAM_HEADERS,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32c",
        "authorization": f"AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders={signed},Signature={seed}",
    }
    ctx = auth(RequestHead("PUT", "/examplebucket/chunkObject.txt", "", headers))
    assert ctx.payload.kind == "streaming-signed-trailer" and ctx.payload.has_trailer
    trailer = (
        b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
        b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
    )
    body = _stream_body(
        [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ],
        trailer,
    )
    decoder = ctx.payload.chunked_decoder(("x-amz-checksum-crc32c",))
    assert decoder.feed(body) == b"a" * 66560
    assert decoder.finish() == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_chunked_decoder_refused_for_plain_payload() -> None:
    with pytest.raises(ValueError):
        PayloadMode("sha256", EMPTY_SHA256).chunked_decoder()


# --- requests signed by botocore --------------------------------------------------------------

ODD_PATHS = ["/b/plain", "/b/a%20b", "/b/a%2Bb", "/b/t~x", "/b/../up/./x", "/b/%C3%BC%F0%9F%98%80", "/b/q%3Fx%3D1", "/b/"]
ODD_QUERIES = ["", "?prefix=a%20b%2Bc~d&delimiter=%2F", "?uploads", "?list-type=2&start-after=%C3%A9%2F..", "?acl="]


@pytest.mark.parametrize("path", ODD_PATHS)
@pytest.mark.parametrize("query", ODD_QUERIES)
def test_botocore_header_auth(path: str, query: str) -> None:
    head = botocore_sign("GET", path + query, {"Range": "bytes=0-9", "x-amz-meta-x": "  a  b "})
    assert auth(head) == AuthContext(AK, "s3", PayloadMode("sha256", EMPTY_SHA256))


@pytest.mark.parametrize("path", ODD_PATHS)
@pytest.mark.parametrize("query", ODD_QUERIES)
def test_botocore_presigned(path: str, query: str) -> None:
    head = botocore_sign("GET", path + query, presign_expires=3600)
    assert "X-Amz-Signature=" in head.raw_query
    assert auth(head, NOW + 3599).payload == PayloadMode("unsigned")


def test_botocore_put_with_body_hash() -> None:
    body = b"hello world"
    head = botocore_sign("PUT", "/b/k", {"Content-Type": "text/plain"}, body)
    ctx = auth(head)
    assert ctx.payload == PayloadMode("sha256", hashlib.sha256(body).hexdigest())


def test_botocore_date_header_instead_of_x_amz_date() -> None:
    head = botocore_sign("GET", "/b/k", {"Date": "placeholder"})
    assert "x-amz-date" not in head.headers and head.headers["date"].startswith("Fri, 24 May 2013 00:00:00")
    assert auth(head).access_key == AK
    raises(RequestTimeTooSkewed, head, now=NOW + 901)


def test_botocore_presigned_max_expiry() -> None:
    head = botocore_sign("GET", "/b/k", presign_expires=604800)
    assert auth(head, NOW + 604800).access_key == AK
    raises(AccessDenied, head, "expired", NOW + 604801)


def test_botocore_presigned_with_signed_content_sha256() -> None:
    digest = hashlib.sha256(b"data").hexdigest()
    head = botocore_sign("PUT", "/b/k", {"X-Amz-Content-SHA256": digest}, presign_expires=60, generic=True)
    assert auth(head).payload == PayloadMode("sha256", digest)
    raises(SignatureDoesNotMatch, with_headers(head, x_amz_content_sha256=EMPTY_SHA256))


def test_botocore_presigned_signed_amz_header_ok_unsigned_denied() -> None:
    head = botocore_sign("PUT", "/b/k", {"x-amz-meta-a": "1"}, presign_expires=60)
    assert auth(head).access_key == AK
    error = raises(AccessDenied, with_headers(head, x_amz_acl="public-read"), "not signed")
    assert error.fields["HeadersNotSigned"] == "x-amz-acl"


@pytest.mark.parametrize("skew", [-14 * 60, 14 * 60, 900])
def test_skew_within_limit(skew: int) -> None:
    assert auth(botocore_sign("GET", "/b/k"), NOW + skew).access_key == AK


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60, 901])
def test_skew_too_large(skew: int) -> None:
    error = raises(RequestTimeTooSkewed, botocore_sign("GET", "/b/k"), now=NOW + skew)
    assert error.status == 403 and error.fields["MaxAllowedSkewMilliseconds"] == "900000"


def test_boto3_client_requests(boto_capture) -> None:  # type: ignore[no-untyped-def]
    s3, captured = boto_capture("s3")
    key = "dir/ü ñ+~..//x?y=1&z#frag/ctl\x01\x1f\x7f/😀/"
    s3.put_object(Bucket="bkt", Key=key, Body=b"x" * 3000, Metadata={"m": "v  v"})
    s3.get_object(Bucket="bkt", Key=key, Range="bytes=1-2")
    s3.list_objects_v2(Bucket="bkt", Prefix="a b+c", Delimiter="/", StartAfter="é")
    s3.copy_object(Bucket="bkt", Key="copy", CopySource={"Bucket": "bkt", "Key": key})
    s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": key}]})
    s3.create_multipart_upload(Bucket="bkt", Key=key)
    s3.upload_part(Bucket="bkt", Key=key, UploadId="u/1+2", PartNumber=1, Body=b"p" * 10)
    assert len(captured) == 7
    kinds = []
    for request in captured:
        ctx = auth(request.head, _now())
        kinds.append(ctx.payload.kind)
        if ctx.payload.is_streaming:
            trailer_names = tuple(request.head.headers["x-amz-trailer"].split(","))
            decoder = ctx.payload.chunked_decoder(trailer_names)
            data = decoder.feed(request.body)
            trailers = decoder.finish()
            crc = b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
            assert trailers == {"x-amz-checksum-crc32": crc}
            assert decoder.decoded_length == int(request.head.headers["x-amz-decoded-content-length"])
        elif ctx.payload.kind == "sha256":
            assert hashlib.sha256(request.body).hexdigest() == ctx.payload.sha256_hex
    assert "streaming-unsigned-trailer" in kinds


class _UrlRequest:
    """What a browser or curl sends for a presigned URL: the URL, a method, few headers."""

    def __init__(self, method: str, url: str, headers: dict[str, str] | None = None) -> None:
        self.method, self.url, self.headers = method, url, headers or {}


PRESIGN_CASES = [
    ("get_object", "GET", {"Bucket": "b", "Key": "a b/ü+~..", "ResponseContentDisposition": 'attachment; filename="x y"'}),
    ("put_object", "PUT", {"Bucket": "b", "Key": "k", "ContentType": "text/plain"}),
    ("head_object", "HEAD", {"Bucket": "b", "Key": "k", "VersionId": "v+1/2"}),
]


@pytest.mark.parametrize(("operation", "method", "params"), PRESIGN_CASES)
def test_boto3_generate_presigned_url_s3v4(boto_capture, operation, method, params) -> None:  # type: ignore[no-untyped-def]
    s3, _ = boto_capture("s3", signature_version="s3v4")
    url = s3.generate_presigned_url(operation, Params=params, ExpiresIn=300)
    headers = {"Content-Type": "text/plain"} if method == "PUT" else {}
    ctx = auth(head_from_botocore(_UrlRequest(method, url, headers)), _now())
    assert ctx.payload.kind == "unsigned"


def test_boto3_default_presigned_url_is_sigv2_and_accepted(boto_capture) -> None:  # type: ignore[no-untyped-def]
    """boto3 presigns S3 URLs with SigV2 unless configured for s3v4, so SigV2 query auth is accepted."""
    s3, _ = boto_capture("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "a b/k+~", "ResponseContentType": "x/y"})
    assert "AWSAccessKeyId=" in url
    head = head_from_botocore(_UrlRequest("GET", url))
    ctx = auth(head, _now())
    assert ctx.service == "s3" and ctx.payload.kind == "unsigned"
    tampered = dataclasses.replace(head, raw_query=head.raw_query.replace("x%2Fy", "x%2Fz"))
    raises(SignatureDoesNotMatch, tampered, now=_now())
    raises(AccessDenied, head, "expired", now=_now() + 3601)


def test_sigv2_presigned_virtual_host_signs_the_path_style_resource(boto_capture) -> None:  # type: ignore[no-untyped-def]
    s3, _ = boto_capture("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    head = head_from_botocore(_UrlRequest("GET", url))
    virtual = dataclasses.replace(head, raw_path="/k")
    raises(SignatureDoesNotMatch, virtual, now=_now())
    assert authenticate(virtual, KEYRING, _now(), "us-east-1", resource_path="/b/k").access_key == AK


def test_boto3_lambda_requests(boto_capture) -> None:  # type: ignore[no-untyped-def]
    client, captured = boto_capture("lambda")
    client.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:f", Payload=b'{"a": 1}')
    client.list_functions()
    for request in captured:
        assert needs_body_sha256(request.head)
        raises(InvalidRequest, request.head, "x-amz-content-sha256", now=_now())
        ctx = auth(request.head, _now(), body_sha256=hashlib.sha256(request.body).hexdigest())
        assert ctx.service == "lambda" and ctx.payload.kind == "sha256"
        wrong = hashlib.sha256(request.body + b" ").hexdigest()
        raises(SignatureDoesNotMatch, request.head, now=_now(), body_sha256=wrong)


def test_lambda_presigned_needs_body_hash() -> None:
    head = botocore_sign("GET", "/2015-03-31/functions", service="lambda", presign_expires=60)
    assert needs_body_sha256(head)
    assert auth(head, body_sha256=EMPTY_SHA256).service == "lambda"


def test_needs_body_sha256_false_for_s3_and_garbage() -> None:
    assert not needs_body_sha256(botocore_sign("GET", "/b/k"))
    assert not needs_body_sha256(with_headers(botocore_sign("GET", "/b/k"), x_amz_content_sha256=None))
    assert not needs_body_sha256(RequestHead("GET", "/", "", {"authorization": "AWS4-HMAC-SHA256 junk"}))
    assert not needs_body_sha256(RequestHead("GET", "/", "", {}))


def _now() -> float:
    return time.time()


# --- tampering ----------------------------------------------------------------------------------

BASE = botocore_sign("PUT", "/b/key?tagging", {"x-amz-meta-a": "1", "Content-Type": "text/plain"}, b"body")


@pytest.mark.parametrize(
    "tampered",
    [
        dataclasses.replace(BASE, method="POST"),
        dataclasses.replace(BASE, raw_path="/b/key2"),
        dataclasses.replace(BASE, raw_path="/b/./key"),
        dataclasses.replace(BASE, raw_query="tagging&x=1"),
        dataclasses.replace(BASE, raw_query=""),
        with_headers(BASE, x_amz_meta_a="2"),
        with_headers(BASE, content_type="text/html"),
        with_headers(BASE, host="evil:9000"),
        with_headers(BASE, x_amz_content_sha256=EMPTY_SHA256),
        with_headers(BASE, x_amz_date="20130524T000001Z"),
        with_headers(BASE, authorization=BASE.headers["authorization"][:-1] + "0"),
    ],
)
def test_tampering_breaks_signature(tampered: RequestHead) -> None:
    error = raises(SignatureDoesNotMatch, tampered)
    assert error.status == 403 and "CanonicalRequest" in error.fields


def test_unsigned_header_may_change() -> None:
    assert auth(with_headers(BASE, user_agent="curl", expect="100-continue")).access_key == AK


def test_wrong_secret() -> None:
    raises(SignatureDoesNotMatch, botocore_sign("GET", "/b/k", secret="other"))


# --- header form: error paths -------------------------------------------------------------------

def header(authorization: str, **extra: str) -> RequestHead:
    headers = {
        "host": HOST,
        "x-amz-date": "20130524T000000Z",
        "x-amz-content-sha256": EMPTY_SHA256,
        "authorization": authorization,
    }
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return RequestHead("GET", "/k", "", headers)


def v4(credential: str = CREDENTIAL, signed: str = "host;x-amz-content-sha256;x-amz-date", sig: str = "0" * 64) -> str:
    return f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={sig}"


def test_anonymous_denied() -> None:
    error = raises(AccessDenied, RequestHead("GET", "/b/k", "", {"host": HOST}))
    assert error.status == 403


@pytest.mark.parametrize(
    "value",
    [
        f"AWS {AK}:frJIUN8DYpKDtOLCwo//yllqDzg=",
        f"AWS4-ECDSA-P256-SHA256 Credential={AK}/20130524/s3/aws4_request, SignedHeaders=host, Signature=00",
        "Bearer token",
        "AWS4-HMAC-SHA1 Credential=x",
        "",
    ],
)
def test_unsupported_header_schemes(value: str) -> None:
    raises(InvalidRequest, header(value), "AWS4-HMAC-SHA256")


def test_sigv2_query_with_a_bad_signature_rejected() -> None:
    head = RequestHead("GET", "/b/k", f"AWSAccessKeyId={AK}&Expires=1141889120&Signature=vjbyPxybd", {"host": HOST})
    raises(SignatureDoesNotMatch, head, now=1141889000)
    raises(AccessDenied, head, "expired", now=1141889121)


def test_header_and_query_auth_together() -> None:
    head = dataclasses.replace(GET_EXAMPLE, raw_query=PRESIGNED_EXAMPLE.raw_query)
    error = raises(InvalidArgument, head, "Only one auth mechanism")
    assert error.fields["ArgumentName"] == "Authorization"
    raises(InvalidArgument, dataclasses.replace(GET_EXAMPLE, raw_query="AWSAccessKeyId=x&Signature=y"))


@pytest.mark.parametrize(
    "value",
    [
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL}, SignedHeaders=host",
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL}, SignedHeaders=host, Signature=00, Extra=1",
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL}, Credential={CREDENTIAL}, Signature=00",
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL} SignedHeaders=host Signature=00",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 garbage",
    ],
)
def test_malformed_authorization(value: str) -> None:
    raises(AuthorizationHeaderMalformed, header(value), "three components")


@pytest.mark.parametrize(
    ("credential", "match"),
    [
        (f"{AK}/20130524/us-east-1/s3", "Credential is mal-formed"),
        (f"{AK}/20130524//s3/aws4_request", "Credential is mal-formed"),
        (f"{AK}/20130524/us-east-1/s3/aws5_request", "incorrect terminal 'aws5_request'"),
        (f"{AK}/20130524/us-east-1/iam/aws4_request", "incorrect service 'iam'"),
        (f"{AK}/20130525/us-east-1/s3/aws4_request", "Date is not the same as X-Amz-Date"),
    ],
)
def test_bad_credential_scope(credential: str, match: str) -> None:
    raises(AuthorizationHeaderMalformed, header(v4(credential)), match)


def test_wrong_region_header_auth() -> None:
    error = raises(AuthorizationHeaderMalformed, header(v4(f"{AK}/20130524/eu-west-1/s3/aws4_request")))
    assert error.status == 400
    assert "the region 'eu-west-1' is wrong; expecting 'us-east-1'" in error.message
    assert error.fields["Region"] == "us-east-1"


def test_empty_signed_header_name() -> None:
    raises(AuthorizationHeaderMalformed, header(v4(signed="host;;x-amz-date")), "SignedHeaders")


def test_host_must_be_signed() -> None:
    error = raises(AccessDenied, header(v4(signed="x-amz-content-sha256;x-amz-date")), "not signed")
    assert error.fields["HeadersNotSigned"] == "host"


@pytest.mark.parametrize("date", [None, "2013-05-24T00:00:00Z", "yesterday"])
def test_missing_or_bad_x_amz_date(date: str | None) -> None:
    head = with_headers(header(v4()), x_amz_date=date)
    raises(AccessDenied, head, "valid Date or x-amz-date")


def test_bad_date_header() -> None:
    head = with_headers(header(v4()), x_amz_date=None, date="not a date")
    raises(AccessDenied, head, "valid Date or x-amz-date")


def test_s3_requires_content_sha256() -> None:
    head = with_headers(header(v4()), x_amz_content_sha256=None)
    raises(InvalidRequest, head, "Missing required header for this request: x-amz-content-sha256")
    raises(InvalidRequest, head, "x-amz-content-sha256", body_sha256=EMPTY_SHA256)


@pytest.mark.parametrize("value", ["abc", "UNSIGNED", EMPTY_SHA256[:-1], EMPTY_SHA256 + "0", "g" * 64])
def test_invalid_content_sha256(value: str) -> None:
    error = raises(InvalidArgument, header(v4(), x_amz_content_sha256=value))
    assert error.fields["ArgumentName"] == "x-amz-content-sha256"


def test_sigv4a_streaming_not_implemented() -> None:
    error = raises(S3NotImplemented, header(v4(), x_amz_content_sha256="STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"))
    assert error.status == 501


def test_uppercase_content_sha256_is_normalised() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    head = botocore_sign("PUT", "/b/k", {"X-Amz-Content-SHA256": digest.upper()}, b"x", generic=True)
    assert auth(head).payload.sha256_hex == digest


def test_unknown_access_key() -> None:
    error = raises(InvalidAccessKeyId, botocore_sign("GET", "/b/k", access_key="AKIDUNKNOWN"))
    assert error.status == 403 and error.fields["AWSAccessKeyId"] == "AKIDUNKNOWN"


@pytest.mark.parametrize(
    "payload",
    ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"],
)
def test_payload_kinds(payload: str) -> None:
    head = botocore_sign("PUT", "/b/k", {"X-Amz-Content-SHA256": payload}, generic=True)
    mode = auth(head).payload
    expected = {
        "UNSIGNED-PAYLOAD": "unsigned",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER": "streaming-unsigned-trailer",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": "streaming-signed-trailer",
    }[payload]
    assert mode.kind == expected
    assert (mode.chunk_signer is not None) == (expected == "streaming-signed-trailer")


# --- presigned form: error paths -----------------------------------------------------------------

PRESIGN_PARAMS = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": f"{AK}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
    "X-Amz-Date": "20130524T000000Z",
    "X-Amz-Expires": "86400",
    "X-Amz-SignedHeaders": "host",
    "X-Amz-Signature": "0" * 64,
}


def presigned(**changes: str | None) -> RequestHead:
    params = {**PRESIGN_PARAMS, **{k.replace("_", "-"): v for k, v in changes.items()}}
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return RequestHead("GET", "/test.txt", query, {"host": HOST})


@pytest.mark.parametrize("missing", list(PRESIGN_PARAMS))
def test_presigned_missing_param(missing: str) -> None:
    if missing == "X-Amz-Algorithm":  # without it, the request is simply anonymous
        raises(AccessDenied, presigned(**{missing.replace("-", "_"): None}))
    else:
        raises(AuthorizationQueryParametersError, presigned(**{missing.replace("-", "_"): None}))


@pytest.mark.parametrize("empty", list(PRESIGN_PARAMS))
def test_presigned_empty_param(empty: str) -> None:
    raises(AuthorizationQueryParametersError, presigned(**{empty.replace("-", "_"): ""}))


def test_presigned_duplicate_param() -> None:
    head = dataclasses.replace(PRESIGNED_EXAMPLE, raw_query=PRESIGNED_EXAMPLE.raw_query + "&X-Amz-Expires=60")
    raises(AuthorizationQueryParametersError, head, "only once")


def test_presigned_bad_algorithm() -> None:
    raises(AuthorizationQueryParametersError, presigned(X_Amz_Algorithm="AWS4-ECDSA-P256-SHA256"), "only supports")


@pytest.mark.parametrize(
    ("expires", "match"),
    [("abc", "number"), ("1.5", "number"), ("-1", "number"), ("0", "non-negative"), ("604801", "less than a week")],
)
def test_presigned_bad_expires(expires: str, match: str) -> None:
    raises(AuthorizationQueryParametersError, presigned(X_Amz_Expires=expires), match)


@pytest.mark.parametrize("date", ["2013-05-24T00:00:00Z", "20130524", "20130524T000000"])
def test_presigned_bad_date(date: str) -> None:
    raises(AuthorizationQueryParametersError, presigned(X_Amz_Date=date), "ISO8601")


@pytest.mark.parametrize(
    ("credential", "match"),
    [
        (f"{AK}%2F20130524%2Fus-east-1%2Fs3", "mal-formed"),
        (f"{AK}%2F20130524%2Fus-east-1%2Fs3%2Fxyz", "incorrect terminal"),
        (f"{AK}%2F20130524%2Fus-east-1%2Fsqs%2Faws4_request", "incorrect service"),
        (f"{AK}%2F20130523%2Fus-east-1%2Fs3%2Faws4_request", "Date is not the same"),
    ],
)
def test_presigned_bad_credential(credential: str, match: str) -> None:
    raises(AuthorizationQueryParametersError, presigned(X_Amz_Credential=credential), match)


def test_presigned_wrong_region_is_403() -> None:
    error = raises(SignatureDoesNotMatch, presigned(X_Amz_Credential=f"{AK}%2F20130524%2Feu-west-1%2Fs3%2Faws4_request"))
    assert error.status == 403 and "'eu-west-1' is wrong; expecting 'us-east-1'" in error.message


def test_presigned_host_must_be_signed() -> None:
    raises(AccessDenied, presigned(X_Amz_SignedHeaders="x-amz-date"), "not signed")
    raises(AuthorizationQueryParametersError, presigned(X_Amz_SignedHeaders="host;"), "SignedHeaders")


def test_presigned_unknown_key_and_bad_signature() -> None:
    raises(InvalidAccessKeyId, presigned(X_Amz_Credential="NOPE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"))
    raises(SignatureDoesNotMatch, presigned())


def test_presigned_streaming_payload_refused() -> None:
    head = with_headers(PRESIGNED_EXAMPLE, x_amz_content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    raises(InvalidRequest, head, "streaming")


def test_presigned_signature_excluded_but_other_params_signed() -> None:
    head = dataclasses.replace(PRESIGNED_EXAMPLE, raw_query=PRESIGNED_EXAMPLE.raw_query + "&x-id=GetObject")
    raises(SignatureDoesNotMatch, head)


# --- purity --------------------------------------------------------------------------------------

def test_auth_imports_no_http_code() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    code = (
        "import sys; import bayou.auth.authenticate, bayou.auth.chunked, bayou.auth.post_policy;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'starlette', 'multipart', 'httptools')"
        " or m.startswith(('bayou.api', 'bayou.app'))]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(src)})
