"""Background work as `Worker`s (Garage's background worker shape): one step at a time, a wait
when idle, a visible status, and a shutdown that does not wait forever."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("bayou.services")


class Worker(Protocol):
    name: str

    async def work(self) -> int:
        """Do one bounded step; return how many items it handled (0 = idle)."""
        ...

    async def wait_for_work(self) -> None:
        """Sleep until there may be work again."""
        ...

    def status(self) -> dict[str, object]: ...


async def run_worker(worker: Worker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await worker.work()
        except Exception:
            log.exception("worker %s failed a step", worker.name)
            done = 0
        if done == 0:
            waiter = asyncio.ensure_future(worker.wait_for_work())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()


class WorkerGroup:
    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(run_worker(w, self._stop), name=w.name) for w in self.workers]

    async def stop(self, deadline: float = 5.0) -> None:
        self._stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=deadline)
        for task in pending:
            task.cancel()
