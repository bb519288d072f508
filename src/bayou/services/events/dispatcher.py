"""The event dispatcher: delivers `event:<target arn>` outbox rows, at least once, in order.

Each target has its own outbox kind, so a target that is down only delays its own events; its
rows wait durably (they survive restarts) and are retried with exponential backoff. Rows are
sent oldest first in batches and deleted only after the target acknowledged them, which keeps
per-key order (and order overall) for each target. One batch per target is in flight at a time,
and each send is bounded (the target's own timeout, and SEND_DEADLINE for any target), so a
target that accepts connections and never answers cannot pile up work.

A target's queue is bounded: past its `queue_limit`, the newest rows are dropped with an error
log line and counted in `status()`. A batch that keeps failing is dead-lettered once its oldest
event is older than the target's `max_age_seconds` (or after `max_attempts` attempts, if set):
its events are written as JSON objects under the target's `dead_letter` S3 prefix, or else moved
to the outbox kind `event-dead:<arn>`; never dropped silently. Events of a target that no longer
exists go to `event-dead:<arn>` too.

Specs are re-read every few seconds, so an admin API change reaches the dispatcher (which runs in
worker 0) without a restart. Counters are saved in a metadata document (kind `event-dispatcher`)
so that every worker's admin API can report them, and so that they survive restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bayou.clock import Clock
from bayou.meta.records import OutboxRow
from bayou.meta.store import MetaStore, MetaTx
from bayou.services.events.targets import (
    Target,
    TargetError,
    TargetRegistry,
    TargetSpec,
    cloudevent,
    create_target,
    parse_s3_arn,
    parse_target_arn,
)
from bayou.storage import events
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest

log = logging.getLogger("bayou.events")

BATCH = 100
MAX_BACKOFF = 30.0
#: Upper bound of one batch's send for any target (a library without its own timeout).
SEND_DEADLINE = 300.0
DEAD_OUTBOX = "event-dead"
STATUS_KIND = "event-dispatcher"
STATUS_NAME = "status"
COUNTERS = ("delivered", "dropped", "dead_lettered")


@dataclass(slots=True)
class TargetState:
    spec: TargetSpec
    target: Target | None = None
    failures: int = 0  # consecutive failed attempts of the batch at the head of the queue
    retry_at: float = 0.0
    delivered: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    pending: int = 0
    last_error: str = ""
    stale: bool = False  # the spec changed: make a new Target once the current send is over
    removed: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def summary(self) -> dict[str, Any]:
        return {"pending": self.pending, "delivered": self.delivered, "dropped": self.dropped,
                "dead_lettered": self.dead_lettered, "failures": self.failures, "last_error": self.last_error}


def dead_kind(arn: str) -> str:
    return f"{DEAD_OUTBOX}:{arn}"


class EventDispatcher:
    name = "events"

    def __init__(self, meta: MetaStore, registry: TargetRegistry, clock: Clock, *, poll_seconds: float = 0.05,
                 source: str = "bayou", storage: Any = None, refresh_seconds: float = 2.0) -> None:
        self._meta = meta
        self._registry = registry
        self._clock = clock
        self._poll = poll_seconds
        self.woken = asyncio.Event()
        self._source = source
        self._storage = storage
        self._refresh = refresh_seconds
        self._states: dict[str, TargetState] = {}
        self._saved: dict[str, dict[str, Any]] | None = None  # the counters document, once loaded
        self._refreshed_at = time.monotonic()
        self._status_at = 0.0
        self._dirty = False

    async def work(self) -> int:
        if self._saved is None:
            doc = await self._meta.get_doc(STATUS_KIND, STATUS_NAME, "")
            self._saved = dict((doc or {}).get("targets") or {})
        if time.monotonic() - self._refreshed_at >= self._refresh:
            await self._refresh_specs()
        counts = await self._meta.outbox_counts(f"{events.EVENT_OUTBOX}:")
        for arn, state in list(self._states.items()):
            if arn not in counts and not state.running():
                state.pending = 0
                if state.removed:  # a removed target with nothing queued: close its client now
                    if state.target is not None:
                        await state.target.close()
                    self._remember(arn, state)
                    del self._states[arn]
        for kind, count in counts.items():
            arn = kind[len(events.EVENT_OUTBOX) + 1:]
            state = await self._state(arn, kind, count)
            if state is None or state.running() or self._clock.now() < state.retry_at:
                continue
            state.task = asyncio.create_task(self._drain(kind, state))
        await self._save_status()
        return 0

    async def wait_for_work(self) -> None:
        """Until a commit wakes us (services/wake.py), or the poll interval passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), self._poll)
        self.woken.clear()

    def status(self) -> dict[str, object]:
        return {arn: s.summary() for arn, s in self._states.items()}

    async def close(self) -> None:
        for state in self._states.values():
            if state.task is not None:
                state.task.cancel()
            if state.target is not None:
                await state.target.close()
        await self._save_status(force=True)

    # --- targets and their specs ------------------------------------------------------------

    async def _refresh_specs(self) -> None:
        self._refreshed_at = time.monotonic()
        specs = {spec.arn: spec for spec in await self._registry.all()}
        for arn, state in self._states.items():
            spec = specs.get(arn)
            if spec is None:
                state.removed = state.stale = True
            elif spec != state.spec:
                state.spec, state.stale = spec, True
                state.retry_at = 0.0  # a fixed configuration deserves an attempt now

    async def _state(self, arn: str, kind: str, count: int) -> TargetState | None:
        state = self._states.get(arn)
        if state is not None and state.stale and not state.running():
            if state.target is not None:
                await state.target.close()
                state.target = None
            state.stale = False
            if state.removed:
                self._remember(arn, state)
                del self._states[arn]
                state = None
        if state is None:
            parsed = parse_target_arn(arn)
            spec = await self._registry.get(parsed[0]) if parsed else None
            if spec is None or spec.arn != arn:
                moved = await self._move_all_to_dead(kind, arn)
                log.error("moved %d event(s) for %s to outbox kind %s: no such target is configured",
                          moved, arn, dead_kind(arn))
                return None
            state = self._states[arn] = TargetState(spec)
            for name in COUNTERS:
                setattr(state, name, int((self._saved or {}).get(arn, {}).get(name, 0)))
        state.pending = count
        if count > state.spec.queue_limit:
            limit = state.spec.queue_limit
            dropped = await self._meta.write(lambda tx: tx.trim_outbox(kind, limit))
            state.dropped += dropped
            state.pending -= dropped
            self._dirty = True
            log.error("event queue of %s is full (%d): dropped the %d newest event(s)", arn, limit, dropped)
        return state

    # --- delivery ---------------------------------------------------------------------------

    async def _drain(self, kind: str, state: TargetState) -> None:
        try:
            while True:
                rows = await self._meta.pending_outbox((kind,), BATCH)
                if not rows:
                    return
                try:
                    await self._send(state, rows)
                except Exception as exc:  # TargetError, or a target library's own exception
                    delivered = exc.delivered if isinstance(exc, TargetError) else 0
                    if delivered > 0:
                        await self._forget(state, rows[:delivered])
                        state.failures = 0
                    error = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
                    if not await self._failed(state, rows[delivered:], error):
                        return
                    continue
                await self._forget(state, rows)
                state.failures = 0
        except Exception as exc:  # the metadata store or the dead-letter write: try again later
            log.exception("event dispatch for %s failed", state.spec.arn)
            self._back_off(state, f"{type(exc).__name__}: {exc}")

    async def _send(self, state: TargetState, rows: list[OutboxRow]) -> None:
        if state.target is None:
            state.target = create_target(state.spec)
        messages: list[dict[str, Any]] = []
        for row in rows:
            body = row.payload["message"]
            if state.spec.format == "cloudevents":
                body = cloudevent(body, self._source)
            messages.append({"key": row.payload.get("key", ""), "body": body})
        try:
            async with asyncio.timeout(SEND_DEADLINE):
                await state.target.send(messages)
        except TimeoutError:
            raise TargetError(f"no acknowledgement within {SEND_DEADLINE:g} s") from None

    async def _forget(self, state: TargetState, rows: list[OutboxRow]) -> None:
        await self._meta.write(lambda tx: _delete(tx, rows))
        state.delivered += len(rows)
        state.pending = max(0, state.pending - len(rows))
        self._dirty = True

    async def _failed(self, state: TargetState, rows: list[OutboxRow], error: str) -> bool:
        """Back off, or dead-letter the batch if it is too old or tried too often; True if dead-lettered."""
        state.failures += 1
        spec = state.spec
        age = self._clock.now() - rows[0].created_at if rows else 0.0
        exhausted = spec.max_attempts > 0 and state.failures >= spec.max_attempts
        if rows and (age > spec.max_age_seconds or exhausted):
            await self._dead_letter(state, rows, error, age)
            state.failures = 0
            state.last_error = error
            return True
        self._back_off(state, error)
        return False

    def _back_off(self, state: TargetState, error: str) -> None:
        delay = min(MAX_BACKOFF, 0.1 * 2 ** (max(state.failures, 1) - 1))
        state.retry_at = self._clock.now() + delay
        state.last_error = error
        self._dirty = True
        if state.failures <= 1 or state.failures % 20 == 0:
            log.warning("delivery to %s failed (%s); %d event(s) wait, retrying in %.1f s",
                        state.spec.arn, error, state.pending, delay)

    # --- dead letters -----------------------------------------------------------------------

    async def _dead_letter(self, state: TargetState, rows: list[OutboxRow], error: str, age: float) -> None:
        spec = state.spec
        where = f"outbox kind {dead_kind(spec.arn)}"
        destination = parse_s3_arn(spec.dead_letter) if spec.dead_letter else None
        written = False
        if destination is not None:
            try:
                await self._write_objects(spec, destination, rows, error, state.failures)
                written = True
                where = f"s3://{destination[0]}/{_object_key(destination[1], spec.id, rows[0])}..."
            except Exception as exc:
                log.error("cannot write dead letters of %s to %s: %s; keeping them in %s",
                          spec.arn, spec.dead_letter, exc, where)
        if written:
            await self._meta.write(lambda tx: _delete(tx, rows))
        else:
            await self._meta.write(lambda tx: _move(tx, rows, dead_kind(spec.arn), error, state.failures))
        state.dead_lettered += len(rows)
        state.pending = max(0, state.pending - len(rows))
        self._dirty = True
        log.error("dead-lettered %d event(s) of %s to %s after %d attempt(s), oldest %.0f s old: %s",
                  len(rows), spec.arn, where, state.failures, age, error)

    async def _write_objects(self, spec: TargetSpec, destination: tuple[str, str], rows: list[OutboxRow],
                             error: str, attempts: int) -> None:
        storage = self._storage if self._storage is not None else self._registry.storage
        if storage is None:
            raise RuntimeError("no storage to write dead letters to")
        bucket, prefix = destination
        config = events.NotificationConfig.from_doc(await self._meta.get_doc(events.CONFIG_KIND, bucket, ""))
        sample = _object_key(prefix, spec.id, rows[0])
        if any(rule.arn == spec.arn and rule.matches("ObjectCreated:Put", sample) for rule in config.rules):
            raise RuntimeError(f"bucket {bucket} notifies {spec.arn} of these objects: that would loop")
        for row in rows:
            body = json.dumps(_dead_record(row, error, attempts, self._clock.now()), ensure_ascii=False).encode()
            request = PutRequest(
                bucket, _object_key(prefix, spec.id, row), _once(body),
                ObjectAttributes(content_type="application/json"), Integrity(), content_length=len(body),
            )
            await storage.put_object(request)

    async def _move_all_to_dead(self, kind: str, arn: str) -> int:
        moved = 0
        while rows := await self._meta.pending_outbox((kind,), BATCH):
            await self._meta.write(lambda tx, rows=rows: _move(tx, rows, dead_kind(arn), "no such target", 0))
            moved += len(rows)
        return moved

    # --- status -----------------------------------------------------------------------------

    def _remember(self, arn: str, state: TargetState) -> None:
        if self._saved is not None:
            self._saved[arn] = {**state.summary(), "pending": 0}

    async def _save_status(self, *, force: bool = False) -> None:
        """Persist the counters when they changed, at most every few seconds (one small write)."""
        if self._saved is None or not (self._dirty or force):
            return
        if not force and time.monotonic() - self._status_at < self._refresh:
            return
        self._status_at = time.monotonic()
        self._dirty = False
        for arn, state in self._states.items():
            self._saved[arn] = state.summary()
        doc = {"v": 1, "updated_at": self._clock.now(), "targets": dict(self._saved)}
        await self._meta.write(lambda tx: tx.put_doc(STATUS_KIND, STATUS_NAME, "", doc))


def _delete(tx: MetaTx, rows: list[OutboxRow]) -> None:
    for row in rows:
        tx.delete_outbox(row.id)


def _move(tx: MetaTx, rows: list[OutboxRow], kind: str, error: str, attempts: int) -> None:
    for row in rows:
        tx.delete_outbox(row.id)
        tx.add_outbox(kind, {**row.payload, "enqueued_at": row.created_at, "error": error, "attempts": attempts,
                             "row": row.id})


def _object_key(prefix: str, target_id: str, row: OutboxRow) -> str:
    """Unique and in queue order: outbox row ids are never reused (AUTOINCREMENT)."""
    name = f"{target_id}/{row.id:016d}.json"
    return f"{prefix}/{name}" if prefix else name


def _dead_record(row: OutboxRow, error: str, attempts: int, now: float) -> dict[str, Any]:
    return {"v": 1, "target": row.payload.get("target"), "key": row.payload.get("key"),
            "message": row.payload.get("message"), "row": row.id, "enqueued_at": row.created_at,
            "dead_lettered_at": now, "attempts": attempts, "error": error}


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
