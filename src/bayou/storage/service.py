"""The storage facade: S3 semantics over a `MetaStore` and a `BlobStore`, with no HTTP in sight.

Every mutation is one metadata transaction (DESIGN.md invariant 2). Blobs a mutation stops
referencing are not deleted inline: the transaction queues a `blob.delete` outbox row and the
garbage collector removes the file after the commit (invariant 3), so a crash never leaves a
row pointing at a missing blob.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bayou.blobs.store import BlobStore, new_blob_id
from bayou.clock import Clock
from bayou.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidPartNumber,
    InvalidRequest,
    NoSuchBucket,
    NoSuchKey,
)
from bayou.meta.records import DEFAULT_INLINE_LIMIT, BucketRecord, Checksum, ObjectRecord, PartRecord
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage import conditions, listing, names
from bayou.storage.conditions import Preconditions
from bayou.storage.models import (
    DeleteResult,
    Integrity,
    ManifestReader,
    ObjectAttributes,
    ObjectContent,
    PutRequest,
)
from bayou.storage.ranges import ByteRange, parse_range
from bayou.storage.writes import ReceivedBody, receive_body, stored_checksum

BLOB_DELETE = "blob.delete"
_OPEN_RETRIES = 3


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: str
    key: str
    preconditions: Preconditions


def release_blob(tx: MetaTx, record: ObjectRecord) -> None:
    """Drop an object's bytes once nothing references them (inline now, files after commit)."""
    if record.inline:
        tx.delete_inline(record.blob_id)
    elif record.parts_count:
        for blob_id in tx.delete_manifest(record.blob_id):
            tx.add_outbox(BLOB_DELETE, {"blob_id": blob_id})
    else:
        tx.add_outbox(BLOB_DELETE, {"blob_id": record.blob_id})


