"""EventBridge Scheduler's schedules, kept as metadata documents of kind "schedule".

A document is keyed (kind "schedule", name = group, sub = schedule name) and holds the API's
fields as given plus Bayou's own: the resolved target function, the rate anchor and
`next_fire_at`, the next firing time (epoch seconds; None once a schedule has nothing left
to fire). The scheduler worker fires through `fire_due`: one transaction advances
`next_fire_at` and enqueues the asynchronous invocations, so a firing happens exactly once
across crashes and restarts (the queue row carries it from there, at least once).

Catch-up: a firing time that passed while Bayou was down is fired when it comes back; a
recurring schedule that missed more than CATCH_UP_LIMIT times fires the first CATCH_UP_LIMIT
of them, then continues with the first time after now (the rest are skipped, not queued).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bayou.errors import (
    ConflictException,
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from bayou.functions.models import ACCOUNT_ID
from bayou.functions.registry import FunctionRegistry
from bayou.functions.schedule_expr import ScheduleExpression, parse
from bayou.meta.records import QueuedInvocation
from bayou.meta.store import MetaStore, MetaTx

KIND = "schedule"
DOC_VERSION = 1
DEFAULT_GROUP = "default"
CATCH_UP_LIMIT = 10
#: EventBridge Scheduler's RetryPolicy defaults, echoed by GetSchedule.
DEFAULT_RETRY_POLICY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
#: What a Lambda target receives when the schedule has no Input.
DEFAULT_INPUT = "{}"
_TARGET_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:[a-zA-Z0-9-_]{1,64}(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
_EXECUTION_NS = uuid.UUID("6a1f3c52-8d1e-4c1b-9f4e-3b0f6f1d2a90")

QueuedFactory = Callable[..., QueuedInvocation]


@dataclass(slots=True)
class ScheduleSpec:
    """What CreateSchedule / UpdateSchedule set (validated for shape by the API layer)."""

    name: str
    group: str
    expression: str
    target: dict[str, Any]
    flexible_time_window: dict[str, Any]
    timezone: str | None = None
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    state: str = "ENABLED"
    kms_key_arn: str | None = None
    action_after_completion: str = "NONE"
    client_token: str | None = None


def schedule_arn(region: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{name}"


def expression_of(doc: dict[str, Any]) -> ScheduleExpression:
    return parse(doc["ScheduleExpression"], doc.get("ScheduleExpressionTimezone") or "UTC")


def next_after(doc: dict[str, Any], after: float) -> float | None:
    """The schedule's first firing strictly after `after`, within StartDate / EndDate."""
    expr = expression_of(doc)
    if expr.one_time:
        return None if doc.get("fired") else expr.next_fire(float("-inf"))
    start, end = doc.get("StartDate"), doc.get("EndDate")
    if start is not None:
        after = max(after, start - 0.001)
    when = expr.next_fire(after, anchor=doc["anchor"])
    if when is not None and end is not None and when > end:
        return None
    return when


def due_times(doc: dict[str, Any], now: float, limit: int = CATCH_UP_LIMIT) -> tuple[list[float], float | None]:
    """(firing times due by `now`, at most `limit`; the next firing time after them)."""
    times: list[float] = []
    when = doc.get("next_fire_at")
    while when is not None and when <= now and len(times) < limit:
        times.append(when)
        when = next_after({**doc, "fired": doc.get("fired", 0) + len(times)}, when)
    if when is not None and when <= now:
        when = next_after(doc, now)
    return times, when


