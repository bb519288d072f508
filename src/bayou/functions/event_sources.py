"""Event source mappings from buckets to functions: Lambda's batching, for S3 events (Bayou's extension).

AWS offers no S3 event source mapping; Bayou accepts `EventSourceArn` `arn:aws:s3:::bucket` or
`arn:aws:s3:::bucket/prefix`, so a function receives a bucket's events in batches of up to
BatchSize records instead of one invocation per object. A mapping is a document (kind `esm`,
name = UUID) plus the bucket index document the write path reads (storage/event_batches.py); both
change in one transaction. Deleting a mapping drops its pending rows in that same transaction.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass, replace
from typing import Any

from bayou.errors import (
    InvalidBucketName,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from bayou.functions import validation
from bayou.functions.models import function_arn
from bayou.functions.registry import FunctionRegistry
from bayou.meta.store import MetaTx
from bayou.storage.event_batches import INDEX_KIND, BucketSource, outbox_kind
from bayou.storage.names import check_bucket_name

KIND = "esm"
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 10000
MAX_WINDOW = 300
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Mapping:
    uuid: str
    function: str
    qualifier: str | None
    bucket: str
    prefix: str
    batch_size: int = DEFAULT_BATCH_SIZE
    window: int = 0  # MaximumBatchingWindowInSeconds
    enabled: bool = True
    last_modified: float = 0.0

    @property
    def source_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    def to_doc(self) -> dict[str, Any]:
        return {"v": 1, "uuid": self.uuid, "function": self.function, "qualifier": self.qualifier,
                "bucket": self.bucket, "prefix": self.prefix, "batch_size": self.batch_size,
                "window": self.window, "enabled": self.enabled, "last_modified": self.last_modified}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Mapping:
        return cls(doc["uuid"], doc["function"], doc.get("qualifier"), doc["bucket"], doc.get("prefix", ""),
                   int(doc["batch_size"]), int(doc["window"]), bool(doc["enabled"]), float(doc["last_modified"]))

    def shape(self, region: str, state: str | None = None) -> dict[str, Any]:
        """Lambda's EventSourceMappingConfiguration."""
        return {
            "UUID": self.uuid,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.window,
            "EventSourceArn": self.source_arn,
            "FunctionArn": function_arn(region, self.function, self.qualifier),
            "LastModified": self.last_modified,
            "LastProcessingResult": "No records processed",
            "State": state or ("Enabled" if self.enabled else "Disabled"),
            "StateTransitionReason": "USER_INITIATED",
            "EventSourceMappingArn": f"arn:aws:lambda:{region}:000000000000:event-source-mapping:{self.uuid}",
        }


def parse_source_arn(arn: str) -> tuple[str, str]:
    """(bucket, prefix) of `arn:aws:s3:::bucket[/prefix]`."""
    head = "arn:aws:s3:::"
    bucket, _, prefix = arn[len(head):].partition("/") if arn.startswith(head) else ("", "", "")
    try:
        check_bucket_name(bucket)
    except InvalidBucketName:
        raise InvalidParameterValueException(
            f"Unsupported EventSourceArn {arn!r}: Bayou maps buckets only, as arn:aws:s3:::bucket[/prefix]."
        ) from None
    return bucket, prefix


def check_batching(batch_size: int | None, window: int | None) -> None:
    if batch_size is not None:
        validation.check_int_range("batchSize", batch_size, 1, MAX_BATCH_SIZE)
    if window is not None:
        validation.check_int_range("maximumBatchingWindowInSeconds", window, 0, MAX_WINDOW)


