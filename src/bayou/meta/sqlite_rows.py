"""Records ⇄ SQLite rows for the metadata store (one place for column lists and JSON fields)."""

from __future__ import annotations

import json
from typing import Any

from bayou.meta.records import BucketRecord, Checksum, ObjectRecord, PartRecord, UploadRecord

#: Columns shared by `objects` (current versions) and `versions` (noncurrent ones, delete markers).
OBJECT_COLUMNS = (
    "bucket, key, version_id, size, etag, last_modified, blob_id, inline, content_type, "
    "system_headers, user_metadata, checksum, storage_class, parts_count, seq, tags"
)
OBJECT_MARKS = ", ".join("?" * 16)
VERSION_COLUMNS = OBJECT_COLUMNS + ", delete_marker"
VERSION_MARKS = OBJECT_MARKS + ", ?"
BUCKET_COLUMNS = "name, created_at, region, owner, versioning, tags"
UPLOAD_COLUMNS = "upload_id, bucket, key, created_at, attributes, checksum_algorithm, checksum_type"
PART_COLUMNS = "part_number, blob_id, size, etag, checksum, last_modified"


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def object_params(record: ObjectRecord) -> tuple[Any, ...]:
    checksum = None
    if record.checksum is not None:
        c = record.checksum
        checksum = json.dumps({"algorithm": c.algorithm, "value": c.value, "type": c.type})
    return (
        record.bucket, record.key.encode(), record.version_id, record.size, record.etag, record.last_modified,
        record.blob_id, int(record.inline), record.content_type, json.dumps(record.system_headers),
        json.dumps(record.user_metadata), checksum, record.storage_class, record.parts_count, record.seq,
        _json_or_none(record.tags or None),
    )


def version_params(record: ObjectRecord) -> tuple[Any, ...]:
    return (*object_params(record), int(record.delete_marker))


def _map(text: str | None) -> dict[str, str]:
    """JSON maps of metadata; most objects have none, and '{}' need not be parsed."""
    return json.loads(text) if text and text != "{}" else {}


def object_from_row(row: tuple[Any, ...]) -> ObjectRecord:
    """From OBJECT_COLUMNS (and VERSION_COLUMNS: a 17th delete_marker column)."""
    checksum = json.loads(row[11]) if row[11] else None
    return ObjectRecord(
        bucket=row[0],
        key=bytes(row[1]).decode("utf-8"),
        version_id=row[2],
        size=row[3],
        etag=row[4],
        last_modified=row[5],
        blob_id=row[6],
        inline=bool(row[7]),
        content_type=row[8],
        system_headers=_map(row[9]),
        user_metadata=_map(row[10]),
        checksum=Checksum(**checksum) if checksum else None,
        storage_class=row[12],
        parts_count=row[13],
        seq=row[14],
        tags=_map(row[15]),
        delete_marker=bool(row[16]) if len(row) > 16 else False,
    )


def bucket_from_row(row: tuple[Any, ...]) -> BucketRecord:
    return BucketRecord(
        name=row[0], created_at=row[1], region=row[2], owner=row[3], versioning=row[4],
        tags=json.loads(row[5]) if row[5] is not None else None,
    )


def upload_params(upload: UploadRecord) -> tuple[Any, ...]:
    attributes = {
        "content_type": upload.content_type,
        "system_headers": upload.system_headers,
        "user_metadata": upload.user_metadata,
        "storage_class": upload.storage_class,
        "tags": upload.tags,
    }
    return (
        upload.upload_id, upload.bucket, upload.key.encode(), upload.created_at, json.dumps(attributes),
        upload.checksum_algorithm, upload.checksum_type,
    )


def upload_from_row(row: tuple[Any, ...]) -> UploadRecord:
    attributes = json.loads(row[4])
    return UploadRecord(
        upload_id=row[0],
        bucket=row[1],
        key=bytes(row[2]).decode("utf-8"),
        created_at=row[3],
        content_type=attributes["content_type"],
        system_headers=attributes["system_headers"],
        user_metadata=attributes["user_metadata"],
        storage_class=attributes["storage_class"],
        checksum_algorithm=row[5],
        checksum_type=row[6],
        tags=attributes.get("tags") or {},
    )


def part_from_row(row: tuple[Any, ...]) -> PartRecord:
    return PartRecord(
        part_number=row[0], blob_id=row[1], size=row[2], etag=row[3], checksum=row[4], last_modified=row[5]
    )
