"""The scheduler: fires due schedules into the asynchronous-invocation queue.

Each due schedule is fired by `functions.schedules.fire_due` in one metadata transaction that
enqueues its invocations (ids derived from the schedule and the scheduled time) and advances
`next_fire_at`: a crash before the commit fires nothing, a crash after it has fired exactly once,
and the async worker runs the queued invocation with Lambda's retry semantics. Firing times that
passed while the server was down are fired on the first step after start (catch-up is capped;
see functions/schedules.py).

Schedules are written by any server worker process, so this worker polls (every `poll_seconds`,
sooner when the next firing is closer); each step reads every schedule document once.
"""

from __future__ import annotations

import asyncio
import logging

from bayou.clock import Clock
from bayou.functions.invoker import Invoker
from bayou.functions.schedules import fire_due, iter_schedules
from bayou.meta.store import MetaStore, MetaTx

log = logging.getLogger("bayou.services.scheduler")


class SchedulerWorker:
    name = "scheduler"

    def __init__(
        self, meta: MetaStore, invoker: Invoker, clock: Clock, *, region: str, poll_seconds: float = 1.0
    ) -> None:
        self._meta = meta
        self._invoker = invoker
        self._clock = clock
        self._region = region
        self._poll = poll_seconds
        self._soonest: float | None = None
        self.fired = 0
        self.schedules = 0

    async def work(self) -> int:
        now = self._clock.now()
        fired, soonest, count = 0, None, 0
        async for group, name, doc in iter_schedules(self._meta):
            count += 1
            when = doc.get("next_fire_at")
            if doc.get("State") != "ENABLED" or when is None:
                continue
            if when > now:
                soonest = when if soonest is None else min(soonest, when)
                continue
            fired += await self._fire(group, name, when, now)
        self._soonest, self.schedules = soonest, count
        if fired:
            self.fired += fired
            self._invoker.enqueued.set()
        return fired

    async def _fire(self, group: str, name: str, expected: float, now: float) -> int:
        def fire(tx: MetaTx) -> int:
            return fire_due(tx, group, name, expected, now, self._invoker.queued, self._region)

        try:
            return await self._meta.write(fire)
        except Exception:
            log.exception("cannot fire schedule %s/%s; it stays due", group, name)
            return 0

    async def wait_for_work(self) -> None:
        delay = self._poll
        if self._soonest is not None:
            delay = max(0.0, min(delay, self._soonest - self._clock.now()))
        await asyncio.sleep(delay)

    def status(self) -> dict[str, object]:
        return {"schedules": self.schedules, "fired": self.fired, "next_fire_at": self._soonest}
