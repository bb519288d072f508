"""The storage facade: S3 semantics over a `MetaStore` and a `BlobStore`, with no HTTP in sight.

Every mutation is one metadata transaction (DESIGN.md invariant 2). Blobs a mutation stops
referencing are not deleted inline: the transaction queues a `blob.delete` outbox row and the
garbage collector removes the file after the commit (invariant 3), so a crash never leaves a
row pointing at a missing blob.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from bayou.blobs.store import BlobStore, new_inline_blob_id
from bayou.clock import Clock
from bayou.errors import (
    BayouError,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidArgument,
    InvalidPartNumber,
    InvalidRequest,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from bayou.meta.records import DEFAULT_INLINE_LIMIT, BucketRecord, Checksum, ObjectRecord, PartRecord
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage import conditions, events, listing, names, versioning
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
from bayou.storage.versioning import DeleteOutcome, install_current, seq_after, version_for_write
from bayou.storage.writes import ReceivedBody, receive_body, stored_checksum

_OPEN_RETRIES = 3
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: str
    key: str
    preconditions: Preconditions
    version_id: str | None = None


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
        #: Called after a commit that queued event rows or invocations (the app wakes worker 0).
        self.on_events: Callable[[], None] | None = None
        self._emitted = 0

    def emit(self, tx: MetaTx, found: list[events.ObjectEvent], origin: events.EventOrigin, now: float) -> None:
        """Write the notification rows of these events inside the mutation's transaction."""
        if events.emit(tx, found, region=self.region, origin=origin, now=now):
            self._emitted += 1

    async def write_events(self, fn: Callable[[MetaTx], T]) -> T:
        """`meta.write` for mutations that may emit events: once committed, wake their consumers.

        Jobs run one at a time on the writer thread, so comparing the emit counter before and
        after this job's function tells whether *this* job queued anything; the wake-up comes
        only after its commit, when its future settles."""
        emitted = False

        def run(tx: MetaTx) -> T:
            nonlocal emitted
            before = self._emitted
            result = fn(tx)
            emitted = self._emitted != before
            return result

        result = await self.meta.write(run)
        if emitted and self.on_events is not None:
            self.on_events()
        return result

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
            tx.delete_docs(events.CONFIG_KIND, name)

        await self.meta.write(delete)

    async def get_notification_config(self, name: str) -> events.NotificationConfig:
        await self.get_bucket(name)
        return events.NotificationConfig.from_doc(await self.meta.get_doc(events.CONFIG_KIND, name, ""))

    async def put_notification_config(self, name: str, config: events.NotificationConfig) -> None:
        """Validate and store; each destination gets S3's s3:TestEvent in the same transaction."""
        events.validate(config)
        origin = events.current_origin.get()
        now = self.clock.now()

        def put(tx: MetaTx) -> None:
            if tx.get_bucket(name) is None:
                raise NoSuchBucket(BucketName=name)
            if config.rules or config.event_bridge:
                tx.put_doc(events.CONFIG_KIND, name, "", config.to_doc())
            else:
                tx.delete_doc(events.CONFIG_KIND, name, "")
            # As S3 does: queues and topics get an s3:TestEvent; functions get nothing until a real event.
            for arn in dict.fromkeys(rule.arn for rule in config.rules if rule.kind != "function"):
                rule = next(r for r in config.rules if r.arn == arn)
                events.deliver(tx, rule, events.s3_test_event(name, origin, now), key=f"{name}/", now=now)

        await self.write_events(put)

    async def list_buckets(self) -> list[BucketRecord]:
        return await self.meta.list_buckets()

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        """Enabled or Suspended; once enabled a bucket never returns to the unversioned state."""

        def update(tx: MetaTx) -> None:
            if tx.get_bucket(name) is None:
                raise NoSuchBucket(BucketName=name)
            tx.set_bucket_versioning(name, status)

        await self.write_events(update)

    async def set_bucket_tags(self, name: str, tags: dict[str, str] | None) -> None:
        def update(tx: MetaTx) -> None:
            if tx.get_bucket(name) is None:
                raise NoSuchBucket(BucketName=name)
            tx.set_bucket_tags(name, tags)

        await self.write_events(update)

    async def get_object_tags(self, bucket: str, key: str, version_id: str | None) -> ObjectRecord:
        record, _ = await self._resolve(bucket, key, version_id, with_data=False)
        return record

    async def set_object_tags(self, bucket: str, key: str, version_id: str | None, tags: dict[str, str]) -> ObjectRecord:
        """Put/DeleteObjectTagging: replaces the tag set of one version, in one transaction."""
        names.check_key(key)
        if version_id is not None:
            versioning.check_version_id(version_id)
        origin = events.current_origin.get()
        now = self.clock.now()

        def update(tx: MetaTx) -> ObjectRecord:
            bucket_record = tx.get_bucket(bucket)
            if bucket_record is None:
                raise NoSuchBucket(BucketName=bucket)
            current = tx.get_object(bucket, key)
            record = current if version_id is None else tx.get_version(bucket, key, version_id)
            if record is None:
                raise NoSuchKey(Key=key) if version_id is None else NoSuchVersion(Key=key, VersionId=version_id)
            if record.delete_marker:
                raise MethodNotAllowed(headers=_marker_headers(record))
            tx.set_object_tags(record, tags)
            name = "ObjectTagging:Put" if tags else "ObjectTagging:Delete"
            seq = seq_after(tx, bucket_record, key, current, now)
            self.emit(tx, [events.ObjectEvent(bucket, key, name, seq, record, versioned=bucket_record.versioning != "")],
                      origin, now)
            return record

        return await self.write_events(update)

    async def list_object_versions(
        self, bucket: str, *, prefix: str, delimiter: str, key_marker: str, version_marker: str, max_keys: int
    ) -> versioning.VersionsPage:
        await self.get_bucket(bucket)
        if version_marker and not key_marker:
            raise InvalidArgument("A version-id marker cannot be specified without a key marker.", ArgumentName="version-id-marker")
        return await versioning.list_versions_page(
            self.meta, bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker,
            version_marker=version_marker, max_keys=max_keys,
        )

    # --- writes -----------------------------------------------------------------------------

    async def put_object(self, request: PutRequest) -> ObjectRecord:
        names.check_key(request.key)
        if request.content_length is None or request.content_length > self.inline_limit:
            # Fail fast before streaming a body to a blob file; a small body is read first and the
            # commit's own bucket check answers NoSuchBucket (one read less per small PUT).
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
        event_name: str | None = None,
    ) -> ObjectRecord:
        origin = events.current_origin.get()
        event_name = event_name or f"ObjectCreated:{origin.created_event}"
        try:
            await received.commit_blob()
        except BaseException:
            received.discard()
            raise
        now = self.clock.now()
        blob_id = received.blob.blob_id if received.blob else new_inline_blob_id()

        def commit(tx: MetaTx) -> ObjectRecord:
            bucket_record = tx.get_bucket(bucket)
            if bucket_record is None:
                raise NoSuchBucket(BucketName=bucket)
            current = tx.get_object(bucket, key)
            conditions.check_write(if_match, if_none_match, current)
            seq = seq_after(tx, bucket_record, key, current, now)
            # Built here: replace() of a record made beforehand costs twice as much inside the write lock.
            final = ObjectRecord(
                bucket=bucket, key=key, size=received.size, etag=received.md5_hex, last_modified=now,
                blob_id=blob_id, inline=received.blob is None,
                content_type=attributes.content_type or "binary/octet-stream",
                system_headers=attributes.system_headers, user_metadata=attributes.user_metadata,
                checksum=checksum, storage_class=attributes.storage_class, tags=attributes.tags,
                seq=seq, version_id=version_for_write(bucket_record, seq),
            )
            install_current(tx, bucket_record, final, current, received.inline_data)
            self.emit(tx, [events.ObjectEvent(bucket, key, event_name, seq, final, versioned=bucket_record.versioning != "")],
                      origin, now)
            return final

        try:
            return await self.write_events(commit)
        except BaseException:
            if received.blob is not None:
                self.blobs.delete(received.blob.blob_id)
            raise

    def _delete_in(
        self, tx: MetaTx, bucket: BucketRecord, key: str, version_id: str | None, origin: events.EventOrigin
    ) -> DeleteOutcome:
        now = self.clock.now()
        current = tx.get_object(bucket.name, key)
        seq = seq_after(tx, bucket, key, current, now)
        if version_id is None:
            outcome = versioning.delete_current(tx, bucket, key, current, seq, now)
        else:
            outcome = versioning.delete_version(tx, bucket.name, key, version_id, current)
        name = "ObjectRemoved:DeleteMarkerCreated" if outcome.delete_marker else "ObjectRemoved:Delete"
        removed = outcome.version_id or version_id
        self.emit(tx, [events.ObjectEvent(bucket.name, key, name, seq, version_id=removed,
                                          versioned=bucket.versioning != "")], origin, now)
        return outcome

    async def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> DeleteOutcome:
        """Idempotent: deleting a missing key (or version) succeeds, as in S3."""
        names.check_key(key)
        if version_id is not None:
            versioning.check_version_id(version_id)
        origin = events.current_origin.get()

        def delete(tx: MetaTx) -> DeleteOutcome:
            bucket_record = tx.get_bucket(bucket)
            if bucket_record is None:
                raise NoSuchBucket(BucketName=bucket)
            return self._delete_in(tx, bucket_record, key, version_id, origin)

        return await self.write_events(delete)

    async def delete_objects(self, bucket: str, items: list[tuple[str, str | None]]) -> list[DeleteResult]:
        """DeleteObjects: one transaction for the whole batch; per-key errors are reported, not raised."""
        await self.get_bucket(bucket)
        origin = events.current_origin.get()

        def delete(tx: MetaTx) -> list[DeleteResult]:
            bucket_record = tx.get_bucket(bucket)
            if bucket_record is None:
                raise NoSuchBucket(BucketName=bucket)
            results = []
            for key, version_id in items:
                try:
                    names.check_key(key)
                    if version_id is not None:
                        versioning.check_version_id(version_id)
                except BayouError as exc:  # a per-key error in the result document
                    results.append(DeleteResult(key, False, exc.code, exc.message, version_id=version_id))
                    continue
                outcome = self._delete_in(tx, bucket_record, key, version_id, origin)
                results.append(
                    DeleteResult(key, True, version_id=version_id, delete_marker=outcome.delete_marker,
                                 delete_marker_version_id=outcome.version_id if outcome.delete_marker else None)
                )
            return results

        return await self.write_events(delete)

    async def copy_object(
        self,
        source: CopySource,
        bucket: str,
        key: str,
        *,
        replace_attributes: ObjectAttributes | None,
        replace_tags: dict[str, str] | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord]:
        """CopyObject; returns (new record, source record). None = COPY directive (metadata, tags)."""
        names.check_key(key)
        await self.get_bucket(bucket)
        content = await self.open_copy_source(source)
        try:
            conditions.check_copy_source(source.preconditions, content.record)
            same = (source.bucket, source.key) == (bucket, key) and source.version_id is None
            if same and replace_attributes is None and replace_tags is None:
                raise InvalidRequest(
                    "This copy request is illegal because it is trying to copy an object to itself without "
                    "changing the object's metadata, storage class, website redirect location or encryption attributes."
                )
            src = content.record
            attributes = replace_attributes or ObjectAttributes(
                src.content_type, dict(src.system_headers), dict(src.user_metadata), src.storage_class
            )
            attributes.tags = dict(src.tags) if replace_tags is None else replace_tags
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
        record = await self._commit(bucket, key, received, attributes, checksum, event_name="ObjectCreated:Copy")
        return record, src

    # --- reads ------------------------------------------------------------------------------

    async def _resolve(
        self, bucket: str, key: str, version_id: str | None, *, with_data: bool
    ) -> tuple[ObjectRecord, bytes | None]:
        """The requested version (current by default), or S3's error for a missing or deleted one."""
        names.check_key(key)
        if version_id is None:
            found = await self.meta.get_object(bucket, key, with_data=with_data)
            if found is not None:
                return found
            await self.get_bucket(bucket)
            newest = await self.meta.newest_version(bucket, key)
            if newest is not None and newest.delete_marker:
                raise NoSuchKey(Key=key, headers=_marker_headers(newest))
            raise NoSuchKey(Key=key)
        versioning.check_version_id(version_id)
        record = await self.meta.get_version(bucket, key, version_id)
        if record is None:
            await self.get_bucket(bucket)
            raise NoSuchVersion(Key=key, VersionId=version_id)
        if record.delete_marker:
            raise MethodNotAllowed(
                "The specified method is not allowed against this resource.",
                headers={**_marker_headers(record), "Allow": "DELETE"},
                Method="GET", ResourceType="DeleteMarker",
            )
        data = await self.meta.read_inline(record.blob_id) if with_data and record.inline else None
        return record, data

    async def open_copy_source(self, source: CopySource) -> ObjectContent:
        """The source of a copy; naming a delete marker is a bad request, not a 405."""
        try:
            return await self.open_object(source.bucket, source.key, version_id=source.version_id, byte_range=None)
        except MethodNotAllowed as exc:  # the version named is a delete marker
            raise InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker by version id."
            ) from exc

    async def head_object(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        byte_range: str | None = None,
        preconditions: Preconditions | None = None,
        part_number: int | None = None,
    ) -> tuple[ObjectRecord, ByteRange | None]:
        """Metadata only, after conditions and range are checked (HeadObject)."""
        record, _ = await self._resolve(bucket, key, version_id, with_data=False)
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
        version_id: str | None = None,
        byte_range: str | None,
        preconditions: Preconditions | None = None,
        part_number: int | None = None,
    ) -> ObjectContent:
        """Metadata plus a way to stream the bytes, after conditions and range are checked."""
        for _ in range(_OPEN_RETRIES):
            record, data = await self._resolve(bucket, key, version_id, with_data=True)
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


def _marker_headers(marker: ObjectRecord) -> dict[str, str]:
    return {"x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id}


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
