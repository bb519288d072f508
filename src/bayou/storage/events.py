"""Bucket notifications: which mutation produces which event record, for which target.

Events are written in the mutation's own metadata transaction (DESIGN.md invariant 3), so an
event exists if and only if its mutation committed:
- a function target (`arn:aws:lambda:...`) gets an asynchronous invocation queued directly
  (`fn_queue`): retries, maximum age and destinations are then Lambda's, as on AWS;
- a queue or topic target (`arn:bayou:sqs::<id>:<type>`, a broker, a webhook) gets an `event`
  outbox row that the dispatcher (`services/events/`) delivers at least once, in order per key.
The record is AWS's S3 event shape (eventVersion 2.1), so unchanged Lambda S3 handlers work.
"""

from __future__ import annotations

import contextvars
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus

from bayou.errors import InvalidArgument
from bayou.meta.records import ObjectRecord, QueuedInvocation
from bayou.meta.store import MetaTx
from bayou.storage import listeners

CONFIG_KIND = "s3-notification"
SEQUENCE_KIND = "s3-event-sequencer"
EVENT_OUTBOX = "event"
PAYLOAD_VERSION = 1

#: Every event name a rule may name (with the s3: prefix), as S3 documents them.
EVENT_NAMES = frozenset({
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
})


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Who caused the mutation: set by the API layer for the request, read when records are built."""

    source_ip: str = "127.0.0.1"
    request_id: str = ""
    principal: str = ""
    created_event: str = "Put"  # "Post" for browser form uploads


#: The current request's origin; the storage facade reads it before entering the write thread.
current_origin: contextvars.ContextVar[EventOrigin] = contextvars.ContextVar(
    "bayou_event_origin", default=EventOrigin()  # noqa: B039 - frozen, never mutated
)


@dataclass(frozen=True, slots=True)
class NotificationRule:
    id: str
    kind: str  # "function", "queue" or "topic"
    arn: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, event_name: str, key: str) -> bool:
        """event_name without the s3: prefix, e.g. "ObjectCreated:Put"."""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        family = event_name.split(":", 1)[0]
        return any(e == f"s3:{event_name}" or e == f"s3:{family}:*" for e in self.events)

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "arn": self.arn, "events": list(self.events),
                "prefix": self.prefix, "suffix": self.suffix}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> NotificationRule:
        return cls(doc["id"], doc["kind"], doc["arn"], tuple(doc["events"]), doc.get("prefix", ""), doc.get("suffix", ""))


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    rules: tuple[NotificationRule, ...] = ()
    #: EventBridge is accepted and stored (an empty element enables it on AWS); Bayou has no bus.
    event_bridge: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {"v": PAYLOAD_VERSION, "rules": [r.to_doc() for r in self.rules], "event_bridge": self.event_bridge}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> NotificationConfig:
        if not doc:
            return cls()
        return cls(tuple(NotificationRule.from_doc(r) for r in doc.get("rules", [])), bool(doc.get("event_bridge")))


def validate(config: NotificationConfig) -> None:
    """S3's own checks: known event names, prefix/suffix rules, no overlap for one event type."""
    for rule in config.rules:
        if not rule.events:
            raise InvalidArgument("At least one event must be specified", ArgumentName="Event")
        for name in rule.events:
            if name not in EVENT_NAMES:
                raise InvalidArgument("The event is not supported for notifications", ArgumentName=name,
                                      ArgumentValue=name)
    rules = list(config.rules)
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if _events_overlap(a, b) and _filters_overlap(a, b):
                raise InvalidArgument(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    ArgumentName="Event", ArgumentValue=a.events[0],
                )


def _expand(events: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for name in events:
        if name.endswith(":*"):
            family = name[:-1]
            out |= {e for e in EVENT_NAMES if e.startswith(family) and not e.endswith("*")}
        else:
            out.add(name)
    return out


def _events_overlap(a: NotificationRule, b: NotificationRule) -> bool:
    return bool(_expand(a.events) & _expand(b.events))


def _filters_overlap(a: NotificationRule, b: NotificationRule) -> bool:
    """Some key could match both: prefixes nest and suffixes nest."""
    prefixes = a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
    suffixes = a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)
    return prefixes and suffixes


def parse_function_arn(arn: str) -> tuple[str, str | None] | None:
    """(name, qualifier) of `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`."""
    parts = arn.split(":")
    if len(parts) in (7, 8) and parts[:3] == ["arn", "aws", "lambda"] and parts[5] == "function" and parts[6]:
        return parts[6], (parts[7] if len(parts) == 8 else None)
    return None


