"""The batcher: turns a mapping's pending `batch:<uuid>` rows into asynchronous invocations.

A batch leaves when BatchSize records are pending, or when the oldest pending record has waited
MaximumBatchingWindowInSeconds. It becomes ONE queued asynchronous invocation
`{"Records": [...]}` in the same transaction that deletes its rows, so a record is neither lost
nor delivered in two batches; from there Lambda's async semantics apply (retries, maximum age,
destinations). A batch is also cut at 6 MB of payload (Lambda's invocation payload limit).
Rows of a disabled mapping wait; rows of a mapping that no longer exists are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from bayou.clock import Clock
from bayou.functions.event_sources import KIND, Mapping
from bayou.functions.invoker import Invoker
from bayou.meta.records import OutboxRow
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage.event_batches import BATCH_OUTBOX

log = logging.getLogger("bayou.events.batcher")

MAX_PAYLOAD = 6 * 1024 * 1024
#: Rows kept for a disabled mapping; past this the newest are dropped (a paused mapping cannot grow forever).
PAUSED_LIMIT = 100_000


class EventBatcher:
    name = "event-batcher"

    def __init__(self, meta: MetaStore, invoker: Invoker, clock: Clock, *, poll_seconds: float = 0.1) -> None:
        self._meta = meta
        self._invoker = invoker
        self._clock = clock
        self._poll = poll_seconds
        self.woken = asyncio.Event()
        self.batches = 0
        self.records = 0
        self.dropped = 0

    async def work(self) -> int:
        """One pass over every mapping with pending rows; returns the number of batches sent."""
        counts = await self._meta.outbox_counts(f"{BATCH_OUTBOX}:")
        sent = 0
        for kind, count in counts.items():
            doc = await self._meta.get_doc(KIND, kind[len(BATCH_OUTBOX) + 1:], "")
            if doc is None:
                await self._drop(kind, 0, "its mapping no longer exists")
                continue
            mapping = Mapping.from_doc(doc)
            if not mapping.enabled:
                if count > PAUSED_LIMIT:
                    await self._drop(kind, PAUSED_LIMIT, "its mapping is disabled and the queue is full")
                continue
            sent += await self._flush(kind, mapping, count)
        return sent

    async def _flush(self, kind: str, mapping: Mapping, count: int) -> int:
        # Look at the oldest row only until a batch is due: a large BatchSize with an open window
        # must not mean decoding thousands of rows on every poll.
        if count < mapping.batch_size:
            oldest = await self._meta.pending_outbox((kind,), 1)
            if not oldest or self._clock.now() - oldest[0].created_at < mapping.window:
                return 0
        rows = await self._meta.pending_outbox((kind,), mapping.batch_size)
        if not rows:
            return 0
        batch = _cut(rows)
        payload = json.dumps({"Records": [row.payload["record"] for row in batch]}).encode()
        queued = self._invoker.queued(mapping.function, mapping.qualifier, payload,
                                      meta={"source": "esm", "uuid": mapping.uuid})

        def hand_over(tx: MetaTx) -> bool:
            # The mapping may have been deleted (its rows trimmed) since we read them: then
            # nothing is handed over, as DeleteEventSourceMapping promises.
            if tx.get_doc(KIND, mapping.uuid, "") is None:
                return False
            tx.enqueue_invocation(queued)
            for row in batch:
                tx.delete_outbox(row.id)
            return True

        if not await self._meta.write(hand_over):
            return 0
        self._invoker.enqueued.set()
        self.batches += 1
        self.records += len(batch)
        return 1

    async def _drop(self, kind: str, keep: int, why: str) -> None:
        dropped = await self._meta.write(lambda tx: tx.trim_outbox(kind, keep))
        if dropped:
            self.dropped += dropped
            log.error("dropped %d batched event(s) of %s: %s", dropped, kind, why)

    async def wait_for_work(self) -> None:
        """Until a commit wakes us (services/wake.py), or the poll interval passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), self._poll)
        self.woken.clear()

    def status(self) -> dict[str, object]:
        return {"batches": self.batches, "records": self.records, "dropped": self.dropped}


def _cut(rows: list[OutboxRow]) -> list[OutboxRow]:
    """The longest prefix of `rows` whose records fit in one invocation payload (at least one row)."""
    size = 16
    for i, row in enumerate(rows):
        size += len(json.dumps(row.payload["record"])) + 1
        if size > MAX_PAYLOAD and i > 0:
            return rows[:i]
    return rows
