"""The consumer of the durable asynchronous-invocation queue (Lambda's Event invocations).

Each queued invocation runs at least once: the row leaves the queue only in the transaction
that records its outcome (a function destination's event is queued in that same transaction).
Retries follow the function's event-invoke config (MaximumRetryAttempts, default 2;
MaximumEventAgeInSeconds, default 6 h) with exponential backoff; throttles and an unavailable
runtime are retried without counting as attempts, until the event is too old.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from bayou.clock import Clock
from bayou.errors import (
    BayouError,
    RequestTooLargeException,
    ResourceNotFoundException,
    ServiceException,
    TooManyRequestsException,
)
from bayou.functions import destinations as dest
from bayou.functions.invoker import Invoker, InvokeResult
from bayou.functions.models import Resolved, function_arn
from bayou.meta.records import QueuedInvocation
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.service import StorageService

log = logging.getLogger("bayou.functions.async")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600
BATCH = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Delay before the first retry; doubles for each further attempt (Lambda waits 1 then 2 min).
    first_delay: float = 1.0
    max_delay: float = 300.0
    throttle_delay: float = 0.5
    #: Throttled rows back off to this, not to max_delay: capacity may come back at any moment.
    throttle_max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, attempt - 1))


class AsyncInvocationWorker:
    name = "fn-async"

    def __init__(
        self,
        meta: MetaStore,
        invoker: Invoker,
        storage: StorageService,
        clock: Clock,
        *,
        region: str,
        policy: RetryPolicy | None = None,
        concurrency: int = 32,
        poll_seconds: float = 0.1,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self._meta = meta
        self._invoker = invoker
        self._storage = storage
        self._clock = clock
        self._region = region
        self._policy = policy or RetryPolicy()
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll = poll_seconds
        self._idle_poll = max(poll_seconds, idle_poll_seconds)
        #: The next wait: `poll_seconds` after finding work, doubling while the queue stays empty.
        self._wait = poll_seconds
        #: When the earliest retry this process scheduled is due (other processes only enqueue).
        self._next_due: float | None = None
        self.succeeded = 0
        self.failed = 0

    async def work(self) -> int:
        now = self._clock.now()
        if self._next_due is not None and self._next_due <= now:
            self._next_due = None
        due = await self._meta.due_invocations(now, BATCH)
        self._wait = self._poll if due else min(self._idle_poll, self._wait * 2)
        started = 0
        for queued in due:
            if queued.id in self._in_flight:
                continue
            self._in_flight.add(queued.id)
            task = asyncio.create_task(self._run(queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        if started:
            await asyncio.sleep(0)  # let them start before the next poll
        return 0 if started < BATCH else started

    async def wait_for_work(self) -> None:
        """Until an enqueue in this process, a retry of ours is due, or the back-off poll: other
        worker processes enqueue too, and they are seen within `idle_poll_seconds`."""
        event = self._invoker.enqueued
        timeout = self._wait
        if self._next_due is not None:
            timeout = max(0.0, min(timeout, self._next_due - self._clock.now()))
        try:
            await asyncio.wait_for(event.wait(), timeout=timeout)
        except TimeoutError:
            pass
        event.clear()

    def status(self) -> dict[str, object]:
        return {"in_flight": len(self._in_flight), "succeeded": self.succeeded, "failed": self.failed}

    async def _run(self, queued: QueuedInvocation) -> None:
        try:
            async with self._slots:
                await self._attempt(queued)
        except Exception:
            log.exception("async invocation %s of %s failed unexpectedly; it stays queued", queued.id, queued.function)
            await self._meta.write(
                lambda tx: tx.reschedule_invocation(queued.id, queued.attempts, self._clock.now() + self._policy.max_delay)
            )
        finally:
            self._in_flight.discard(queued.id)

    async def _attempt(self, queued: QueuedInvocation) -> None:
        if "outcome" in queued.meta:  # the function already ran: only its destination record is owed
            await self._redeliver(queued)
            return
        registry = self._invoker.registry
        try:
            target = await registry.resolve(queued.function, queued.qualifier or None)
        except ResourceNotFoundException:
            log.warning("dropping async invocation %s: function %s:%s no longer exists",
                        queued.id, queued.function, queued.qualifier)
            await self._meta.write(lambda tx: tx.delete_invocation(queued.id))
            return
        config = await self._event_config(queued)
        now = self._clock.now()
        max_age = int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
        if now - queued.enqueued_at > max_age:
            await self._finish(queued, target, config, dest.EVENT_AGE_EXCEEDED, None, queued.attempts)
            return
        try:
            result = await self._invoker.invoke(target, queued.payload, request_id=queued.id)
        except (TooManyRequestsException, ServiceException):
            # Not an attempt; back off per row, so a long throttle does not rewrite it twice a second.
            throttles = int(queued.meta.get("throttles", 0)) + 1
            delay = min(self._policy.throttle_max_delay, self._policy.throttle_delay * 2 ** min(throttles - 1, 16))
            await self._retry_later(queued, queued.attempts, delay, meta={**queued.meta, "throttles": throttles})
            return
        except RequestTooLargeException:  # cannot ever be sent: a failure, not something to retry
            self.failed += 1
            await self._finish(queued, target, config, dest.RETRIES_EXHAUSTED, None, queued.attempts + 1)
            return
        attempts = queued.attempts + 1
        if result.function_error is None:
            self.succeeded += 1
            await self._finish(queued, target, config, dest.SUCCESS, result, attempts)
            return
        if attempts > int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES)):
            self.failed += 1
            await self._finish(queued, target, config, dest.RETRIES_EXHAUSTED, result, attempts)
            return
        await self._retry_later(queued, attempts, self._policy.delay(attempts))

    async def _event_config(self, queued: QueuedInvocation) -> dict[str, Any]:
        registry = self._invoker.registry
        if queued.qualifier:
            config = await registry.get_setting(queued.function, "event-invoke", queued.qualifier)
            if config is not None:
                return config
        return await registry.get_setting(queued.function, "event-invoke", "") or {}

    async def _retry_later(self, queued: QueuedInvocation, attempts: int, delay: float,
                           meta: dict[str, Any] | None = None) -> None:
        not_before = self._clock.now() + delay
        await self._meta.write(lambda tx: tx.reschedule_invocation(queued.id, attempts, not_before, meta=meta))
        if self._next_due is None or not_before < self._next_due:
            self._next_due = not_before
            self._invoker.enqueued.set()  # wake the wait, which may be longer than this delay

    async def _finish(
        self,
        queued: QueuedInvocation,
        target: Resolved,
        config: dict[str, Any],
        condition: str,
        result: InvokeResult | None,
        attempts: int = 0,
    ) -> None:
        key = "OnSuccess" if condition == dest.SUCCESS else "OnFailure"
        arn = ((config.get("DestinationConfig") or {}).get(key) or {}).get("Destination")
        destination = dest.parse_destination(arn) if arn else None
        if condition != dest.SUCCESS:
            log.warning("async invocation %s of %s ended: %s after %d attempt(s)%s", queued.id, queued.function,
                        condition, attempts, f"; record sent to {arn}" if destination else "")
        if destination is None:
            await self._meta.write(lambda tx: tx.delete_invocation(queued.id))
            return
        record = dest.destination_record(
            request_id=queued.id,
            function_arn=function_arn(self._region, target.config.name, target.executed_version),
            condition=condition,
            attempts=attempts,
            payload=queued.payload,
            now=self._clock.now(),
            executed_version=result.executed_version if result else None,
            function_error=result.function_error if result else None,
            response=result.body if result else None,
        )
        body = json.dumps(record).encode()
        if destination.kind == "function":
            await self._to_function(queued, destination, body)
        else:
            await self._to_bucket(queued, destination, target.config.name, body)

    async def _to_function(self, queued: QueuedInvocation, destination: dest.Destination, body: bytes) -> None:
        try:
            target = await self._invoker.registry.resolve(destination.name, None)
        except BayouError:
            log.error("destination %s of async invocation %s does not exist; record dropped", destination.name, queued.id)
            await self._meta.write(lambda tx: tx.delete_invocation(queued.id))
            return
        follow_up = self._invoker.queued(target.config.name, target.qualifier, body, request_id=None)

        def hand_over(tx: MetaTx) -> None:
            tx.delete_invocation(queued.id)
            tx.enqueue_invocation(follow_up)

        await self._meta.write(hand_over)
        self._invoker.enqueued.set()

    async def _redeliver(self, queued: QueuedInvocation) -> None:
        """Retry a destination record whose write failed, without running the function again."""
        outcome = queued.meta["outcome"]
        destination = dest.parse_destination(outcome["arn"])
        if destination is None or self._clock.now() - queued.enqueued_at > 2 * DEFAULT_MAX_AGE:
            log.error("giving up the destination record of async invocation %s (%s): %s",
                      queued.id, outcome["arn"], outcome["record"][:200])
            await self._meta.write(lambda tx: tx.delete_invocation(queued.id))
            return
        await self._to_bucket(queued, destination, outcome["function"], outcome["record"].encode())

    async def _to_bucket(self, queued: QueuedInvocation, destination: dest.Destination, function: str,
                         body: bytes) -> None:
        key = dest.destination_key(destination, function, queued.id, queued.enqueued_at)

        async def chunks() -> Any:
            yield body

        request = PutRequest(
            destination.name, key, chunks(), ObjectAttributes(content_type="application/json"), Integrity(),
            content_length=len(body),
        )
        try:
            await self._storage.put_object(request)
        except BayouError as exc:
            log.error("cannot write destination record of %s to s3://%s/%s: %s; retrying the write later",
                      queued.id, destination.name, key, exc.message)
            arn = f"arn:aws:s3:::{destination.name}" + (f"/{destination.prefix}" if destination.prefix else "")
            outcome = {"arn": arn, "function": function, "record": body.decode()}
            not_before = self._clock.now() + self._policy.max_delay
            await self._meta.write(lambda tx: tx.reschedule_invocation(
                queued.id, queued.attempts, not_before, meta={**queued.meta, "outcome": outcome}))
            return
        await self._meta.write(lambda tx: tx.delete_invocation(queued.id))