def _iso_ms(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def encode_key(key: str) -> str:
    """S3 event keys are form-URL-encoded (space → '+'); '/' stays as it is."""
    return quote_plus(key, safe="/")


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    bucket: str
    key: str
    name: str  # "ObjectCreated:Put", ...
    sequence: int  # increases per key
    record: ObjectRecord | None = None  # the object written (size, etag, version)
    version_id: str | None = None  # for removals: the version removed or the delete marker created
    versioned: bool = False


def event_record(event: ObjectEvent, rule_id: str, region: str, origin: EventOrigin, now: float) -> dict[str, Any]:
    principal = f"AWS:{origin.principal}" if origin.principal else "AWS:bayou"
    obj: dict[str, Any] = {"key": encode_key(event.key)}
    if event.record is not None and event.name.startswith(("ObjectCreated", "ObjectTagging")):
        obj["size"] = event.record.size
        obj["eTag"] = event.record.etag
    version_id = event.version_id or (event.record.version_id if event.record else None)
    if event.versioned and version_id and version_id != "null":
        obj["versionId"] = version_id
    obj["sequencer"] = f"{event.sequence:016X}"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _iso_ms(now),
        "eventName": event.name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": origin.source_ip},
        "responseElements": {"x-amz-request-id": origin.request_id, "x-amz-id-2": origin.request_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": rule_id,
            "bucket": {"name": event.bucket, "ownerIdentity": {"principalId": principal},
                       "arn": f"arn:aws:s3:::{event.bucket}"},
            "object": obj,
        },
    }


def s3_test_event(bucket: str, origin: EventOrigin, now: float) -> dict[str, Any]:
    """What S3 sends to each destination when a configuration is saved."""
    return {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": _iso_ms(now), "Bucket": bucket,
            "RequestId": origin.request_id, "HostId": origin.request_id}


def emit(tx: MetaTx, events: list[ObjectEvent], *, region: str, origin: EventOrigin, now: float) -> int:
    """Write the rows of every rule, mapping and active listener each event matches, in the mutation's transaction."""
    if not events:
        return 0
    from bayou.storage import event_batches  # local: it imports this module

    bucket = events[0].bucket
    # One read for all of the bucket's event documents (most buckets have none).
    groups = [(CONFIG_KIND, bucket), (event_batches.INDEX_KIND, bucket), *listeners.groups(bucket)]
    docs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, name, _, doc in tx.docs_of_groups(groups):
        docs.setdefault((kind, name), []).append(doc)
    if not docs:
        return 0
    batched = event_batches.emit(tx, events, docs.get((event_batches.INDEX_KIND, bucket), []),
                                 region=region, origin=origin, now=now)
    config_docs = docs.get((CONFIG_KIND, bucket))
    config = NotificationConfig.from_doc(config_docs[0] if config_docs else None)
    active = listeners.active(docs, bucket, now)
    if not config.rules and not active:
        return batched
    written = batched
    last = _last_sequencer(tx)
    for event in events:
        # Object rows carry a per-key sequence, but removals and tag changes store none: one
        # high-water mark across all events keeps every sequencer above the ones before it.
        last = max(event.sequence, last + 1)
        event = replace(event, sequence=last)
        for rule in config.rules:
            if rule.matches(event.name, event.key):
                record = event_record(event, rule.id, region, origin, now)
                deliver(tx, rule, {"Records": [record]}, key=f"{event.bucket}/{event.key}", now=now)
                written += 1
        for listener in active:
            if listener.matches(event.name, event.key):
                record = event_record(event, listeners.CONFIGURATION_ID, region, origin, now)
                listeners.queue(tx, listener, {"Records": [record]})
                written += 1
    tx.put_doc(SEQUENCE_KIND, "", "", {"last": last})
    return written


def _last_sequencer(tx: MetaTx) -> int:
    doc = tx.get_doc(SEQUENCE_KIND, "", "")
    return int(doc["last"]) if doc else 0


def deliver(tx: MetaTx, rule: NotificationRule, message: dict[str, Any], *, key: str, now: float) -> None:
    """Queue one message for one rule's destination (inside the caller's transaction)."""
    if rule.kind == "function":
        parsed = parse_function_arn(rule.arn)
        if parsed is None:
            return
        name, qualifier = parsed
        tx.enqueue_invocation(QueuedInvocation(
            id=str(uuid.uuid4()), function=name, qualifier=qualifier, payload=json.dumps(message).encode(),
            enqueued_at=now, attempts=0, not_before=now, meta={"source": "s3", "rule": rule.id},
        ))
        return
    tx.add_outbox(outbox_kind(rule.arn), {"v": PAYLOAD_VERSION, "target": rule.arn, "key": key, "message": message})


def outbox_kind(arn: str) -> str:
    """One outbox kind per target: a target that is down never holds up another one's events."""
    return f"{EVENT_OUTBOX}:{arn}"
