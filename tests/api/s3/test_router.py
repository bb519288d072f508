"""The S3 router (api/s3/router.py) as tables of request lines from the AWS S3 API reference."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

import pytest

from bayou.api.s3.router import (
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CopyObject,
    CreateBucket,
    CreateMultipartUpload,
    DeleteBucket,
    DeleteBucketTagging,
    DeleteObject,
    DeleteObjects,
    DeleteObjectTagging,
    Endpoint,
    GetBucketConfig,
    GetObject,
    GetObjectAcl,
    GetObjectTagging,
    HeadBucket,
    HeadObject,
    ListBuckets,
    ListenNotification,
    ListMultipartUploads,
    ListObjects,
    ListObjectVersions,
    ListParts,
    PostObject,
    PutBucketNotification,
    PutBucketTagging,
    PutBucketVersioning,
    PutObject,
    PutObjectTagging,
    Unsupported,
    UploadPart,
    UploadPartCopy,
    route,
    split_target,
)
from bayou.errors import BayouError, InvalidArgument, MethodNotAllowed

DOMAINS = ("localhost", "s3.example.com")


def request(line: str, headers: dict[str, str] | None = None, host: str = "localhost:9000") -> Endpoint:
    """Route `METHOD /path?query` the way the app does: decode the path, split, then route."""
    method, target = line.split(" ", 1)
    parts = urlsplit(target)
    path = unquote_to_bytes(parts.path).decode("utf-8")
    query = dict(parse_qsl(parts.query, keep_blank_values=True, errors="strict"))
    bucket, key = split_target(path, host, DOMAINS)
    return route(method, bucket, key, query, {k.lower(): v for k, v in (headers or {}).items()})


COPY = "x-amz-copy-source"

TABLE: list[tuple[str, dict[str, str], Endpoint]] = [
    # service
    ("GET /", {}, ListBuckets()),
    ("GET /?x-id=ListBuckets", {}, ListBuckets()),
    # buckets
    ("PUT /bucket", {}, CreateBucket("bucket")),
    ("PUT /bucket/", {}, CreateBucket("bucket")),
    ("HEAD /bucket", {}, HeadBucket("bucket")),
    ("DELETE /bucket", {}, DeleteBucket("bucket")),
    ("GET /bucket?location", {}, GetBucketConfig("bucket", "location")),
    ("GET /bucket?versioning", {}, GetBucketConfig("bucket", "versioning")),
    ("GET /bucket?acl", {}, GetBucketConfig("bucket", "acl")),
    ("GET /bucket?encryption", {}, GetBucketConfig("bucket", "encryption")),
    ("GET /bucket?cors", {}, GetBucketConfig("bucket", "cors")),
    ("GET /bucket?policy", {}, GetBucketConfig("bucket", "policy")),
    ("GET /bucket?lifecycle", {}, GetBucketConfig("bucket", "lifecycle")),
    ("GET /bucket?tagging", {}, GetBucketConfig("bucket", "tagging")),
    ("GET /bucket?versions", {}, ListObjectVersions("bucket")),
    ("GET /bucket?notification", {}, GetBucketConfig("bucket", "notification")),
    ("PUT /bucket?notification", {}, PutBucketNotification("bucket")),
    ("GET /bucket?events=s3:ObjectCreated:*", {}, ListenNotification("bucket")),
    ("GET /?events=s3:ObjectCreated:*", {}, ListenNotification(None)),
    ("PUT /bucket?acl", {}, Unsupported("PUT bucket ?acl")),
    ("DELETE /bucket?cors", {}, Unsupported("DELETE bucket ?cors")),
    ("DELETE /bucket?policy", {}, Unsupported("DELETE bucket ?policy")),
    # list objects
    ("GET /bucket", {}, ListObjects("bucket", v2=False)),
    ("GET /bucket/", {}, ListObjects("bucket", v2=False)),
    ("GET /bucket?list-type=2", {}, ListObjects("bucket", v2=True)),
    ("GET /bucket?list-type=2&prefix=a", {}, ListObjects("bucket", v2=True, prefix="a")),
    (
        "GET /bucket?list-type=2&continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2FwH6&delimiter=%2F&encoding-type=url"
        "&fetch-owner=true&max-keys=2&prefix=photos%2F2006%2F&start-after=photos%2F2006%2FJanuary",
        {},
        ListObjects(
            "bucket",
            v2=True,
            prefix="photos/2006/",
            delimiter="/",
            max_keys=2,
            marker="photos/2006/January",
            continuation_token="1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wH6",
            fetch_owner=True,
            url_encoding=True,
        ),
    ),
    (
        "GET /bucket?delimiter=%2F&marker=a%2Fb&max-keys=0&prefix=%C3%A9",
        {},
        ListObjects("bucket", v2=False, prefix="é", delimiter="/", max_keys=0, marker="a/b"),
    ),
    ("GET /bucket?marker=m&start-after=s", {}, ListObjects("bucket", v2=False, marker="m")),
    ("GET /bucket?list-type=2&marker=m&start-after=s", {}, ListObjects("bucket", v2=True, marker="s")),
    ("GET /bucket?continuation-token=t", {}, ListObjects("bucket", v2=False)),  # V1 has no tokens
    ("GET /bucket?max-keys=5000", {}, ListObjects("bucket", v2=False, max_keys=1000)),
    ("GET /bucket?list-type=2&fetch-owner=false", {}, ListObjects("bucket", v2=True)),
    ("GET /bucket?prefix=a+b", {}, ListObjects("bucket", v2=False, prefix="a b")),
    ("GET /bucket?prefix=a%2Bb", {}, ListObjects("bucket", v2=False, prefix="a+b")),
    # delete objects, POST upload
    ("POST /bucket?delete", {}, DeleteObjects("bucket")),
    ("POST /bucket?delete=", {}, DeleteObjects("bucket")),
    ("POST /bucket", {"Content-Type": "multipart/form-data; boundary=xyz"}, PostObject("bucket")),
    ("POST /bucket", {}, Unsupported("POST bucket")),
    # objects
    ("PUT /bucket/key", {}, PutObject("bucket", "key")),
    ("PUT /bucket/key?x-id=PutObject", {}, PutObject("bucket", "key")),
    ("PUT /bucket/dir/sub/file.txt", {}, PutObject("bucket", "dir/sub/file.txt")),
    ("PUT /bucket/dir/", {}, PutObject("bucket", "dir/")),
    ("PUT /bucket/a//b", {}, PutObject("bucket", "a//b")),
    ("PUT /bucket//", {}, PutObject("bucket", "/")),
    ("PUT /bucket/%2E%2E/x", {}, PutObject("bucket", "../x")),
    ("PUT /bucket/a%3Fb%23c%20d", {}, PutObject("bucket", "a?b#c d")),
    ("PUT /bucket/%F0%9F%98%80%01", {}, PutObject("bucket", "😀\x01")),
    ("GET /bucket/key", {}, GetObject("bucket", "key")),
    ("GET /bucket/key?x-id=GetObject", {}, GetObject("bucket", "key")),
    ("GET /bucket/key?versionId=3HL4kqtJlcpXroDTDmJ%2Brmjdh", {}, GetObject("bucket", "key", "3HL4kqtJlcpXroDTDmJ+rmjdh")),
    ("GET /bucket/key?partNumber=2", {}, GetObject("bucket", "key", part_number=2)),
    (
        "GET /bucket/key?response-content-type=text%2Fplain&response-content-disposition=attachment"
        "&response-cache-control=no-cache&response-expires=0&response-content-language=fr&response-content-encoding=gzip",
        {},
        GetObject(
            "bucket",
            "key",
            overrides={
                "Content-Type": "text/plain",
                "Content-Disposition": "attachment",
                "Cache-Control": "no-cache",
                "Expires": "0",
                "Content-Language": "fr",
                "Content-Encoding": "gzip",
            },
        ),
    ),
    (  # a presigned GET: the auth parameters do not change the endpoint
        "GET /bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=abc",
        {},
        GetObject("bucket", "key"),
    ),
    ("HEAD /bucket/key", {}, HeadObject("bucket", "key")),
    ("HEAD /bucket/key?partNumber=1&versionId=v", {}, HeadObject("bucket", "key", "v", 1)),
    ("DELETE /bucket/key", {}, DeleteObject("bucket", "key")),
    ("DELETE /bucket/key?versionId=v1", {}, DeleteObject("bucket", "key", "v1")),
    ("GET /bucket/key?acl", {}, GetObjectAcl("bucket", "key")),
    # copy
    ("PUT /bucket/dst", {COPY: "/src-bucket/src/key"}, CopyObject("bucket", "dst", "src-bucket", "src/key", None)),
    ("PUT /bucket/dst", {COPY: "src-bucket/src/key"}, CopyObject("bucket", "dst", "src-bucket", "src/key", None)),
    (
        "PUT /bucket/dst",
        {COPY: "awsexamplebucket/reports/january.pdf?versionId=QUpfdndhfd8438MNFDN93jdnJFkdmqnh893"},
        CopyObject("bucket", "dst", "awsexamplebucket", "reports/january.pdf", "QUpfdndhfd8438MNFDN93jdnJFkdmqnh893"),
    ),
    (
        "PUT /bucket/dst",
        {COPY: "/src/key%20with%20space%2Bplus%3Fq%25p%C3%A9?versionId=a%2Bb"},
        CopyObject("bucket", "dst", "src", "key with space+plus?q%pé", "a+b"),
    ),
    ("PUT /bucket/dst", {COPY: "src/a+b"}, CopyObject("bucket", "dst", "src", "a+b", None)),
    ("PUT /bucket/dst", {COPY: "src/dir/"}, CopyObject("bucket", "dst", "src", "dir/", None)),
    ("PUT /bucket/dst?tagging", {COPY: "src/k"}, PutObjectTagging("bucket", "dst")),
    # multipart
    ("POST /bucket/key?uploads", {}, CreateMultipartUpload("bucket", "key")),
    ("POST /bucket/key?uploads=&x-id=CreateMultipartUpload", {}, CreateMultipartUpload("bucket", "key")),
    ("PUT /bucket/key?partNumber=1&uploadId=VXBsb2FkIElE", {}, UploadPart("bucket", "key", "VXBsb2FkIElE", 1)),
    ("PUT /bucket/key?uploadId=u%2B1&partNumber=10000", {}, UploadPart("bucket", "key", "u+1", 10000)),
    (
        "PUT /bucket/key?partNumber=2&uploadId=u",
        {COPY: "/src/a%20b?versionId=v"},
        UploadPartCopy("bucket", "key", "u", 2, CopyObject("bucket", "key", "src", "a b", "v")),
    ),
    ("POST /bucket/key?uploadId=u", {}, CompleteMultipartUpload("bucket", "key", "u")),
    ("DELETE /bucket/key?uploadId=u", {}, AbortMultipartUpload("bucket", "key", "u")),
    ("GET /bucket/key?uploadId=u", {}, ListParts("bucket", "key", "u")),
    ("GET /bucket/key?uploadId=u&max-parts=5000&part-number-marker=3", {}, ListParts("bucket", "key", "u", 1000, 3)),
    ("GET /bucket?uploads", {}, ListMultipartUploads("bucket")),
    (
        "GET /bucket?uploads&prefix=p%2F&delimiter=%2F&key-marker=k&upload-id-marker=u&max-uploads=5&encoding-type=url",
        {},
        ListMultipartUploads("bucket", "p/", "/", "k", "u", 5, True),
    ),
    # a multipart parameter alone never reaches a neighbouring API (no PutObject, no DeleteObject)
    ("PUT /bucket/key?uploadId=u", {}, Unsupported("PUT object ?uploadId")),
    ("HEAD /bucket/key?uploadId=u", {}, Unsupported("HEAD object ?uploadId")),
    ("DELETE /bucket/key?uploads", {}, Unsupported("DELETE object ?uploads")),
    ("PUT /bucket/key?uploads", {}, Unsupported("PUT object ?uploads")),
    # other object sub-resources are not implemented
    ("GET /bucket/key?tagging", {}, GetObjectTagging("bucket", "key")),
    ("GET /bucket/key?tagging&versionId=v1", {}, GetObjectTagging("bucket", "key", "v1")),
    ("PUT /bucket/key?tagging", {}, PutObjectTagging("bucket", "key")),
    ("DELETE /bucket/key?tagging", {}, DeleteObjectTagging("bucket", "key")),
    ("PUT /bucket?tagging", {}, PutBucketTagging("bucket")),
    ("DELETE /bucket?tagging", {}, DeleteBucketTagging("bucket")),
    ("PUT /bucket?versioning", {}, PutBucketVersioning("bucket")),
    ("GET /bucket?versions&prefix=a&key-marker=k&version-id-marker=v&max-keys=7", {},
     ListObjectVersions("bucket", prefix="a", key_marker="k", version_id_marker="v", max_keys=7)),
    ("GET /bucket/key?attributes", {}, Unsupported("GET object ?attributes")),
    ("POST /bucket/key?restore", {}, Unsupported("POST object ?restore")),
    ("POST /bucket/key?select&select-type=2", {}, Unsupported("POST object ?select")),
    ("PUT /bucket/key?retention", {}, Unsupported("PUT object ?retention")),
    ("PUT /bucket/key?acl", {}, Unsupported("PUT object ?acl")),
    ("POST /bucket/key", {}, Unsupported("POST object")),
]


@pytest.mark.parametrize(("line", "headers", "expected"), TABLE, ids=[f"{line} {h}" if h else line for line, h, _ in TABLE])
def test_route(line: str, headers: dict[str, str], expected: Endpoint) -> None:
    assert request(line, headers) == expected


@pytest.mark.parametrize(
    ("line", "headers", "argument"),
    [
        ("GET /bucket?max-keys=abc", {}, "max-keys"),
        ("GET /bucket?max-keys=-1", {}, "max-keys"),
        ("GET /bucket?max-keys=", {}, "max-keys"),
        ("GET /bucket?max-keys=1.5", {}, "max-keys"),
        ("GET /bucket?max-keys=99999999999", {}, "max-keys"),
        ("GET /bucket?list-type=3", {}, "list-type"),
        ("GET /bucket?encoding-type=xml", {}, "encoding-type"),
        ("GET /bucket?uploads&encoding-type=xml", {}, "encoding-type"),
        ("GET /bucket?uploads&max-uploads=x", {}, "max-uploads"),
        ("PUT /bucket/key?partNumber=0&uploadId=u", {}, "partNumber"),
        ("PUT /bucket/key?partNumber=10001&uploadId=u", {}, "partNumber"),
        ("GET /bucket/key?uploadId=u&max-parts=-1", {}, "max-parts"),
        ("GET /bucket/key?uploadId=u&part-number-marker=x", {}, "part-number-marker"),
        ("PUT /bucket/key?partNumber=1&uploadId=u", {COPY: "bucket-only"}, "x-amz-copy-source"),
        ("GET /bucket?encoding-type=", {}, "encoding-type"),
        ("GET /bucket/key?partNumber=0", {}, "partNumber"),
        ("GET /bucket/key?partNumber=10001", {}, "partNumber"),
        ("HEAD /bucket/key?partNumber=x", {}, "partNumber"),
        ("PUT /bucket/dst", {COPY: "just-a-bucket"}, "x-amz-copy-source"),
        ("PUT /bucket/dst", {COPY: "/bucket/"}, "x-amz-copy-source"),
        ("PUT /bucket/dst", {COPY: "/"}, "x-amz-copy-source"),
        ("PUT /bucket/dst", {COPY: ""}, "x-amz-copy-source"),
    ],
)
def test_invalid_arguments(line: str, headers: dict[str, str], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        request(line, headers)
    assert info.value.status == 400
    assert info.value.fields["ArgumentName"] == argument


@pytest.mark.parametrize("source", ["src/%FF", "src/%C3", "%FF/key"])
def test_copy_source_that_is_not_utf8_is_a_client_error(source: str) -> None:
    """A client's bad percent-encoding must be a 4xx S3 error, not an exception that becomes a 500."""
    with pytest.raises(BayouError) as info:
        request("PUT /bucket/dst", {COPY: source})
    assert 400 <= info.value.status < 500


