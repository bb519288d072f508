"""SigV4 math against AWS's published vectors and botocore's own canonicalisation."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from auth_helpers import AK, SK, head_from_botocore
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from bayou.auth.sigv4 import (
    EMPTY_SHA256,
    ChunkSigner,
    canonical_header_value,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    format_amz_date,
    parse_amz_date,
    parse_credential,
    parse_query,
    signature,
    signatures_equal,
    signing_key,
    string_to_sign,
)

S3_DATE = "20130524T000000Z"
S3_SCOPE = "20130524/us-east-1/s3/aws4_request"


def s3_signature(method: str, path: str, query: str, headers: dict[str, str], signed: str, payload: str) -> str:
    key = signing_key(SK, "20130524", "us-east-1", "s3")
    cr = canonical_request(method, canonical_uri(path), canonical_query(query), headers, signed.split(";"), payload)
    return signature(key, string_to_sign(S3_DATE, S3_SCOPE, cr))


# --- AWS S3 API reference: "Signature Calculations for the Authorization Header" --------------

def test_aws_s3_get_object_example() -> None:
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": S3_DATE,
    }
    sig = s3_signature("GET", "/test.txt", "", headers, "host;range;x-amz-content-sha256;x-amz-date", EMPTY_SHA256)
    assert sig == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def test_aws_s3_put_object_example() -> None:
    payload = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "date": "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-date": S3_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": payload,
    }
    signed = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
    sig = s3_signature("PUT", "/test%24file.text", "", headers, signed, payload)
    assert sig == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        ("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ],
)
def test_aws_s3_bucket_examples(query: str, expected: str) -> None:
    headers = {"host": "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": S3_DATE}
    assert s3_signature("GET", "/", query, headers, "host;x-amz-content-sha256;x-amz-date", EMPTY_SHA256) == expected


def test_aws_s3_presigned_get_example() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
        "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    sig = s3_signature("GET", "/test.txt", query, {"host": "examplebucket.s3.amazonaws.com"}, "host", "UNSIGNED-PAYLOAD")
    assert sig == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"


# --- AWS general reference: signing key and the SigV4 test suite (service "service") ----------

def test_aws_derived_signing_key() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    key = signing_key(secret, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


VANILLA = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


@pytest.mark.parametrize(
    ("path", "query", "extra", "expected"),
    [
        ("/", "", {}, VANILLA),
        ("/example1/example2/../..", "", {}, VANILLA),
        ("/./", "", {}, VANILLA),
        ("/", "Param2=value2&Param1=value1", {}, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("/", "Param1=value1", {}, "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
        ("/", "ሴ=bar", {}, "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        ("/ሴ", "", {}, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        (
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "",
            {},
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        ),
        (
            "/",
            "",
            {"my-header1": " value1", "my-header2": ' "a   b   c"'},
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
    ],
)
def test_aws_sigv4_test_suite(path: str, query: str, extra: dict[str, str], expected: str) -> None:
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service")
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z", **extra}
    signed = sorted(headers)
    cr = canonical_request(
        "GET", canonical_uri(path, double_encode=True), canonical_query(query), headers, signed, EMPTY_SHA256
    )
    sts = string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", cr)
    assert signature(key, sts) == expected


# --- AWS S3 streaming examples: chunk and trailer signatures -----------------------------------

def _stream_signer(seed: str) -> ChunkSigner:
    return ChunkSigner(signing_key(SK, "20130524", "us-east-1", "s3"), S3_DATE, S3_SCOPE, seed)


def test_aws_streaming_chunk_signatures() -> None:
    signer = _stream_signer("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    previous = signer.seed_signature
    found = []
    for data in (b"a" * 65536, b"a" * 1024, b""):
        previous = signer.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        found.append(previous)
    assert found == [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]


def test_aws_streaming_trailer_signature() -> None:
    signer = _stream_signer("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
    final = "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
    trailer = hashlib.sha256(b"x-amz-checksum-crc32c:sOO8/Q==\n").hexdigest()
    assert signer.trailer_signature(final, trailer) == (
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    )


def test_chunk_signer_hides_key_in_repr() -> None:
    assert "key" not in repr(_stream_signer("x"))


# --- canonicalisation details ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("acl", "acl="),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
        ("a=x y", "a=x%20y"),
        ("a=x+y", "a=x%20y"),
        ("a=x%2By", "a=x%2By"),
        ("a=%7e~%41", "a=~~A"),
        ("a=%2f/", "a=%2F%2F"),
        ("a=%c3%a9", "a=%C3%A9"),
        ("a=é", "a=%C3%A9"),
        ("a=%FF", "a=%FF"),
        ("a=1&&b=2", "a=1&b=2"),
        ("k=v=w", "k=v%3Dw"),
        ("X-Amz-Signature=abc&a=1", "a=1"),
        ("x-amz-signature=abc", "x-amz-signature=abc"),
    ],
)
def test_canonical_query(raw: str, expected: str) -> None:
    assert canonical_query(raw) == expected


def test_canonical_query_exclude_nothing() -> None:
    assert canonical_query("X-Amz-Signature=abc", exclude=()) == "X-Amz-Signature=abc"


def test_parse_query_decodes_in_order() -> None:
    assert parse_query("b=%20&a&c=x+y") == [("b", " "), ("a", ""), ("c", "x y")]


@pytest.mark.parametrize(
    ("raw", "double", "expected"),
    [
        ("/bucket/a%20b/../c", False, "/bucket/a%20b/../c"),
        ("", False, "/"),
        ("", True, "/"),
        ("/fn/arn%3Aaws/invocations", True, "/fn/arn%253Aaws/invocations"),
        ("/a//b/./c/../d/", True, "/a/b/d/"),
        ("/a b", True, "/a%20b"),
    ],
)
def test_canonical_uri(raw: str, double: bool, expected: str) -> None:
    assert canonical_uri(raw, double_encode=double) == expected


def test_canonical_headers_trim_and_missing() -> None:
    headers = {"host": "h", "x-a": "  a   b \t c  "}
    assert canonical_headers(headers, ["host", "x-a", "x-missing"]) == "host:h\nx-a:a b c\nx-missing:\n"
    assert canonical_header_value("plain") == "plain"


def test_signing_key_is_cached() -> None:
    signing_key.cache_clear()
    signing_key(SK, "20130524", "us-east-1", "s3")
    signing_key(SK, "20130524", "us-east-1", "s3")
    info = signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize is not None and info.maxsize <= 1024


def test_signatures_equal_never_raises() -> None:
    assert signatures_equal("ab", "ab")
    assert not signatures_equal("ab", "aé")
    assert not signatures_equal("ab", "\udcff")


@pytest.mark.parametrize("bad", ["", "20130524", "20130524T00000Z", "2013-05-24T00:00:00Z", "20131324T000000Z", "2013052４T000000Z"])
def test_parse_amz_date_rejects(bad: str) -> None:
    assert parse_amz_date(bad) is None


def test_amz_date_round_trip() -> None:
    epoch = parse_amz_date(S3_DATE)
    assert epoch == 1369353600.0
    assert format_amz_date(epoch) == S3_DATE


def test_parse_credential() -> None:
    cred = parse_credential("AK/20130524/us-east-1/s3/aws4_request")
    assert cred is not None and cred.scope == S3_SCOPE and cred.access_key == "AK"
    assert parse_credential("AK/20130524/us-east-1/s3") is None
    assert parse_credential("AK//us-east-1/s3/aws4_request") is None


# --- cross-check with botocore's canonical request ---------------------------------------------

ODD_KEYS = ["plain.txt", "a b", "a+b", "tilde~x", "../up/./x", "üñí/çødé", "😀", "q?x=1&y", "pct%41", "sp  ace/"]
ODD_QUERIES = [
    {},
    {"prefix": "a b+c~d", "delimiter": "/"},
    {"list-type": "2", "start-after": "é/..", "max-keys": "3"},
    {"uploads": ""},
    {"response-content-disposition": 'attachment; filename="x y.txt"'},
]


def _botocore_canonical(auth: SigV4Auth, request: AWSRequest) -> str:
    request.context["timestamp"] = "20130524T000000Z"
    return str(auth.canonical_request(request))


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("params", ODD_QUERIES)
def test_s3_canonical_request_matches_botocore(key: str, params: dict[str, str]) -> None:
    url = "https://localhost:9000/bucket/" + percent_encode(key, safe="/~")
    if params:
        url += "?" + "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
    request = AWSRequest("GET", url, headers={"X-Amz-Date": S3_DATE, "X-Amz-Content-SHA256": EMPTY_SHA256})
    auth = S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1")
    expected = _botocore_canonical(auth, request)
    head = head_from_botocore(request)
    signed = auth.signed_headers(auth.headers_to_sign(request)).split(";")
    ours = canonical_request(
        "GET", canonical_uri(head.raw_path), canonical_query(head.raw_query), head.headers, signed, EMPTY_SHA256
    )
    assert ours == expected


@pytest.mark.parametrize("name", ["f", "arn:aws:lambda:us-east-1:000000000000:function:f", "a b/../c"])
def test_lambda_canonical_request_matches_botocore(name: str) -> None:
    url = f"https://localhost:9000/2015-03-31/functions/{percent_encode(name)}/invocations"
    request = AWSRequest("POST", url, headers={"X-Amz-Date": S3_DATE}, data=b"{}")
    auth = SigV4Auth(Credentials(AK, SK), "lambda", "us-east-1")
    expected = _botocore_canonical(auth, request)
    head = head_from_botocore(request)
    signed = auth.signed_headers(auth.headers_to_sign(request)).split(";")
    payload = hashlib.sha256(b"{}").hexdigest()
    ours = canonical_request(
        "POST",
        canonical_uri(head.raw_path, double_encode=True),
        canonical_query(head.raw_query),
        head.headers,
        signed,
        payload,
    )
    assert ours == expected


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_signature_is_hmac_sha256(key_length: int) -> None:
    key = os.urandom(key_length)
    for text in ("", "AWS4-HMAC-SHA256\n20130524T000000Z\nscope\nhash", "ü" * 100):
        assert signature(key, text) == hmac.new(key, text.encode(), "sha256").hexdigest()
        assert signature(key, text) == hmac.new(key, text.encode(), "sha256").hexdigest()  # cached states
