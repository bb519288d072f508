"""Object headers both ways: request headers → attributes and integrity; a record → response headers."""

from __future__ import annotations

from email.utils import formatdate
from functools import lru_cache

from bayou.errors import InvalidArgument, InvalidStorageClass, MetadataTooLarge
from bayou.meta.records import ObjectRecord
from bayou.storage import tagging
from bayou.storage.checksums import ALGORITHMS
from bayou.storage.conditions import Preconditions
from bayou.storage.models import Integrity, ObjectAttributes
from bayou.storage.ranges import ByteRange

SYSTEM_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
STORAGE_CLASSES = frozenset(
    {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
     "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE"}
)
MAX_USER_METADATA = 2048
META_PREFIX = "x-amz-meta-"


def http_date(seconds: float) -> str:
    return _http_date(int(seconds))


@lru_cache(maxsize=1024)
def _http_date(seconds: int) -> str:
    """Cached: ``formatdate`` costs several microseconds, and hot objects are read again and again."""
    return formatdate(seconds, usegmt=True)


def attributes_from(headers: dict[str, str]) -> ObjectAttributes:
    system = {name: headers[name] for name in SYSTEM_HEADERS if name in headers}
    if "content-encoding" in system:
        codings = [c.strip() for c in system["content-encoding"].split(",") if c.strip().lower() != "aws-chunked"]
        if codings:
            system["content-encoding"] = ",".join(codings)
        else:
            del system["content-encoding"]
    user = {name[len(META_PREFIX):]: value for name, value in headers.items() if name.startswith(META_PREFIX)}
    if sum(len(k) + len(v) for k, v in user.items()) > MAX_USER_METADATA:
        raise MetadataTooLarge(MaxSizeAllowed=str(MAX_USER_METADATA))
    storage_class = headers.get("x-amz-storage-class", "STANDARD")
    if storage_class not in STORAGE_CLASSES:
        raise InvalidStorageClass(StorageClassRequested=storage_class)
    tags = tagging.parse_header(headers["x-amz-tagging"]) if "x-amz-tagging" in headers else {}
    return ObjectAttributes(headers.get("content-type"), system, user, storage_class, tags)


def integrity_from(headers: dict[str, str], trailers: list[str]) -> Integrity:
    integrity = Integrity(content_md5=headers.get("content-md5"))
    for algorithm in ALGORITHMS:
        value = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value is not None:
            integrity.checksums[algorithm] = value
    for name in trailers:
        algorithm = name.removeprefix("x-amz-checksum-").upper()
        if not name.startswith("x-amz-checksum-") or algorithm not in ALGORITHMS:
            raise InvalidArgument(f"Unsupported trailer {name}", ArgumentName="x-amz-trailer")
        integrity.algorithms.add(algorithm)
    declared = headers.get("x-amz-sdk-checksum-algorithm") or headers.get("x-amz-checksum-algorithm")
    if declared:
        if declared.upper() not in ALGORITHMS:
            raise InvalidArgument(f"Checksum algorithm {declared} is not supported", ArgumentName="x-amz-checksum-algorithm")
        integrity.algorithms.add(declared.upper())
    checksum_type = headers.get("x-amz-checksum-type")
    if checksum_type is not None:
        if checksum_type not in ("FULL_OBJECT", "COMPOSITE"):
            raise InvalidArgument("Invalid x-amz-checksum-type", ArgumentName="x-amz-checksum-type")
        integrity.checksum_type = checksum_type
    if len(integrity.checksums) > 1:
        raise InvalidArgument("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    return integrity


def preconditions_from(headers: dict[str, str], prefix: str = "") -> Preconditions:
    return Preconditions(
        if_match=headers.get(f"{prefix}if-match"),
        if_none_match=headers.get(f"{prefix}if-none-match"),
        if_modified_since=headers.get(f"{prefix}if-modified-since"),
        if_unmodified_since=headers.get(f"{prefix}if-unmodified-since"),
    )


def object_headers(
    record: ObjectRecord,
    *,
    byte_range: ByteRange | None = None,
    checksum_mode: bool = False,
    overrides: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Response headers describing an object (GET/HEAD), with response-* overrides applied."""
    headers = [
        ("ETag", f'"{record.etag}"'),
        ("Last-Modified", http_date(record.last_modified)),
        ("Accept-Ranges", "bytes"),
        ("Content-Type", record.content_type),
    ]
    headers.extend((name.title(), value) for name, value in record.system_headers.items())
    headers.extend((META_PREFIX + name, value) for name, value in record.user_metadata.items())
    if record.storage_class != "STANDARD":
        headers.append(("x-amz-storage-class", record.storage_class))
    if record.version_id != "null":
        headers.append(("x-amz-version-id", record.version_id))
    if record.tags:
        headers.append(("x-amz-tagging-count", str(len(record.tags))))
    if byte_range is not None:
        headers.append(("Content-Range", byte_range.content_range(record.size)))
    elif checksum_mode and record.checksum is not None:
        headers.append((f"x-amz-checksum-{record.checksum.algorithm.lower()}", record.checksum.value))
        headers.append(("x-amz-checksum-type", record.checksum.type))
    if overrides:
        replaced = {name.lower() for name in overrides}
        headers = [(n, v) for n, v in headers if n.lower() not in replaced]
        headers.extend(overrides.items())
    return headers
