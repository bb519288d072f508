"""Multipart upload: parts are blobs; Complete writes a manifest and never copies part data.

A completed multipart object is a metadata row whose `blob_id` names a manifest: the ordered list
of part blobs with their start offsets. Completing 10,000 parts of 5 GiB costs the same as 10,000
parts of 5 MiB. Part blobs that a Complete leaves out, an Abort drops, or a re-upload replaces
are queued for deletion in the same transaction (outbox), like any other unreferenced blob.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from awscrt import checksums as _crt

from bayou.blobs.store import new_blob_id
from bayou.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    NoSuchUpload,
)
from bayou.meta.records import Checksum, ObjectRecord, PartRecord, UploadRecord
from bayou.meta.store import MetaTx
from bayou.storage import checksums, conditions, events, listing, names
from bayou.storage.models import Integrity, ObjectAttributes
from bayou.storage.ranges import ByteRange
from bayou.storage.release import BLOB_DELETE
from bayou.storage.service import CopySource, StorageService
from bayou.storage.versioning import install_current, next_seq, version_for_write
from bayou.storage.writes import receive_body

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_PART_NUMBER = 10_000
_COMBINE = {"CRC32": _crt.combine_crc32, "CRC32C": _crt.combine_crc32c, "CRC64NVME": _crt.combine_crc64nvme}
_CRC_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8}


@dataclass(frozen=True, slots=True)
class CompletedPart:
    part_number: int
    etag: str
    checksums: dict[str, str]


def check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=str(part_number),
        )


def multipart_etag(parts: list[PartRecord]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts))
    return f"{digest.hexdigest()}-{len(parts)}"


def combined_checksum(algorithm: str, checksum_type: str, parts: list[PartRecord]) -> str | None:
    """The object checksum from part checksums: composite (hash of hashes, "-N") or full-object (CRC combine)."""
    if any(p.checksum is None for p in parts):
        return None
    raws = [base64.b64decode(p.checksum or "") for p in parts]
    if checksum_type == "FULL_OBJECT":
        combine = _COMBINE[algorithm]
        value = int.from_bytes(raws[0], "big")
        for raw, part in zip(raws[1:], parts[1:], strict=True):
            value = combine(value, int.from_bytes(raw, "big"), part.size)
        return checksums.encode(value.to_bytes(_CRC_SIZES[algorithm], "big"))
    digest = checksums.new_digest(algorithm)
    digest.update(b"".join(raws))
    return f"{checksums.encode(digest.digest())}-{len(parts)}"


class MultipartService:
    def __init__(self, storage: StorageService) -> None:
        self.storage = storage
        self.meta = storage.meta

    async def create(
        self, bucket: str, key: str, attributes: ObjectAttributes, algorithm: str | None, checksum_type: str | None
    ) -> UploadRecord:
        names.check_key(key)
        await self.storage.get_bucket(bucket)
        if checksum_type == "FULL_OBJECT" and algorithm not in _COMBINE:
            raise InvalidRequest(f"The FULL_OBJECT checksum type cannot be used with the {algorithm} checksum algorithm.")
        if checksum_type == "COMPOSITE" and algorithm == "CRC64NVME":
            raise InvalidRequest("The COMPOSITE checksum type cannot be used with the CRC64NVME checksum algorithm.")
        if algorithm and checksum_type is None:
            checksum_type = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
        upload = UploadRecord(
            upload_id=new_blob_id(),
            bucket=bucket,
            key=key,
            created_at=self.storage.clock.now(),
            content_type=attributes.content_type,
            system_headers=attributes.system_headers,
            user_metadata=attributes.user_metadata,
            storage_class=attributes.storage_class,
            checksum_algorithm=algorithm,
            checksum_type=checksum_type,
            tags=attributes.tags,
        )
        await self.meta.write(lambda tx: tx.insert_upload(upload))
        return upload

    async def _upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        upload = await self.meta.get_upload(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            await self.storage.get_bucket(bucket)
            raise NoSuchUpload(UploadId=upload_id)
        return upload

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: AsyncIterator[bytes],
        integrity: Integrity,
        content_length: int | None,
    ) -> PartRecord:
        check_part_number(part_number)
        upload = await self._upload(bucket, key, upload_id)
        if upload.checksum_algorithm:
            integrity.compute.add(upload.checksum_algorithm)
        received = await receive_body(
            body, self.storage.blobs, integrity, inline_limit=-1, content_length=content_length,
            max_size=MAX_PART_SIZE,
        )
        assert received.blob is not None
        try:
            await received.commit_blob()
        except BaseException:
            received.discard()
            raise
        part = PartRecord(
            part_number=part_number,
            blob_id=received.blob.blob_id,
            size=received.size,
            etag=received.md5_hex,
            checksum=received.checksums.get(upload.checksum_algorithm or ""),
            last_modified=self.storage.clock.now(),
            checksum_algorithm=upload.checksum_algorithm,
        )

        def record(tx: MetaTx) -> None:
            if tx.get_upload(upload_id) is None:
                raise NoSuchUpload(UploadId=upload_id)
            replaced = tx.put_part(upload_id, part)
            if replaced is not None:
                tx.add_outbox(BLOB_DELETE, {"blob_id": replaced.blob_id})

        try:
            await self.meta.write(record)
        except BaseException:
            self.storage.blobs.delete(part.blob_id)
            raise
        return part

    async def upload_part_copy(
        self, bucket: str, key: str, upload_id: str, part_number: int, source_bucket: str, source_key: str,
        source_range: str | None, preconditions: conditions.Preconditions, source_version: str | None = None,
    ) -> tuple[PartRecord, ObjectRecord]:
        check_part_number(part_number)
        await self._upload(bucket, key, upload_id)
        content = await self.storage.open_copy_source(
            CopySource(source_bucket, source_key, preconditions, source_version)
        )
        try:
            conditions.check_copy_source(preconditions, content.record)
            content.range = _copy_range(source_range, content.record.size)
            part = await self.upload_part(
                bucket, key, upload_id, part_number, content.chunks(), Integrity(), content.length
            )
        finally:
            content.close()
        return part, content.record

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        await self._upload(bucket, key, upload_id)

        def abort(tx: MetaTx) -> None:
            if tx.get_upload(upload_id) is None:
                raise NoSuchUpload(UploadId=upload_id)
            for part in tx.delete_upload(upload_id):
                tx.add_outbox(BLOB_DELETE, {"blob_id": part.blob_id})

        await self.meta.write(abort)

    async def complete(
        self, bucket: str, key: str, upload_id: str, requested: list[CompletedPart]
    ) -> CompletionResult:
        await self.storage.get_bucket(bucket)
        now = self.storage.clock.now()
        manifest_id = new_blob_id()
        origin = events.current_origin.get()

        def complete(tx: MetaTx) -> CompletionResult:
            upload = tx.get_upload(upload_id)
            if upload is None:
                return _earlier_completion(tx, bucket, key, upload_id)
            if upload.bucket != bucket or upload.key != key:
                raise NoSuchUpload(UploadId=upload_id)
            stored = {p.part_number: p for p in tx.list_parts(upload_id)}
            chosen = _choose_parts(requested, stored, upload)
            record = _completed_record(upload, chosen, manifest_id, now)
            tx.put_manifest(manifest_id, chosen)
            used = {p.blob_id for p in chosen}
            for part in tx.delete_upload(upload_id):
                if part.blob_id not in used:
                    tx.add_outbox(BLOB_DELETE, {"blob_id": part.blob_id})
            bucket_record = tx.get_bucket(bucket)
            if bucket_record is None:
                raise NoSuchUpload(UploadId=upload_id)
            seq = next_seq(tx, bucket, key, now)
            record = replace(record, seq=seq, version_id=version_for_write(bucket_record, seq))
            install_current(tx, bucket_record, record, tx.get_object(bucket, key), None)
            self.storage.emit(tx, [events.ObjectEvent(bucket, key, "ObjectCreated:CompleteMultipartUpload", seq, record,
                                                      versioned=bucket_record.versioning != "")], origin, now)
            result = CompletionResult(record.etag, record.version_id, record.checksum)
            tx.record_completion(upload, result.to_json(), now)
            return result

        return await self.storage.write_events(complete)


@dataclass(frozen=True, slots=True)
class CompletionResult:
    """What CompleteMultipartUpload answers; remembered so that a retry answers the same."""

    etag: str
    version_id: str
    checksum: Checksum | None

    def to_json(self) -> dict[str, object]:
        checksum = self.checksum
        return {
            "etag": self.etag,
            "version_id": self.version_id,
            "checksum": None if checksum is None else [checksum.algorithm, checksum.value, checksum.type],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompletionResult:
        checksum = Checksum(*data["checksum"]) if data.get("checksum") else None
        return cls(data["etag"], data["version_id"], checksum)


def _earlier_completion(tx: MetaTx, bucket: str, key: str, upload_id: str) -> CompletionResult:
    done = tx.get_completion(upload_id)
    if done is None or done[:2] != (bucket, key):
        raise NoSuchUpload(UploadId=upload_id)
    return CompletionResult.from_json(done[2])


def _choose_parts(
    requested: list[CompletedPart], stored: dict[int, PartRecord], upload: UploadRecord
) -> list[PartRecord]:
    chosen: list[PartRecord] = []
    previous = 0
    for item in requested:
        if item.part_number <= previous:
            raise InvalidPartOrder(UploadId=upload.upload_id)
        previous = item.part_number
        part = stored.get(item.part_number)
        if part is None or part.etag != item.etag.strip().strip('"'):
            raise InvalidPart(UploadId=upload.upload_id, PartNumber=str(item.part_number), ETag=item.etag)
        for algorithm, value in item.checksums.items():
            if algorithm != upload.checksum_algorithm or not hmac.compare_digest(value, part.checksum or ""):
                raise InvalidPart(
                    f"The {algorithm} checksum of part {item.part_number} does not match the uploaded part.",
                    UploadId=upload.upload_id, PartNumber=str(item.part_number),
                )
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall(
                ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(part.part_number),
                ETag=part.etag,
            )
    start = 0
    placed = []
    for part in chosen:
        placed.append(PartRecord(part.part_number, part.blob_id, part.size, part.etag, part.checksum, 0.0, start))
        start += part.size
    return placed


def _completed_record(upload: UploadRecord, parts: list[PartRecord], manifest_id: str, now: float) -> ObjectRecord:
    checksum = None
    if upload.checksum_algorithm:
        value = combined_checksum(upload.checksum_algorithm, upload.checksum_type or "COMPOSITE", parts)
        if value is not None:
            checksum = Checksum(upload.checksum_algorithm, value, upload.checksum_type or "COMPOSITE")
    return ObjectRecord(
        bucket=upload.bucket,
        key=upload.key,
        size=sum(p.size for p in parts),
        etag=multipart_etag(parts),
        last_modified=now,
        blob_id=manifest_id,
        inline=False,
        content_type=upload.content_type or "binary/octet-stream",
        system_headers=upload.system_headers,
        user_metadata=upload.user_metadata,
        checksum=checksum,
        storage_class=upload.storage_class,
        parts_count=len(parts),
        tags=upload.tags,
    )


def _copy_range(header: str | None, size: int) -> ByteRange | None:
    """x-amz-copy-source-range: bytes=first-last, both required and inside the source."""
    if header is None:
        return None
    spec = header.strip().removeprefix("bytes=")
    first, sep, last = spec.partition("-")
    if not header.strip().startswith("bytes=") or not sep or not first.isdigit() or not last.isdigit():
        raise InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", ArgumentName="x-amz-copy-source-range")
    start, end = int(first), int(last)
    if start > end or end >= size:
        raise InvalidRequest("The specified copy range is invalid for the source object size", ArgumentName="x-amz-copy-source-range")
    return ByteRange(start, end)


@dataclass(slots=True)
class UploadListing:
    uploads: list[UploadRecord]
    common_prefixes: list[str]
    is_truncated: bool
    #: The last entry returned: (key or common prefix, upload id or None), for the Next*Marker.
    last: tuple[str, str | None] | None = None


async def list_parts(
    service: MultipartService, bucket: str, key: str, upload_id: str, after: int, limit: int
) -> tuple[UploadRecord, list[PartRecord], bool]:
    upload = await service._upload(bucket, key, upload_id)
    parts = await service.meta.list_parts(upload_id, after, limit + 1)
    return upload, parts[:limit], len(parts) > limit


async def list_uploads(
    service: MultipartService, bucket: str, *, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str,
    limit: int,
) -> UploadListing:
    """Uploads in (key, upload id) order; with a delimiter, keys below a common prefix fold into it."""
    await service.storage.get_bucket(bucket)
    prefix_b = prefix.encode()
    end = listing.successor(prefix_b) if prefix_b else None
    if key_marker and delimiter and key_marker.endswith(delimiter) and key_marker.startswith(prefix) and not upload_id_marker:
        # The marker is a common prefix already listed: resume after everything under it.
        start, start_upload = listing.successor(key_marker.encode()) or b"\xff" * 4, ""
    elif key_marker and key_marker.encode() >= prefix_b:
        # Upload ids are hex, so "~" sorts after every id: no upload marker means "after this key".
        start, start_upload = key_marker.encode(), upload_id_marker or "~"
    else:
        start, start_upload = prefix_b, ""
    result = UploadListing([], [], False)
    batch = await service.meta.list_uploads(bucket, start, start_upload, end, limit * 4 + 1)
    for upload in batch:
        if not upload.key.startswith(prefix):
            continue
        common = listing.common_prefix(upload.key, prefix, delimiter)
        if common is not None and common in result.common_prefixes:
            continue
        if len(result.uploads) + len(result.common_prefixes) == limit:
            result.is_truncated = True
            break
        if common is not None:
            result.common_prefixes.append(common)
            result.last = (common, None)
        else:
            result.uploads.append(upload)
            result.last = (upload.key, upload.upload_id)
    return result
