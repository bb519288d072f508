"""Keeps the function host's provisioned environments equal to the stored configs.

The host holds no state of its own (it may restart at any time), so the desired set is pushed
again on every change and every few seconds: PutProvisionedConcurrencyConfig takes effect
within one period, and a restarted host is refilled without anyone asking. For the same reason
the host is asked every period to keep its fork-server warm while any function exists (it starts
it only on demand: a server without functions does not hold its memory).
"""

from __future__ import annotations

import asyncio
import logging

from bayou.errors import BayouError
from bayou.functions.invoker import Invoker
from bayou.functions.models import FunctionVersion
from bayou.functions.registry import FunctionRegistry

log = logging.getLogger("bayou.functions")


class ProvisionSync:
    name = "fn-provision"

    def __init__(self, registry: FunctionRegistry, invoker: Invoker, *, period: float = 2.0) -> None:
        self._registry = registry
        self._invoker = invoker
        self._period = period
        self.ready: dict[str, int] = {}

    async def work(self) -> int:
        targets: list[tuple[FunctionVersion, int]] = []
        for function, qualifier, value in await self._registry.list_settings("provisioned"):
            try:
                config = await self._registry.get_function(function, qualifier)
            except BayouError:
                continue
            targets.append((config, int(value.get("RequestedProvisionedConcurrentExecutions", 0))))
        try:
            if await self._registry.any_function():
                await self._invoker.warm()
            self.ready = await self._invoker.provision(targets)
        except BayouError as exc:
            log.warning("function host unavailable for provisioning: %s", exc.message)
        return 0

    async def wait_for_work(self) -> None:
        await asyncio.sleep(self._period)

    def status(self) -> dict[str, object]:
        return {"ready": dict(self.ready)}
