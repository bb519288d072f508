"""The event dispatcher: delivers `event:<target arn>` outbox rows, at least once, in order.

Each target has its own outbox kind, so a target that is down only delays its own events; its
rows wait durably (they survive restarts) and are retried with exponential backoff. Rows are
sent oldest first in batches and deleted only after the target acknowledged them, which keeps
per-key order (and order overall) for each target. A target's queue is bounded: past its
`queue_limit`, the newest rows are dropped with an error log line and counted in `status()`.
"""

from __future__ import annotations

import asyncio
import logging
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
    parse_target_arn,
)
from bayou.storage.events import EVENT_OUTBOX

log = logging.getLogger("bayou.events")

BATCH = 100
MAX_BACKOFF = 30.0


@dataclass(slots=True)
class TargetState:
    spec: TargetSpec
    target: Target | None = None
    failures: int = 0
    retry_at: float = 0.0
    delivered: int = 0
    dropped: int = 0
    pending: int = 0
    last_error: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class EventDispatcher:
    name = "events"

    def __init__(self, meta: MetaStore, registry: TargetRegistry, clock: Clock, *, poll_seconds: float = 0.05,
                 source: str = "bayou") -> None:
        self._meta = meta
        self._registry = registry
        self._clock = clock
        self._poll = poll_seconds
        self._source = source
        self._states: dict[str, TargetState] = {}

    async def work(self) -> int:
        counts = await self._meta.outbox_counts(f"{EVENT_OUTBOX}:")
        started = 0
        for kind, count in counts.items():
            arn = kind[len(EVENT_OUTBOX) + 1:]
            state = await self._state(arn, kind, count)
            if state is None or (state.task is not None and not state.task.done()):
                continue
            if self._clock.now() < state.retry_at:
                continue
            state.task = asyncio.create_task(self._drain(kind, state))
            started += 1
        return 0

    async def wait_for_work(self) -> None:
        await asyncio.sleep(self._poll)

    def status(self) -> dict[str, object]:
        return {
            arn: {"pending": s.pending, "delivered": s.delivered, "dropped": s.dropped, "failures": s.failures,
                  "last_error": s.last_error}
            for arn, s in self._states.items()
        }

    async def close(self) -> None:
        for state in self._states.values():
            if state.task is not None:
                state.task.cancel()
            if state.target is not None:
                await state.target.close()

    async def _state(self, arn: str, kind: str, count: int) -> TargetState | None:
        state = self._states.get(arn)
        if state is None:
            parsed = parse_target_arn(arn)
            spec = await self._registry.get(parsed[0]) if parsed else None
            if spec is None or spec.arn != arn:
                dropped = await self._meta.write(lambda tx: tx.trim_outbox(kind, 0))
                log.error("dropped %d event(s) for %s: no such target is configured", dropped, arn)
                return None
            state = self._states[arn] = TargetState(spec)
        state.pending = count
        if count > state.spec.queue_limit:
            limit = state.spec.queue_limit
            dropped = await self._meta.write(lambda tx: tx.trim_outbox(kind, limit))
            state.dropped += dropped
            state.pending -= dropped
            log.error("event queue of %s is full (%d): dropped the %d newest event(s)", arn, limit, dropped)
        return state

    async def _drain(self, kind: str, state: TargetState) -> None:
        try:
            while True:
                rows = await self._meta.pending_outbox((kind,), BATCH)
                if not rows:
                    return
                await self._send(state, rows)
                await self._meta.write(lambda tx, rows=rows: _forget(tx, rows))
                state.delivered += len(rows)
                state.pending = max(0, state.pending - len(rows))
                state.failures = 0
        except TargetError as exc:
            self._back_off(state, str(exc))
        except Exception as exc:  # a target library's own exception: same treatment
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
        await state.target.send(messages)

    def _back_off(self, state: TargetState, error: str) -> None:
        state.failures += 1
        delay = min(MAX_BACKOFF, 0.1 * 2 ** (state.failures - 1))
        state.retry_at = self._clock.now() + delay
        state.last_error = error
        if state.failures == 1 or state.failures % 20 == 0:
            log.warning("delivery to %s failed (%s); %d event(s) wait, retrying in %.1f s",
                        state.spec.arn, error, state.pending, delay)


def _forget(tx: MetaTx, rows: list[OutboxRow]) -> None:
    for row in rows:
        tx.delete_outbox(row.id)