def _not_found(uuid: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The resource you requested does not exist. (Service: Lambda, UUID: {uuid})")


class EventSources:
    """Create, read, update and delete mappings (one metadata transaction each)."""

    def __init__(self, registry: FunctionRegistry) -> None:
        self._registry = registry
        self._meta = registry.meta
        self._clock = registry.clock

    async def _function(self, ref: str) -> tuple[str, str | None]:
        name, qualifier = validation.parse_function_ref(ref)
        await self._registry.get_function(name, qualifier)  # ResourceNotFoundException if missing
        return name, qualifier

    async def create(self, source_arn: str, function_ref: str, *, batch_size: int | None = None,
                     window: int | None = None, enabled: bool | None = None) -> Mapping:
        bucket, prefix = parse_source_arn(source_arn)
        check_batching(batch_size, window)
        name, qualifier = await self._function(function_ref)
        if await self._meta.get_bucket(bucket) is None:
            raise InvalidParameterValueException(f"The bucket {bucket} of EventSourceArn does not exist.")
        mapping = Mapping(str(uuid_mod.uuid4()), name, qualifier, bucket, prefix,
                          DEFAULT_BATCH_SIZE if batch_size is None else batch_size, window or 0,
                          True if enabled is None else enabled, self._clock.now())

        def create(tx: MetaTx) -> Mapping:
            for _, doc in tx.list_docs(INDEX_KIND, bucket, "", _PAGE):
                other = tx.get_doc(KIND, doc["uuid"], "")
                if other is not None and (other["function"], other.get("qualifier"), other.get("prefix", "")) == (
                        name, qualifier, prefix):
                    raise ResourceConflictException(
                        f"An event source mapping with event source ({source_arn}) and function "
                        f"({function_arn(self._registry.region, name, qualifier)}) already exists. "
                        f"Please update or delete the existing mapping with UUID {doc['uuid']}"
                    )
            tx.put_doc(KIND, mapping.uuid, "", mapping.to_doc())
            tx.put_doc(INDEX_KIND, bucket, mapping.uuid, BucketSource(mapping.uuid, prefix).to_doc())
            return mapping

        return await self._meta.write(create)

    async def get(self, uuid: str) -> Mapping:
        doc = await self._meta.get_doc(KIND, uuid, "")
        if doc is None:
            raise _not_found(uuid)
        return Mapping.from_doc(doc)

    async def update(self, uuid: str, *, function_ref: str | None = None, batch_size: int | None = None,
                     window: int | None = None, enabled: bool | None = None) -> Mapping:
        check_batching(batch_size, window)
        target = await self._function(function_ref) if function_ref is not None else None
        now = self._clock.now()

        def update(tx: MetaTx) -> Mapping:
            doc = tx.get_doc(KIND, uuid, "")
            if doc is None:
                raise _not_found(uuid)
            mapping = Mapping.from_doc(doc)
            changes: dict[str, Any] = {"last_modified": now}
            if target is not None:
                changes["function"], changes["qualifier"] = target
            if batch_size is not None:
                changes["batch_size"] = batch_size
            if window is not None:
                changes["window"] = window
            if enabled is not None:
                changes["enabled"] = enabled
            mapping = replace(mapping, **changes)
            tx.put_doc(KIND, uuid, "", mapping.to_doc())
            return mapping

        return await self._meta.write(update)

    async def delete(self, uuid: str) -> Mapping:
        """Forget the mapping, its index entry and its pending records, in one transaction."""

        def delete(tx: MetaTx) -> Mapping:
            doc = tx.get_doc(KIND, uuid, "")
            if doc is None:
                raise _not_found(uuid)
            mapping = Mapping.from_doc(doc)
            tx.delete_doc(KIND, uuid, "")
            tx.delete_doc(INDEX_KIND, mapping.bucket, uuid)
            tx.trim_outbox(outbox_kind(uuid), 0)
            return mapping

        return await self._meta.write(delete)

    async def list(self, source_arn: str | None, function_ref: str | None, marker: str | None,
                   limit: int) -> tuple[list[Mapping], str | None]:
        """Mappings in UUID order after `marker`, filtered by source and/or function."""
        source = parse_source_arn(source_arn) if source_arn else None
        function = validation.parse_function_ref(function_ref) if function_ref else None
        found: list[Mapping] = []
        after = marker or ""
        while len(found) <= limit:
            rows = await self._meta.list_docs(KIND, None, "", _PAGE, after_name=after)
            if not rows:
                break
            for _, _, doc in rows:
                mapping = Mapping.from_doc(doc)
                if source is not None and (mapping.bucket, mapping.prefix) != source:
                    continue
                if function is not None and (mapping.function, mapping.qualifier) != function:
                    if not (function[1] is None and mapping.function == function[0]):
                        continue
                found.append(mapping)
            after = rows[-1][0]
        page = found[:limit]
        return page, (page[-1].uuid if len(found) > limit and page else None)