def event_payload(doc: dict[str, Any], arn: str, scheduled: float, execution_id: str) -> bytes:
    """The target Input with Scheduler's context attributes substituted, or the default event."""
    text = doc["Target"].get("Input")
    if text is None:
        return DEFAULT_INPUT.encode()
    stamp = dt.datetime.fromtimestamp(scheduled, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for attribute, value in (
        ("schedule-arn", arn), ("scheduled-time", stamp), ("execution-id", execution_id), ("attempt-number", "1"),
    ):
        text = text.replace(f"<aws.scheduler.{attribute}>", value)
    return str(text).encode()


def execution_id(doc: dict[str, Any], scheduled: float) -> str:
    """Deterministic per (group, name, incarnation, scheduled time): a re-fire would replace, not add."""
    key = f"{doc['GroupName']}/{doc['Name']}/{doc['CreationDate']!r}/{scheduled!r}"
    return str(uuid.uuid5(_EXECUTION_NS, key))


def fire_due(tx: MetaTx, group: str, name: str, expected: float, now: float, queued: QueuedFactory, region: str) -> int:
    """In one transaction: enqueue every due firing of a schedule and advance it. Returns how many.

    `expected` is the next_fire_at the caller saw; if the document changed since (an update,
    a delete, another scheduler firing it), nothing happens."""
    doc = tx.get_doc(KIND, group, name)
    if doc is None or doc.get("State") != "ENABLED" or doc.get("next_fire_at") != expected:
        return 0
    times, following = due_times(doc, now)
    arn = schedule_arn(region, group, name)
    for scheduled in times:
        run_id = execution_id(doc, scheduled)
        tx.enqueue_invocation(queued(
            doc["function"], doc["qualifier"], event_payload(doc, arn, scheduled, run_id), request_id=run_id,
            meta={"schedule": arn, "scheduled_time": scheduled},
        ))
    if following is None and doc.get("ActionAfterCompletion") == "DELETE":
        tx.delete_doc(KIND, group, name)
        return len(times)
    doc.update(next_fire_at=following, fired=doc.get("fired", 0) + len(times), last_fired_at=now)
    tx.put_doc(KIND, group, name, doc)
    return len(times)


async def iter_schedules(meta: MetaStore, batch: int = 500) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """Every schedule of every group, in (group, name) order."""
    after_name, after_sub = "", ""
    while True:
        rows = await meta.list_docs(KIND, None, after_sub, batch, after_name=after_name)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after_name, after_sub = rows[-1][0], rows[-1][1]


class Schedules:
    """CRUD of schedules; the API layer's only door to them."""

    def __init__(self, meta: MetaStore, registry: FunctionRegistry, now: Callable[[], float], region: str) -> None:
        self._meta = meta
        self._registry = registry
        self._now = now
        self._region = region

    def arn(self, group: str, name: str) -> str:
        return schedule_arn(self._region, group, name)

    def group(self, name: str) -> dict[str, Any]:
        """GetScheduleGroup's shape. Only the default group exists (it cannot be created or deleted)."""
        self._check_group(name)
        return {
            "Arn": f"arn:aws:scheduler:{self._region}:{ACCOUNT_ID}:schedule-group/{name}", "Name": name,
            "State": "ACTIVE", "CreationDate": 0.0, "LastModificationDate": 0.0,
        }

    async def create(self, spec: ScheduleSpec) -> str:
        self._check_group(spec.group)
        now = self._now()
        doc = await self._document(spec, now, created=now)

        def insert(tx: MetaTx) -> None:
            existing = tx.get_doc(KIND, spec.group, spec.name)
            if existing is not None:
                if spec.client_token and existing.get("ClientToken") == spec.client_token:
                    return  # a retried request that already succeeded
                raise ConflictException(f"Schedule {spec.name} already exists.")
            tx.put_doc(KIND, spec.group, spec.name, doc)

        await self._meta.write(insert)
        return self.arn(spec.group, spec.name)

    async def update(self, spec: ScheduleSpec) -> str:
        """Replaces every field (Scheduler's UpdateSchedule). New timing restarts firing from now;
        unchanged timing keeps its rate phase, and a one-time schedule that fired stays fired."""
        self._check_group(spec.group)
        current = await self._get_doc(spec.group, spec.name)
        now = self._now()
        doc = await self._document(spec, now, created=current["CreationDate"])
        if _same_timing(current, doc):
            # Same expression, zone and dates: keep the phase of a rate and don't re-arm a fired at().
            doc.update(anchor=current["anchor"], fired=current.get("fired", 0))
            doc["next_fire_at"] = next_after(doc, now)

        def replace(tx: MetaTx) -> None:
            if tx.get_doc(KIND, spec.group, spec.name) is None:
                raise self._not_found(spec.group, spec.name)
            tx.put_doc(KIND, spec.group, spec.name, doc)

        await self._meta.write(replace)
        return self.arn(spec.group, spec.name)

    async def get(self, group: str, name: str) -> dict[str, Any]:
        self._check_group(group)
        return self.render(await self._get_doc(group, name))

    async def delete(self, group: str, name: str) -> None:
        self._check_group(group)

        def remove(tx: MetaTx) -> None:
            if tx.get_doc(KIND, group, name) is None:
                raise self._not_found(group, name)
            tx.delete_doc(KIND, group, name)

        await self._meta.write(remove)

    async def list(
        self, group: str | None, prefix: str | None, state: str | None, token: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        if group is not None:
            self._check_group(group)
        after_name, after_sub = _decode_token(token) if token else ("", "")
        out: list[dict[str, Any]] = []
        while True:
            if group is not None:
                rows = await self._meta.list_docs(KIND, group, after_sub if after_name == group else "", 200)
            else:
                rows = await self._meta.list_docs(KIND, None, after_sub, 200, after_name=after_name)
            for row_group, row_name, doc in rows:
                after_name, after_sub = row_group, row_name
                if (prefix and not row_name.startswith(prefix)) or (state and doc.get("State") != state):
                    continue
                out.append(self.summary(doc))
                if len(out) == limit:
                    return out, _encode_token(row_group, row_name)
            if len(rows) < 200:
                return out, None

    def render(self, doc: dict[str, Any]) -> dict[str, Any]:
        """GetSchedule's shape."""
        out = {"Arn": self.arn(doc["GroupName"], doc["Name"])}
        for key in (
            "GroupName", "Name", "ScheduleExpression", "StartDate", "EndDate", "Description",
            "ScheduleExpressionTimezone", "State", "CreationDate", "LastModificationDate", "KmsKeyArn",
            "Target", "FlexibleTimeWindow", "ActionAfterCompletion",
        ):
            if doc.get(key) is not None:
                out[key] = doc[key]
        return out

    def summary(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "Arn": self.arn(doc["GroupName"], doc["Name"]), "Name": doc["Name"], "GroupName": doc["GroupName"],
            "State": doc["State"], "CreationDate": doc["CreationDate"],
            "LastModificationDate": doc["LastModificationDate"], "Target": {"Arn": doc["Target"]["Arn"]},
        }

    async def _document(self, spec: ScheduleSpec, now: float, *, created: float) -> dict[str, Any]:
        """Validate the spec against the world (expression, time zone, target) and build the document."""
        expr = parse(spec.expression, spec.timezone or "UTC")
        if not expr.one_time and spec.start_date is not None and spec.end_date is not None \
                and spec.end_date <= spec.start_date:
            raise ValidationException("The EndDate must be later than the StartDate.")
        function, qualifier = await self._resolve_target(spec.target.get("Arn", ""))
        target = {**spec.target, "RetryPolicy": {**DEFAULT_RETRY_POLICY, **(spec.target.get("RetryPolicy") or {})}}
        doc: dict[str, Any] = {
            "v": DOC_VERSION, "Name": spec.name, "GroupName": spec.group, "ScheduleExpression": spec.expression,
            "ScheduleExpressionTimezone": spec.timezone, "StartDate": spec.start_date, "EndDate": spec.end_date,
            "Description": spec.description, "State": spec.state, "KmsKeyArn": spec.kms_key_arn, "Target": target,
            "FlexibleTimeWindow": spec.flexible_time_window, "ActionAfterCompletion": spec.action_after_completion,
            "CreationDate": created, "LastModificationDate": now, "ClientToken": spec.client_token,
            "function": function, "qualifier": qualifier or "",
            "anchor": spec.start_date if spec.start_date is not None else now, "fired": 0,
        }
        doc["next_fire_at"] = next_after(doc, now)
        return doc

    async def _resolve_target(self, arn: str) -> tuple[str, str | None]:
        if not _TARGET_ARN.fullmatch(arn):
            raise ValidationException(
                f"Invalid target ARN {arn!r}: Bayou schedules invoke Lambda functions "
                "(arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>])."
            )
        try:
            resolved = await self._registry.resolve(arn, None)
        except (ResourceNotFoundException, InvalidParameterValueException) as exc:
            raise ValidationException(f"The target function does not exist: {exc.message}") from exc
        return resolved.config.name, resolved.qualifier

    async def _get_doc(self, group: str, name: str) -> dict[str, Any]:
        doc = await self._meta.get_doc(KIND, group, name)
        if doc is None:
            raise self._not_found(group, name)
        return doc

    @staticmethod
    def _check_group(group: str) -> None:
        if group != DEFAULT_GROUP:
            raise ResourceNotFoundException(f"Schedule group {group} does not exist.")

    @staticmethod
    def _not_found(group: str, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Schedule {name} does not exist.")


def _same_timing(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate")
    return all(old.get(key) == new.get(key) for key in keys)


def _encode_token(group: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([group, name]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        group, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(group), str(name)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationException("Invalid NextToken.") from exc


__all__ = ["Schedules", "ScheduleSpec", "fire_due", "iter_schedules"]