@pytest.mark.parametrize(
    "line",
    ["PUT /", "DELETE /", "POST /", "HEAD /", "PATCH /bucket", "OPTIONS /bucket/key", "PATCH /bucket/key", "TRACE /bucket"],
)
def test_method_not_allowed(line: str) -> None:
    with pytest.raises(MethodNotAllowed) as info:
        request(line)
    assert info.value.status == 405


# --- addressing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [
        ("/", "localhost:9000", (None, None)),
        ("", "localhost:9000", (None, None)),
        ("/bucket", "localhost:9000", ("bucket", None)),
        ("/bucket/", "localhost:9000", ("bucket", None)),
        ("/bucket/key", "localhost:9000", ("bucket", "key")),
        ("/bucket/a/b/c", "127.0.0.1:9000", ("bucket", "a/b/c")),
        ("/bucket//", "localhost", ("bucket", "/")),
        ("/bucket/key", "[::1]:9000", ("bucket", "key")),
        ("/bucket/key", "[::1]", ("bucket", "key")),
        # virtual-host style
        ("/", "bk.localhost:9000", ("bk", None)),
        ("", "bk.localhost:9000", ("bk", None)),
        ("/key", "bk.localhost:9000", ("bk", "key")),
        ("/dir/key", "bk.localhost", ("bk", "dir/key")),
        ("//", "bk.localhost:9000", ("bk", "/")),
        ("/key", "my.dotted.bucket.s3.example.com", ("my.dotted.bucket", "key")),
        ("/key", "bk.s3.example.com:443", ("bk", "key")),
        # a host that only ends like a domain is not virtual-host style
        ("/bucket/key", "notlocalhost:9000", ("bucket", "key")),
        ("/bucket/key", "s3.example.com", ("bucket", "key")),
        ("/bucket/key", "example.com", ("bucket", "key")),
        ("/bucket/key", "", ("bucket", "key")),
    ],
)
def test_split_target(path: str, host: str, expected: tuple[str | None, str | None]) -> None:
    assert split_target(path, host, DOMAINS) == expected


def test_virtual_host_request_lines() -> None:
    assert request("GET /photo.jpg", host="bk.localhost:9000") == GetObject("bk", "photo.jpg")
    assert request("GET /?list-type=2&prefix=a", host="bk.localhost:9000") == ListObjects("bk", v2=True, prefix="a")
    assert request("POST /?delete", host="bk.localhost:9000") == DeleteObjects("bk")
    assert request("PUT /", host="bk.localhost:9000") == CreateBucket("bk")
    assert request("GET /?list-type=2&prefix=a") == ListBuckets()
