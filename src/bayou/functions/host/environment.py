"""What the host's pools hold: one execution environment, whatever runtime runs inside it.

`PythonEnvironment` (forked from the zygote) and `CustomEnvironment` (a spawned `bootstrap` talking
to the Runtime API) both implement this, so pools, limits and logs do not care which it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class InvocationRequest:
    request_id: str
    payload: bytes
    invoked_arn: str
    deadline_ms: int  # epoch milliseconds
    client_context: str | None = None  # base64 JSON, as the Invoke header carries it


@dataclass(slots=True)
class InvocationOutcome:
    """The result of one invocation inside an environment.

    `function_error` None means success and `body` is the handler's JSON result; otherwise `body`
    is Lambda's error JSON and `function_error` is "Handled" or "Unhandled". `environment_dead`
    tells the pool not to reuse the environment (exit, crash, timeout, out of memory).
    """

    body: bytes
    function_error: str | None = None
    environment_dead: bool = False
    duration_ms: float = 0.0
    max_memory_mb: int = 0
    output: bytes = b""  # what the function wrote to stdout/stderr during this invocation (bounded)
    extra: dict[str, Any] = field(default_factory=dict)


class Environment(Protocol):
    key: str  # the EnvSpec key of its pool
    pid: int
    init_ms: float  # the cold start's init duration (import of the handler / bootstrap to first /next)

    @property
    def alive(self) -> bool: ...

    async def start(self) -> None:
        """Create and initialise the environment. An init failure (import error, bootstrap crash)
        is not raised: the environment stays alive enough to report it as the first invocation's
        outcome (Runtime.ImportModuleError, ...), as Lambda does."""
        ...

    async def invoke(self, request: InvocationRequest) -> InvocationOutcome:
        """Run one invocation; enforce the deadline (kill at request.deadline_ms)."""
        ...

    async def stop(self) -> None:
        """Kill the environment and reap it. Idempotent."""
        ...
