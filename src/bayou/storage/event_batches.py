"""Event source mappings on buckets: the per-bucket index and the rows a mutation writes for them.

A mapping (functions/event_sources.py owns the documents) is found at write time through one index
document per (bucket, mapping): kind `esm-bucket`, name = bucket, sub = mapping UUID, which
`events.emit` reads in the one query that fetches all of the bucket's event documents. Each
matching event becomes an outbox row of kind `batch:<uuid>` in the mutation's own transaction
(DESIGN.md invariant 3); the batcher (services/events/batcher.py) turns pending rows into one
asynchronous invocation per batch. A disabled mapping keeps collecting rows (it is paused, as a
disabled SQS mapping leaves messages in the queue); deleting the mapping drops them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bayou.meta.store import MetaTx
from bayou.storage.events import EventOrigin, ObjectEvent, event_record

INDEX_KIND = "esm-bucket"
BATCH_OUTBOX = "batch"
PAYLOAD_VERSION = 1
#: Event families a mapping receives (tagging changes are not new data, so they are left out).
FAMILIES = ("ObjectCreated", "ObjectRemoved")


@dataclass(frozen=True, slots=True)
class BucketSource:
    """One mapping as the write path sees it."""

    uuid: str
    prefix: str = ""

    def to_doc(self) -> dict[str, Any]:
        return {"v": PAYLOAD_VERSION, "uuid": self.uuid, "prefix": self.prefix}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BucketSource:
        return cls(doc["uuid"], doc.get("prefix", ""))


def outbox_kind(uuid: str) -> str:
    return f"{BATCH_OUTBOX}:{uuid}"


def emit(
    tx: MetaTx, events: list[ObjectEvent], index: list[dict[str, Any]], *, region: str, origin: EventOrigin,
    now: float,
) -> int:
    """Write one `batch:<uuid>` row per (event, matching mapping); return how many.

    `index` is the bucket's INDEX_KIND documents, read by `events.emit` with its other event documents.
    """
    if not events or not index:
        return 0
    mappings = [BucketSource.from_doc(doc) for doc in index]
    written = 0
    for event in events:
        if not event.name.startswith(FAMILIES):
            continue
        for mapping in mappings:
            if event.key.startswith(mapping.prefix):
                record = event_record(event, mapping.uuid, region, origin, now)
                tx.add_outbox(outbox_kind(mapping.uuid), {"v": PAYLOAD_VERSION, "record": record})
                written += 1
    return written
