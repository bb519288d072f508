"""Parse, then handle: turn an S3 request line into a typed endpoint.

Handlers receive one of the dataclasses below and never look at the raw query string. Query
parameters that select an API we do not implement yet route to `Unsupported`, which renders as
501 NotImplemented, never as a wrong answer from a neighbouring API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from bayou.errors import InvalidArgument, MethodNotAllowed

# Sub-resources that select a different API on a bucket or an object.
_BUCKET_CONFIGS = (
    "location", "versioning", "acl", "encryption", "cors", "policy", "lifecycle", "tagging", "notification",
)
_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "location", "logging", "metadataConfiguration", "metrics",
        "notification", "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus",
        "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select", "session",
        "tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website",
    }
)
RESPONSE_OVERRIDES = {
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
    "response-content-language": "Content-Language",
    "response-content-type": "Content-Type",
    "response-expires": "Expires",
}


@dataclass(frozen=True, slots=True)
class PutBucketNotification:
    bucket: str


@dataclass(frozen=True, slots=True)
class ListBuckets:
    pass


@dataclass(frozen=True, slots=True)
class ListenNotification:
    """MinIO's ListenBucketNotification: `GET /<bucket>?events=...` (or `GET /?events=...`, every bucket).

    `events` may repeat, so the handler reads it (with prefix and suffix) from the query pairs."""

    bucket: str | None


@dataclass(frozen=True, slots=True)
class CreateBucket:
    bucket: str


@dataclass(frozen=True, slots=True)
class HeadBucket:
    bucket: str


@dataclass(frozen=True, slots=True)
class DeleteBucket:
    bucket: str


@dataclass(frozen=True, slots=True)
class GetBucketConfig:
    """One of the read-only configuration probes; `kind` is the sub-resource name."""

    bucket: str
    kind: str


@dataclass(frozen=True, slots=True)
class ListObjects:
    bucket: str
    v2: bool
    prefix: str = ""
    delimiter: str = ""
    max_keys: int = 1000
    marker: str | None = None  # V1 marker, or V2 start-after
    continuation_token: str | None = None
    fetch_owner: bool = False
    url_encoding: bool = False


@dataclass(frozen=True, slots=True)
class DeleteObjects:
    bucket: str


@dataclass(frozen=True, slots=True)
class PostObject:
    bucket: str


@dataclass(frozen=True, slots=True)
class PutObject:
    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class CopyObject:
    bucket: str
    key: str
    source_bucket: str
    source_key: str
    source_version: str | None


@dataclass(frozen=True, slots=True)
class GetObject:
    bucket: str
    key: str
    version_id: str | None = None
    part_number: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeadObject:
    bucket: str
    key: str
    version_id: str | None = None
    part_number: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteObject:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetObjectAcl:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateMultipartUpload:
    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class UploadPart:
    bucket: str
    key: str
    upload_id: str
    part_number: int


@dataclass(frozen=True, slots=True)
class UploadPartCopy:
    bucket: str
    key: str
    upload_id: str
    part_number: int
    source: CopyObject


@dataclass(frozen=True, slots=True)
class CompleteMultipartUpload:
    bucket: str
    key: str
    upload_id: str


@dataclass(frozen=True, slots=True)
class AbortMultipartUpload:
    bucket: str
    key: str
    upload_id: str


@dataclass(frozen=True, slots=True)
class ListParts:
    bucket: str
    key: str
    upload_id: str
    max_parts: int = 1000
    part_number_marker: int = 0


@dataclass(frozen=True, slots=True)
class ListMultipartUploads:
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    upload_id_marker: str = ""
    max_uploads: int = 1000
    url_encoding: bool = False


@dataclass(frozen=True, slots=True)
class PutBucketVersioning:
    bucket: str


@dataclass(frozen=True, slots=True)
class ListObjectVersions:
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    version_id_marker: str = ""
    max_keys: int = 1000
    url_encoding: bool = False


@dataclass(frozen=True, slots=True)
class PutBucketTagging:
    bucket: str


@dataclass(frozen=True, slots=True)
class DeleteBucketTagging:
    bucket: str


@dataclass(frozen=True, slots=True)
class GetObjectTagging:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class PutObjectTagging:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteObjectTagging:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class Unsupported:
    operation: str


Endpoint = (
    ListBuckets | CreateBucket | HeadBucket | DeleteBucket | GetBucketConfig | ListObjects | DeleteObjects
    | PostObject | PutObject | CopyObject | GetObject | HeadObject | DeleteObject | GetObjectAcl
    | CreateMultipartUpload | UploadPart | UploadPartCopy | CompleteMultipartUpload | AbortMultipartUpload
    | ListParts | ListMultipartUploads | PutBucketVersioning | ListObjectVersions | PutBucketTagging
    | DeleteBucketTagging | GetObjectTagging | PutObjectTagging | DeleteObjectTagging | PutBucketNotification
    | ListenNotification | Unsupported
)


def split_target(path: str, host: str, domains: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(bucket, key) from virtual-host style (`bucket.domain`) or path style (`/bucket/key`)."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    for domain in domains:
        suffix = "." + domain
        if hostname.endswith(suffix) and len(hostname) > len(suffix):
            key = path[1:] if path.startswith("/") else path
            return hostname[: -len(suffix)], (key or None)
    trimmed = path[1:] if path.startswith("/") else path
    if not trimmed:
        return None, None
    bucket, sep, key = trimmed.partition("/")
    return bucket, (key if sep and key else None)


def route(method: str, bucket: str | None, key: str | None, query: dict[str, str], headers: dict[str, str]) -> Endpoint:
    if bucket is None:
        if method == "GET":
            return ListenNotification(None) if "events" in query else ListBuckets()
        raise MethodNotAllowed()
    if key is None:
        return _bucket_endpoint(method, bucket, query, headers)
    return _object_endpoint(method, bucket, key, query, headers)


def _sub(query: dict[str, str]) -> str | None:
    for name in query:
        if name in _SUBRESOURCES:
            return name
    return None


def _bucket_endpoint(method: str, bucket: str, query: dict[str, str], headers: dict[str, str]) -> Endpoint:
    sub = _sub(query)
    if method == "GET":
        if sub in _BUCKET_CONFIGS:
            return GetBucketConfig(bucket, sub)
        if sub is None and "events" in query:
            return ListenNotification(bucket)
        if sub is None:
            return _list_objects(bucket, query)
        if sub == "uploads":
            return _list_uploads(bucket, query)
        if sub == "versions":
            return _list_versions(bucket, query)
        return Unsupported(f"GET ?{sub}")
    if method == "HEAD" and sub is None:
        return HeadBucket(bucket)
    if method == "PUT" and sub is None:
        return CreateBucket(bucket)
    if method == "PUT" and sub == "versioning":
        return PutBucketVersioning(bucket)
    if method == "PUT" and sub == "tagging":
        return PutBucketTagging(bucket)
    if method == "PUT" and sub == "notification":
        return PutBucketNotification(bucket)
    if method == "DELETE" and sub is None:
        return DeleteBucket(bucket)
    if method == "DELETE" and sub == "tagging":
        return DeleteBucketTagging(bucket)
    if method == "POST":
        if sub == "delete":
            return DeleteObjects(bucket)
        if sub is None and headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return PostObject(bucket)
    if method not in ("GET", "HEAD", "PUT", "DELETE", "POST"):
        raise MethodNotAllowed()
    return Unsupported(f"{method} bucket{f' ?{sub}' if sub else ''}")


def _multipart_endpoint(
    method: str, bucket: str, key: str, query: dict[str, str], headers: dict[str, str]
) -> Endpoint | None:
    upload_id = query.get("uploadId")
    if upload_id is None:
        if method == "POST" and "uploads" in query:
            return CreateMultipartUpload(bucket, key)
        return None
    if method == "PUT" and "partNumber" in query:
        part = _int_param(query, "partNumber", 1, 10000)
        source = headers.get("x-amz-copy-source")
        if source is not None:
            return UploadPartCopy(bucket, key, upload_id, part, _copy_object(bucket, key, source))
        return UploadPart(bucket, key, upload_id, part)
    if method == "POST":
        return CompleteMultipartUpload(bucket, key, upload_id)
    if method == "DELETE":
        return AbortMultipartUpload(bucket, key, upload_id)
    if method == "GET":
        return ListParts(
            bucket, key, upload_id,
            max_parts=_page_size(query, "max-parts"),
            part_number_marker=_int_param(query, "part-number-marker", 0, 10000) if "part-number-marker" in query else 0,
        )
    return None


def _object_endpoint(method: str, bucket: str, key: str, query: dict[str, str], headers: dict[str, str]) -> Endpoint:
    multipart = _multipart_endpoint(method, bucket, key, query, headers)
    if multipart is not None:
        return multipart
    sub = _sub(query)
    version_id = query.get("versionId")
    if method in ("GET", "HEAD") and sub in (None, "partNumber"):
        part = _int_param(query, "partNumber", 1, 10000) if sub == "partNumber" else None
        overrides = {RESPONSE_OVERRIDES[k]: v for k, v in query.items() if k in RESPONSE_OVERRIDES}
        cls = GetObject if method == "GET" else HeadObject
        return cls(bucket, key, version_id, part, overrides)
    if method == "GET" and sub == "acl":
        return GetObjectAcl(bucket, key, version_id)
    if sub == "tagging" and method in _OBJECT_TAGGING:
        return _OBJECT_TAGGING[method](bucket, key, version_id)
    if method == "PUT" and sub is None:
        source = headers.get("x-amz-copy-source")
        if source is not None:
            return _copy_object(bucket, key, source)
        return PutObject(bucket, key)
    if method == "DELETE" and sub is None:
        return DeleteObject(bucket, key, version_id)
    if method not in ("GET", "HEAD", "PUT", "DELETE", "POST"):
        raise MethodNotAllowed()
    return Unsupported(f"{method} object{f' ?{sub}' if sub else ''}")


def _copy_object(bucket: str, key: str, source: str) -> CopyObject:
    raw, _, params = source.partition("?")
    version = None
    if params.startswith("versionId="):
        version = unquote(params[len("versionId="):])
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArgument("Invalid copy source encoding", ArgumentName="x-amz-copy-source") from None
    path = path[1:] if path.startswith("/") else path
    src_bucket, sep, src_key = path.partition("/")
    if not sep or not src_bucket or not src_key:
        raise InvalidArgument("Invalid copy source object key", ArgumentName="x-amz-copy-source")
    return CopyObject(bucket, key, src_bucket, src_key, version)


def _list_objects(bucket: str, query: dict[str, str]) -> ListObjects:
    v2 = query.get("list-type") == "2"
    if "list-type" in query and not v2:
        raise InvalidArgument("Invalid List Type", ArgumentName="list-type")
    return ListObjects(
        bucket=bucket,
        v2=v2,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        max_keys=_page_size(query, "max-keys"),
        marker=query.get("start-after" if v2 else "marker"),
        continuation_token=query.get("continuation-token") if v2 else None,
        fetch_owner=query.get("fetch-owner") == "true",
        url_encoding=_url_encoding(query),
    )


_OBJECT_TAGGING: dict[str, type[GetObjectTagging | PutObjectTagging | DeleteObjectTagging]] = {
    "GET": GetObjectTagging,
    "PUT": PutObjectTagging,
    "DELETE": DeleteObjectTagging,
}


def _list_versions(bucket: str, query: dict[str, str]) -> ListObjectVersions:
    return ListObjectVersions(
        bucket=bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        key_marker=query.get("key-marker", ""),
        version_id_marker=query.get("version-id-marker", ""),
        max_keys=_page_size(query, "max-keys"),
        url_encoding=_url_encoding(query),
    )


def _list_uploads(bucket: str, query: dict[str, str]) -> ListMultipartUploads:
    return ListMultipartUploads(
        bucket=bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        key_marker=query.get("key-marker", ""),
        upload_id_marker=query.get("upload-id-marker", ""),
        max_uploads=_page_size(query, "max-uploads"),
        url_encoding=_url_encoding(query),
    )


def _url_encoding(query: dict[str, str]) -> bool:
    encoding = query.get("encoding-type")
    if encoding not in (None, "url"):
        raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    return encoding == "url"


def _page_size(query: dict[str, str], name: str) -> int:
    """max-keys and its kin: a non-negative integer, capped at S3's 1,000 per page."""
    return min(_int_param(query, name, 0, 2**31 - 1), 1000) if name in query else 1000


def _int_param(query: dict[str, str], name: str, low: int, high: int) -> int:
    raw = query.get(name, "")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range", ArgumentName=name) from None
    if not low <= value <= high:
        raise InvalidArgument(f"Argument {name} must be an integer between {low} and {high}", ArgumentName=name)
    return value
