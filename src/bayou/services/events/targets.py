"""Event targets: where queue/topic notifications go, addressed by `arn:bayou:sqs::<id>:<type>`.

A target is configured once (config file or `bayou admin target add`) and stored as a metadata
document (kind `event-target`, name = its id). Each type is a module of this package with a
`create(spec) -> Target` function, imported only when used, so a broker's client library is
needed only by those who configure that broker (`pip install bayou[nats]`).
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from bayou.meta.store import MetaStore, MetaTx

TARGET_KIND = "event-target"
#: type → module of this package implementing it.
TARGET_TYPES = {
    "webhook": "webhook",
    "redis": "redis_stream",
    "nats": "nats_jetstream",
    "amqp": "amqp",
    "mqtt": "mqtt",
    "postgresql": "postgres",
    "kafka": "kafka",
}
DEFAULT_QUEUE_LIMIT = 100_000


class TargetError(Exception):
    """A delivery failed; the events stay queued and are retried."""


class Target(Protocol):
    arn: str

    async def send(self, messages: list[dict[str, Any]]) -> None:
        """Deliver these messages, in this order, or raise TargetError (all of them are retried).

        Each message is {"key": "<bucket>/<key>", "body": <dict to publish>}. Delivery is at least
        once: a message may arrive again after a crash or a retried batch."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TargetSpec:
    id: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    format: str = "aws"  # or "cloudevents"
    queue_limit: int = DEFAULT_QUEUE_LIMIT

    @property
    def arn(self) -> str:
        return target_arn(self.id, self.type)

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "config": self.config, "format": self.format,
                "queue_limit": self.queue_limit}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TargetSpec:
        return cls(doc["id"], doc["type"], dict(doc.get("config") or {}), doc.get("format", "aws"),
                   int(doc.get("queue_limit", DEFAULT_QUEUE_LIMIT)))


def target_arn(target_id: str, target_type: str, service: str = "sqs") -> str:
    return f"arn:bayou:{service}::{target_id}:{target_type}"


def parse_target_arn(arn: str) -> tuple[str, str] | None:
    """(id, type) of `arn:bayou:sqs::<id>:<type>` (or `sns`), else None."""
    parts = arn.split(":")
    if len(parts) == 6 and parts[:2] == ["arn", "bayou"] and parts[2] in ("sqs", "sns") and parts[3] == "":
        if parts[4] and parts[5] in TARGET_TYPES:
            return parts[4], parts[5]
    return None


def create_target(spec: TargetSpec) -> Target:
    module = importlib.import_module(f"bayou.services.events.{TARGET_TYPES[spec.type]}")
    target: Target = module.create(spec)
    return target


def cloudevent(message: dict[str, Any], source: str) -> dict[str, Any]:
    """A CloudEvents 1.0 structured envelope around one S3 event record (for Knative and friends)."""
    records = message.get("Records") or [message]
    record = records[0]
    s3 = record.get("s3", {})
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(record, sort_keys=True))),
        "source": source,
        "type": f"com.amazonaws.s3.{record.get('eventName', record.get('Event', 'TestEvent'))}",
        "subject": s3.get("object", {}).get("key"),
        "time": record.get("eventTime") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "datacontenttype": "application/json",
        "data": record if "Records" in message else message,
    }


class TargetRegistry:
    """The configured targets, read from the metadata store and cached per process."""

    def __init__(self, meta: MetaStore) -> None:
        self._meta = meta

    async def get(self, target_id: str) -> TargetSpec | None:
        doc = await self._meta.get_doc(TARGET_KIND, target_id, "")
        return TargetSpec.from_doc(doc) if doc else None

    async def all(self) -> list[TargetSpec]:
        out: list[TargetSpec] = []
        cursor = ""
        while rows := await self._meta.list_docs(TARGET_KIND, None, "", 500, after_name=cursor):
            out += [TargetSpec.from_doc(doc) for _, _, doc in rows]
            cursor = rows[-1][0]
        return out

    async def exists(self, arn: str) -> bool:
        parsed = parse_target_arn(arn)
        if parsed is None:
            return False
        spec = await self.get(parsed[0])
        return spec is not None and spec.type == parsed[1]

    async def put(self, spec: TargetSpec) -> None:
        if spec.type not in TARGET_TYPES:
            raise ValueError(f"unknown target type {spec.type!r}; one of {', '.join(sorted(TARGET_TYPES))}")

        def put(tx: MetaTx) -> None:
            tx.put_doc(TARGET_KIND, spec.id, "", spec.to_doc())

        await self._meta.write(put)

    async def delete(self, target_id: str) -> bool:
        def delete(tx: MetaTx) -> bool:
            existed = tx.get_doc(TARGET_KIND, target_id, "") is not None
            tx.delete_doc(TARGET_KIND, target_id, "")
            return existed

        return await self._meta.write(delete)
