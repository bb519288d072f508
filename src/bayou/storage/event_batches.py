"""Event source mappings on buckets: the per-bucket index and the rows a mutation writes for them.

A mapping (functions/event_sources.py owns the documents) is found at write time through one index
document per (bucket, mapping): kind `esm-bucket`, name = bucket, sub = mapping UUID, so a mutation
costs one indexed range read when its bucket has no mapping. Each matching event becomes an outbox
row of kind `batch:<uuid>` in the mutation's own transaction (DESIGN.md invariant 3); the batcher
(services/events/batcher.py) turns pending rows into one asynchronous invocation per batch.
A disabled mapping keeps collecting rows (it is paused, as a disabled SQS mapping leaves messages
in the queue); deleting the mapping drops them.
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
_PAGE = 100


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


def sources(tx: MetaTx, bucket: str) -> list[BucketSource]:
    found: list[BucketSource] = []
    after = ""
    while page := tx.list_docs(INDEX_KIND, bucket, after, _PAGE):
        found += [BucketSource.from_doc(doc) for _, doc in page]
        after = page[-1][0]
        if len(page) < _PAGE:
            break
    return found


def emit(tx: MetaTx, events: list[ObjectEvent], *, region: str, origin: EventOrigin, now: float) -> int:
    """Write one `batch:<uuid>` row per (event, matching mapping); return how many."""
    if not events:
        return 0
    mappings = sources(tx, events[0].bucket)
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
