"""Pools of execution environments per EnvSpec key, concurrency limits, idle reaping, provisioning.

All state lives on the host's event loop (no locks). An environment is in exactly one of: starting,
idle (in its pool's `idle` stack), busy. The busy count per function is what the limits check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bayou.functions.host.environment import Environment, InvocationOutcome, InvocationRequest

log = logging.getLogger("bayou.functions.host.pool")

RESERVED_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_EXCEEDED = "ConcurrentInvocationLimitExceeded"
#: Seconds an environment may take to initialise (Lambda's on-demand init limit), apart from the timeout.
INIT_LIMIT = 10.0

EnvironmentFactory = Callable[[dict[str, Any]], Environment]


@dataclass(eq=False, slots=True)
class Slot:
    env: Environment
    provisioned: bool = False
    ready: bool = False
    busy: bool = False
    stop_after: bool = False
    last_used: float = 0.0


@dataclass(eq=False, slots=True)
class Pool:
    spec: dict[str, Any]
    idle: list[Slot] = field(default_factory=list)
    slots: set[Slot] = field(default_factory=set)
    provisioned_target: int = 0

    @property
    def function(self) -> str:
        return str(self.spec.get("function", ""))


@dataclass(slots=True)
class Invoked:
    """What the server needs to answer: the outcome, or the throttle reason."""

    outcome: InvocationOutcome | None
    throttled: str | None = None
    cold: bool = False
    init_ms: float | None = None


class Pools:
    def __init__(self, factory: EnvironmentFactory, account_concurrency: int, idle_ttl: float) -> None:
        self.factory = factory
        self.account_concurrency = account_concurrency
        self.idle_ttl = idle_ttl
        self.pools: dict[str, Pool] = {}
        self.busy: dict[str, int] = {}
        self.unreserved_busy = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    # -- invocations --------------------------------------------------------------------------

    def _throttle_reason(self, function: str, limit: int | None) -> str | None:
        if limit is not None:
            return RESERVED_EXCEEDED if self.busy.get(function, 0) >= limit else None
        return ACCOUNT_EXCEEDED if self.unreserved_busy >= self.account_concurrency else None

    async def invoke(
        self, spec: dict[str, Any], request: InvocationRequest, concurrency_limit: int | None
    ) -> Invoked:
        function = str(spec.get("function", ""))
        reason = self._throttle_reason(function, concurrency_limit)
        if reason is not None:
            return Invoked(None, throttled=reason)
        self.busy[function] = self.busy.get(function, 0) + 1
        reserved = concurrency_limit is not None
        if not reserved:
            self.unreserved_busy += 1
        try:
            return await self._invoke(spec, request)
        finally:
            left = self.busy[function] - 1
            if left:
                self.busy[function] = left
            else:
                del self.busy[function]
            if not reserved:
                self.unreserved_busy -= 1

    async def _invoke(self, spec: dict[str, Any], request: InvocationRequest) -> Invoked:
        pool = self._pool(spec)
        cold = not pool.idle
        if cold:
            slot = Slot(self.factory(spec), busy=True)
            pool.slots.add(slot)
            try:
                await asyncio.wait_for(slot.env.start(), INIT_LIMIT)
            except TimeoutError:
                self._discard(pool, slot)
                return Invoked(timeout_outcome(request, INIT_LIMIT), cold=True)
            except Exception as exc:
                log.exception("could not start an environment for %s", pool.spec.get("key"))
                self._discard(pool, slot)
                return Invoked(_start_failure(request, exc), cold=True)
            slot.ready = True
            # As on Lambda, init has its own limit: the function's timeout starts after it.
            timeout = float(spec.get("timeout") or 3)
            request.deadline_ms = max(request.deadline_ms, int((time.time() + timeout) * 1000))
        else:
            slot = pool.idle.pop()
            slot.busy = True
        try:
            outcome = await slot.env.invoke(request)
        except Exception as exc:
            log.exception("invocation failed in the host")
            outcome = _start_failure(request, exc)
            outcome.environment_dead = True
        self._release(pool, slot, outcome)
        return Invoked(outcome, cold=cold, init_ms=slot.env.init_ms if cold else None)

    def _pool(self, spec: dict[str, Any]) -> Pool:
        key = spec["key"]
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = Pool(spec)
        return pool

    def _release(self, pool: Pool, slot: Slot, outcome: InvocationOutcome) -> None:
        slot.busy = False
        if outcome.environment_dead or not slot.env.alive or slot.stop_after or self._closing:
            self._discard(pool, slot)
            return
        slot.last_used = time.monotonic()
        pool.idle.append(slot)

    def _discard(self, pool: Pool, slot: Slot) -> None:
        pool.slots.discard(slot)
        with contextlib.suppress(ValueError):
            pool.idle.remove(slot)
        self._spawn(slot.env.stop())
        if slot.provisioned:
            self._maintain(pool)
        elif not pool.slots and not pool.provisioned_target:
            self.pools.pop(pool.spec["key"], None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- provisioned concurrency --------------------------------------------------------------

    def provision(self, targets: list[dict[str, Any]]) -> dict[str, int]:
        wanted = {t["env"]["key"]: (t["env"], int(t.get("count", 0))) for t in targets}
        for key, pool in list(self.pools.items()):
            if key not in wanted and pool.provisioned_target:
                pool.provisioned_target = 0
                self._trim(pool)
        for spec, count in wanted.values():
            pool = self._pool(spec)
            pool.provisioned_target = max(0, count)
            self._trim(pool)
            self._maintain(pool)
        return self.ready_counts()

    def _trim(self, pool: Pool) -> None:
        """Unmark provisioned environments beyond the target; idle ones stop now."""
        extra = sum(1 for s in pool.slots if s.provisioned) - pool.provisioned_target
        for slot in sorted(pool.slots, key=lambda s: s.busy):
            if extra <= 0:
                break
            if slot.provisioned:
                slot.provisioned = False
                extra -= 1
                if slot.ready and not slot.busy:
                    self._discard(pool, slot)
        if not pool.slots and not pool.provisioned_target:
            self.pools.pop(pool.spec["key"], None)

    def _maintain(self, pool: Pool) -> None:
        if self._closing:
            return
        have = sum(1 for s in pool.slots if s.provisioned)
        for _ in range(pool.provisioned_target - have):
            slot = Slot(self.factory(pool.spec), provisioned=True)
            pool.slots.add(slot)
            self._spawn(self._start_provisioned(pool, slot))

    async def _start_provisioned(self, pool: Pool, slot: Slot) -> None:
        try:
            await slot.env.start()
        except Exception:
            log.exception("could not start a provisioned environment for %s", pool.spec.get("key"))
            pool.slots.discard(slot)
            await slot.env.stop()
            return
        if slot not in pool.slots or not slot.env.alive:
            pool.slots.discard(slot)
            await slot.env.stop()
            return
        slot.ready = True
        if slot.stop_after:
            self._discard(pool, slot)
            return
        slot.last_used = time.monotonic()
        pool.idle.append(slot)

    def ready_counts(self) -> dict[str, int]:
        return {
            key: sum(1 for s in pool.slots if s.provisioned and s.ready)
            for key, pool in self.pools.items()
            if pool.provisioned_target
        }

    # -- drop, reaping, status, shutdown ------------------------------------------------------

    def drop(self, function: str, version: str | None = None) -> int:
        """Stop a function's environments (of one version, if given): idle ones now, busy ones when done."""
        stopped = 0
        for key, pool in list(self.pools.items()):
            if pool.function != function or (version is not None and pool.spec.get("version") != version):
                continue
            if not pool.slots:
                del self.pools[key]
                continue
            for slot in list(pool.slots):
                if slot.busy or not slot.ready:
                    slot.stop_after = True
                else:
                    stopped += 1
                    self._discard(pool, slot)
        return stopped

    async def _reap_forever(self) -> None:
        period = max(0.1, min(self.idle_ttl / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            self.reap_idle(time.monotonic())

    def reap_idle(self, now: float) -> None:
        for pool in list(self.pools.values()):
            for slot in list(pool.idle):
                if not slot.provisioned and now - slot.last_used >= self.idle_ttl:
                    self._discard(pool, slot)

    def status(self) -> dict[str, Any]:
        environments = []
        for key, pool in self.pools.items():
            for slot in pool.slots:
                if not slot.ready and not slot.busy:
                    continue
                state = "busy" if slot.busy else "provisioned" if slot.provisioned else "idle"
                environments.append({"key": key, "state": state, "pid": slot.env.pid})
        return {"environments": environments, "busy": dict(self.busy)}

    async def close(self) -> None:
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
        stops = [slot.env.stop() for pool in self.pools.values() for slot in pool.slots]
        self.pools.clear()
        await asyncio.gather(*stops, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()


def timeout_outcome(request: InvocationRequest, timeout: float) -> InvocationOutcome:
    """Lambda's answer when the deadline passes (the environment has been or will be killed)."""
    import json

    message = f"RequestId: {request.request_id} Error: Task timed out after {timeout:.2f} seconds"
    body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
    output = f"{message}\n".encode()
    return InvocationOutcome(body=body, function_error="Unhandled", environment_dead=True, output=output)


def _start_failure(request: InvocationRequest, exc: BaseException) -> InvocationOutcome:
    import json

    message = f"RequestId: {request.request_id} Error: could not start the environment: {exc}"
    body = json.dumps({"errorMessage": message, "errorType": "Runtime.Unknown"}).encode()
    return InvocationOutcome(body=body, function_error="Unhandled", environment_dead=True)
