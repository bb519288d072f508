"""Event targets: where queue/topic notifications go, addressed by `arn:bayou:sqs::<id>:<type>`.

A target is configured once (config file or `bayou admin target add`) and stored as a metadata
document (kind `event-target`, name = its id). Each type is a module of this package with a
`create(spec) -> Target` function, imported only when used, so a broker's client library is
needed only by those who configure that broker (`pip install bayou[nats]`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
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
#: Failing events go to the dead-letter path once the oldest of a failing batch is this old.
DEFAULT_MAX_AGE_SECONDS = 6 * 3600.0
FORMATS = ("aws", "cloudevents")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TargetError(Exception):
    """A delivery failed; the events stay queued and are retried.

    `delivered` is how many of the batch's first messages were acknowledged before the failure:
    the dispatcher forgets those instead of sending them again."""

    def __init__(self, message: str, *, delivered: int = 0) -> None:
        super().__init__(message)
        self.delivered = delivered


class TargetConfigError(ValueError):
    """A target specification that cannot work (unknown type, bad URL, a refused address)."""


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
    #: `arn:aws:s3:::bucket/prefix` for events that could not be delivered; None: outbox `event-dead:<arn>`.
    dead_letter: str | None = None
    #: Attempts of one batch before its events are dead-lettered; 0: no limit but max_age_seconds.
    max_attempts: int = 0
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS

    @property
    def arn(self) -> str:
        return target_arn(self.id, self.type)

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "config": self.config, "format": self.format,
                "queue_limit": self.queue_limit, "dead_letter": self.dead_letter,
                "max_attempts": self.max_attempts, "max_age_seconds": self.max_age_seconds}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TargetSpec:
        """Also the parser of admin API bodies and config-file tables: wrong types raise TargetConfigError."""
        try:
            return cls(str(doc["id"]), str(doc["type"]), dict(doc.get("config") or {}), doc.get("format") or "aws",
                       int(doc.get("queue_limit", DEFAULT_QUEUE_LIMIT)), doc.get("dead_letter") or None,
                       int(doc.get("max_attempts") or 0),
                       float(doc.get("max_age_seconds", DEFAULT_MAX_AGE_SECONDS)))
        except KeyError as exc:
            raise TargetConfigError(f"a target needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise TargetConfigError(f"invalid target specification: {exc}") from None


def parse_s3_arn(arn: str) -> tuple[str, str] | None:
    """(bucket, prefix without trailing '/') of `arn:aws:s3:::bucket[/prefix]`, else None."""
    if not arn.startswith("arn:aws:s3:::"):
        return None
    bucket, _, prefix = arn[len("arn:aws:s3:::"):].partition("/")
    return (bucket, prefix.strip("/")) if bucket else None


async def validate_spec(spec: TargetSpec) -> None:
    """Raise TargetConfigError unless `spec` can work; the type's module may check its config
    further with `async def validate_config(config)` (the webhook resolves and vets its URL)."""
    if not _ID.fullmatch(spec.id):
        raise TargetConfigError("a target id is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    if spec.type not in TARGET_TYPES:
        raise TargetConfigError(f"unknown target type {spec.type!r}; one of {', '.join(sorted(TARGET_TYPES))}")
    if spec.format not in FORMATS:
        raise TargetConfigError(f"format must be one of {', '.join(FORMATS)}")
    if spec.queue_limit < 1 or spec.max_attempts < 0 or not spec.max_age_seconds > 0:
        raise TargetConfigError("queue_limit and max_age_seconds must be positive, max_attempts >= 0")
    if spec.dead_letter is not None and parse_s3_arn(spec.dead_letter) is None:
        raise TargetConfigError("dead_letter must be an S3 ARN: arn:aws:s3:::bucket/prefix")
    try:
        module = importlib.import_module(f"bayou.services.events.{TARGET_TYPES[spec.type]}")
    except ImportError as exc:
        raise TargetConfigError(f"target type {spec.type!r} is not available here: {exc}") from None
    check = getattr(module, "validate_config", None)
    if check is not None:
        result = check(spec.config)
        if inspect.isawaitable(result):
            await result


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

    def __init__(self, meta: MetaStore, storage: Any = None) -> None:
        self._meta = meta
        #: The StorageService the dispatcher writes `dead_letter` objects through (set at assembly).
        self.storage = storage

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
            raise TargetConfigError(f"unknown target type {spec.type!r}; one of {', '.join(sorted(TARGET_TYPES))}")

        def put(tx: MetaTx) -> None:
            tx.put_doc(TARGET_KIND, spec.id, "", spec.to_doc())

        await self._meta.write(put)

    async def delete(self, target_id: str) -> bool:
        def delete(tx: MetaTx) -> bool:
            existed = tx.get_doc(TARGET_KIND, target_id, "") is not None
            tx.delete_doc(TARGET_KIND, target_id, "")
            return existed

        return await self._meta.write(delete)
