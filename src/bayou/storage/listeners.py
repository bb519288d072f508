"""Listeners: clients streaming a bucket's events as they happen (MinIO's ListenBucketNotification).

Any worker process may serve the mutation, so a listener lives in the metadata store, not in the
memory of the worker that holds its connection:
- it is a document (kind `s3-listener`, name = bucket or `*` for every bucket, sub = its id) with
  its filter and an expiry, refreshed while the connection lives and deleted when it closes;
- `events.emit` reads the bucket's active listeners (`groups`, `active`) inside the mutation's
  transaction and adds one outbox row of kind `listen:<id>` per matching event, so an event
  reaches a listener only if its mutation committed;
- the connection's handler polls that kind, sends the rows and deletes them: at most once, and a
  listener that disconnects loses what it had not received.
A listener killed without cleanup stops receiving once its expiry passes (`active` skips it); its
document and rows go at the next registration's `sweep`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bayou.meta.records import OutboxRow
from bayou.meta.store import MetaStore, MetaTx

LISTENER_KIND = "s3-listener"
LISTEN_OUTBOX = "listen"
#: The document name of a listener on every bucket (bucket names cannot contain "*").
ALL_BUCKETS = "*"
#: A listener's document outlives its last refresh by this much; refreshes come every REFRESH_SECONDS.
TTL_SECONDS = 15.0
REFRESH_SECONDS = 5.0
#: Undelivered rows a live but slow listener may hold; the newest beyond it are dropped at refresh.
MAX_PENDING = 10_000
#: Listeners read per bucket in each mutation's transaction.
MAX_LISTENERS = 1000
CONFIGURATION_ID = "listen"
PAYLOAD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Listener:
    id: str
    bucket: str  # or ALL_BUCKETS
    events: tuple[str, ...]  # with the s3: prefix; "s3:ObjectCreated:*" style families allowed
    prefix: str = ""
    suffix: str = ""
    expires: float = 0.0

    @classmethod
    def new(cls, bucket: str | None, events: tuple[str, ...], prefix: str, suffix: str, now: float) -> Listener:
        return cls(uuid.uuid4().hex, bucket or ALL_BUCKETS, events, prefix, suffix, now + TTL_SECONDS)

    @property
    def outbox_kind(self) -> str:
        return outbox_kind(self.id)

    def active(self, now: float) -> bool:
        return now < self.expires

    def matches(self, event_name: str, key: str) -> bool:
        """event_name without the s3: prefix, e.g. "ObjectCreated:Put" (as NotificationRule.matches)."""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        family = event_name.split(":", 1)[0]
        return any(e == f"s3:{event_name}" or e == f"s3:{family}:*" for e in self.events)

    def to_doc(self) -> dict[str, Any]:
        return {"v": PAYLOAD_VERSION, "id": self.id, "bucket": self.bucket, "events": list(self.events),
                "prefix": self.prefix, "suffix": self.suffix, "expires": self.expires}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Listener:
        return cls(doc["id"], doc["bucket"], tuple(doc["events"]), doc.get("prefix", ""), doc.get("suffix", ""),
                   float(doc.get("expires", 0.0)))


def outbox_kind(listener_id: str) -> str:
    return f"{LISTEN_OUTBOX}:{listener_id}"


# --- inside a mutation's transaction -----------------------------------------------------------------


def groups(bucket: str) -> list[tuple[str, str]]:
    """The (kind, name) document groups of the listeners that receive the bucket's events."""
    return [(LISTENER_KIND, bucket), (LISTENER_KIND, ALL_BUCKETS)]


def active(docs: dict[tuple[str, str], list[dict[str, Any]]], bucket: str, now: float) -> list[Listener]:
    """The unexpired listeners among the documents of `groups(bucket)` (each group's in sub order;
    the first MAX_LISTENERS of each are looked at)."""
    found: list[Listener] = []
    for group in groups(bucket):
        for doc in docs.get(group, [])[:MAX_LISTENERS]:
            listener = Listener.from_doc(doc)
            if listener.active(now):
                found.append(listener)
    return found


def queue(tx: MetaTx, listener: Listener, message: dict[str, Any]) -> None:
    """One message for one listener, visible to its connection once the transaction commits."""
    tx.add_outbox(listener.outbox_kind, {"v": PAYLOAD_VERSION, "message": message})


def _forget(tx: MetaTx, listener: Listener) -> None:
    tx.delete_doc(LISTENER_KIND, listener.bucket, listener.id)
    tx.trim_outbox(listener.outbox_kind, 0)


# --- the listening connection ------------------------------------------------------------------------


async def register(meta: MetaStore, listener: Listener, now: float) -> None:
    """Sweep what dead listeners left behind, then store this one: events from the commit on reach it."""
    await sweep(meta, now)
    await meta.write(lambda tx: tx.put_doc(LISTENER_KIND, listener.bucket, listener.id, listener.to_doc()))


async def refresh(meta: MetaStore, listener: Listener, now: float) -> Listener:
    """Push the expiry forward (recreating the document if a sweep took it) and bound the backlog."""
    renewed = Listener(listener.id, listener.bucket, listener.events, listener.prefix, listener.suffix,
                       now + TTL_SECONDS)

    def put(tx: MetaTx) -> None:
        tx.put_doc(LISTENER_KIND, renewed.bucket, renewed.id, renewed.to_doc())
        tx.trim_outbox(renewed.outbox_kind, MAX_PENDING)

    await meta.write(put)
    return renewed


async def pending(meta: MetaStore, listener: Listener, limit: int = 100) -> list[OutboxRow]:
    return await meta.pending_outbox((listener.outbox_kind,), limit)


async def acknowledge(meta: MetaStore, rows: list[OutboxRow]) -> None:
    """Forget rows that were sent (delivery is at most once)."""
    if not rows:
        return

    def delete(tx: MetaTx) -> None:
        for row in rows:
            tx.delete_outbox(row.id)

    await meta.write(delete)


async def unregister(meta: MetaStore, listener: Listener) -> None:
    """The connection closed: the document and every row not yet sent go, in one transaction."""
    await meta.write(lambda tx: _forget(tx, listener))


async def sweep(meta: MetaStore, now: float) -> int:
    """Remove expired listeners (a killed process never unregisters) and rows no listener owns.

    Row counts are read before documents: a row exists only after its listener's document was
    committed, so a kind with rows and no document found afterwards has lost its listener.
    """
    counts = await meta.outbox_counts(f"{LISTEN_OUTBOX}:")
    live: set[str] = set()
    expired: list[Listener] = []
    after_name = after_sub = ""
    while True:
        page = await meta.list_docs(LISTENER_KIND, None, after_sub, MAX_LISTENERS, after_name=after_name)
        for _, _, doc in page:
            listener = Listener.from_doc(doc)
            if listener.active(now):
                live.add(listener.id)
            else:
                expired.append(listener)
        if len(page) < MAX_LISTENERS:
            break
        after_name, after_sub = page[-1][0], page[-1][1]
    dead = {listener.id for listener in expired}
    orphans = [kind for kind in counts if kind.split(":", 1)[1] not in live | dead]
    if not expired and not orphans:
        return 0

    def clean(tx: MetaTx) -> int:
        removed = 0
        for listener in expired:
            doc = tx.get_doc(LISTENER_KIND, listener.bucket, listener.id)
            if doc is not None and not Listener.from_doc(doc).active(now):
                _forget(tx, listener)
                removed += 1
        for kind in orphans:
            tx.trim_outbox(kind, 0)
        return removed

    return await meta.write(clean)