class StorageService:
    def __init__(
        self,
        meta: MetaStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        region: str,
        owner: str,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.region = region
        self.owner = owner
        self.inline_limit = inline_limit

    # --- buckets ----------------------------------------------------------------------------

    async def create_bucket(self, name: str) -> BucketRecord:
        names.check_bucket_name(name)
        record = BucketRecord(name=name, created_at=self.clock.now(), region=self.region, owner=self.owner)
        created = await self.meta.write(lambda tx: tx.insert_bucket(record))
        if not created:
            raise BucketAlreadyOwnedByYou(BucketName=name)
        return record

    async def get_bucket(self, name: str) -> BucketRecord:
        bucket = await self.meta.get_bucket(name)
        if bucket is None:
            raise NoSuchBucket(BucketName=name)
        return bucket

    async def delete_bucket(self, name: str) -> None:
        def delete(tx: MetaTx) -> None:
            if tx.get_bucket(name) is None:
                raise NoSuchBucket(BucketName=name)
            if not tx.bucket_is_empty(name):
                raise BucketNotEmpty(BucketName=name)
            tx.delete_bucket(name)

        await self.meta.write(delete)

    async def list_buckets(self) -> list[BucketRecord]:
        return await self.meta.list_buckets()

    # --- writes -----------------------------------------------------------------------------

    async def put_object(self, request: PutRequest) -> ObjectRecord:
        names.check_key(request.key)
        await self.get_bucket(request.bucket)
        received = await receive_body(
            request.body,
            self.blobs,
            request.integrity,
            inline_limit=self.inline_limit,
            content_length=request.content_length,
        )
        algorithm, value = stored_checksum(request.integrity, received.checksums)
        checksum = Checksum(algorithm, value, request.integrity.checksum_type)
        return await self._commit(
            request.bucket, request.key, received, request.attributes, checksum,
            if_match=request.if_match, if_none_match=request.if_none_match,
        )

    async def _commit(
        self,
        bucket: str,
        key: str,
        received: ReceivedBody,
        attributes: ObjectAttributes,
        checksum: Checksum | None,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ObjectRecord:
        try:
            await received.commit_blob()
        except BaseException:
            received.discard()
            raise
        record = ObjectRecord(
            bucket=bucket,
            key=key,
            size=received.size,
            etag=received.md5_hex,
            last_modified=self.clock.now(),
            blob_id=received.blob.blob_id if received.blob else new_blob_id(),
            inline=received.blob is None,
            content_type=attributes.content_type or "binary/octet-stream",
            system_headers=attributes.system_headers,
            user_metadata=attributes.user_metadata,
            checksum=checksum,
            storage_class=attributes.storage_class,
        )

        def commit(tx: MetaTx) -> None:
            if tx.get_bucket(bucket) is None:
                raise NoSuchBucket(BucketName=bucket)
            current = tx.get_object(bucket, key)
            conditions.check_write(if_match, if_none_match, current)
            tx.put_object(record, received.inline_data)
            if current is not None:
                release_blob(tx, current)

        try:
            await self.meta.write(commit)
        except BaseException:
            if received.blob is not None:
                self.blobs.delete(received.blob.blob_id)
            raise
        return record

    async def delete_object(self, bucket: str, key: str) -> None:
        """Idempotent: deleting a missing key succeeds, as in S3."""
        names.check_key(key)

        def delete(tx: MetaTx) -> None:
            if tx.get_bucket(bucket) is None:
                raise NoSuchBucket(BucketName=bucket)
            current = tx.get_object(bucket, key)
            if current is not None:
                tx.delete_object(bucket, key)
                release_blob(tx, current)

        await self.meta.write(delete)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[DeleteResult]:
        """DeleteObjects: one transaction for the whole batch; per-key errors are reported, not raised."""
        await self.get_bucket(bucket)

        def delete(tx: MetaTx) -> list[DeleteResult]:
            results = []
            for key in keys:
                try:
                    names.check_key(key)
                except Exception as exc:  # a per-key error in the result document
                    code = getattr(exc, "code", "InternalError")
                    results.append(DeleteResult(key, False, code, str(exc)))
                    continue
                current = tx.get_object(bucket, key)
                if current is not None:
                    tx.delete_object(bucket, key)
                    release_blob(tx, current)
                results.append(DeleteResult(key, True))
            return results

        return await self.meta.write(delete)

    async def copy_object(
        self,
        source: CopySource,
        bucket: str,
        key: str,
        *,
        replace_attributes: ObjectAttributes | None,
    ) -> tuple[ObjectRecord, ObjectRecord]:
        """CopyObject; returns (new record, source record). `replace_attributes` None = COPY directive."""
        names.check_key(key)
        await self.get_bucket(bucket)
        content = await self.open_object(source.bucket, source.key, byte_range=None)
        try:
            conditions.check_copy_source(source.preconditions, content.record)
            if (source.bucket, source.key) == (bucket, key) and replace_attributes is None:
                raise InvalidRequest(
                    "This copy request is illegal because it is trying to copy an object to itself without "
                    "changing the object's metadata, storage class, website redirect location or encryption attributes."
                )
            src = content.record
            attributes = replace_attributes or ObjectAttributes(
                src.content_type, dict(src.system_headers), dict(src.user_metadata), src.storage_class
            )
            algorithm = src.checksum.algorithm if src.checksum else None
            received = await receive_body(
                content.chunks(),
                self.blobs,
                _integrity_for(algorithm),
                inline_limit=self.inline_limit,
                content_length=src.size,
            )
        finally:
            content.close()
        checksum = None
        if algorithm is not None and src.checksum is not None:
            checksum = replace(src.checksum, value=received.checksums[algorithm])
        record = await self._commit(bucket, key, received, attributes, checksum)
        return record, src

    # --- reads ------------------------------------------------------------------------------

    async def head_object(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: str | None = None,
        preconditions: Preconditions | None = None,
        part_number: int | None = None,
    ) -> tuple[ObjectRecord, ByteRange | None]:
        """Metadata only, after conditions and range are checked (HeadObject)."""
        names.check_key(key)
        found = await self.meta.get_object(bucket, key, with_data=False)
        if found is None:
            await self.get_bucket(bucket)
            raise NoSuchKey(Key=key)
        record = found[0]
        if preconditions is not None:
            conditions.check_read(preconditions, record)
        if part_number:
            parts = await self.meta.get_manifest(record.blob_id) if record.parts_count else []
            return record, part_range(record, parts, part_number)
        return record, parse_range(byte_range, record.size)

    async def open_object(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: str | None,
        preconditions: Preconditions | None = None,
        part_number: int | None = None,
    ) -> ObjectContent:
        """Metadata plus a way to stream the bytes, after conditions and range are checked."""
        names.check_key(key)
        for _ in range(_OPEN_RETRIES):
            found = await self.meta.get_object(bucket, key, with_data=True)
            if found is None:
                await self.get_bucket(bucket)
                raise NoSuchKey(Key=key)
            record, data = found
            if preconditions is not None:
                conditions.check_read(preconditions, record)
            parts = await self.meta.get_manifest(record.blob_id) if record.parts_count else []
            rng = part_range(record, parts, part_number) if part_number else parse_range(byte_range, record.size)
            if record.inline:
                return ObjectContent(record, rng, data=data if data is not None else b"")
            try:
                reader = ManifestReader(self.blobs, parts) if parts else self.blobs.open(record.blob_id)
                return ObjectContent(record, rng, reader=reader)
            except FileNotFoundError:
                continue  # overwritten and collected between our read and open: read again
        raise NoSuchKey(Key=key)

    async def list_objects(
        self, bucket: str, *, prefix: str, delimiter: str, after: listing.Cursor | None, max_keys: int
    ) -> listing.Page:
        await self.get_bucket(bucket)

        async def fetch(start: bytes, inclusive: bool, end: bytes | None, limit: int) -> list[ObjectRecord]:
            return await self.meta.list_objects(bucket, start, inclusive, end, limit)

        return await listing.list_page(fetch, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)


def part_range(record: ObjectRecord, parts: list[PartRecord], part_number: int) -> ByteRange | None:
    """GET ?partNumber=N: the bytes of part N (a single-part object has only part 1)."""
    if not parts:
        if part_number != 1:
            raise InvalidPartNumber(PartNumberRequested=str(part_number), ActualPartCount="1")
        return None
    if part_number > len(parts):
        raise InvalidPartNumber(PartNumberRequested=str(part_number), ActualPartCount=str(len(parts)))
    part = parts[part_number - 1]
    return ByteRange(part.start, part.start + part.size - 1)


def _integrity_for(algorithm: str | None) -> Integrity:
    return Integrity(compute={algorithm} if algorithm else set())
