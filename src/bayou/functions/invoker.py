"""Running an invocation: from a resolved function version to the host's reply.

The invoker builds the environment spec (Lambda's variables, the code directory, the limits)
from the registry's record, asks the host to run it, and turns a throttle into Lambda's 429.
Asynchronous invocations are not run here: `enqueue` makes them durable in the metadata store
and `services/async_invoke.py` runs them (DESIGN.md invariant 3).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayou.errors import BayouError, ServiceException, TooManyRequestsException
from bayou.functions.host_client import HostClient
from bayou.functions.models import FunctionVersion, Resolved
from bayou.functions.registry import FunctionRegistry, setting_kind
from bayou.meta.records import QueuedInvocation
from bayou.meta.store import MetaStore

PYTHON_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
#: Names the function's own Environment.Variables may not override.
_RESERVED = frozenset({
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_EXECUTION_ENV",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER", "AWS_LAMBDA_RUNTIME_API",
})
_SPEC_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class FunctionCredentials:
    endpoint_url: str
    access_key: str
    secret_key: str
    session_token: str = ""


@dataclass(slots=True)
class InvokeResult:
    body: bytes
    executed_version: str
    function_error: str | None
    log_tail: str | None  # base64, for X-Amz-Log-Result


class Invoker:
    def __init__(
        self,
        registry: FunctionRegistry,
        host: HostClient,
        meta: MetaStore,
        credentials: FunctionCredentials,
        *,
        region: str,
        now: Any,
    ) -> None:
        self.registry = registry
        self.host = host
        self._meta = meta
        self._credentials = credentials
        self._region = region
        self._now = now
        self._code_dirs: dict[str, str] = {}
        #: (name, version, revision, code) -> (log stream day, spec): a version's spec changes only with
        #: its revision, and the day in AWS_LAMBDA_LOG_STREAM_NAME
        self._specs: dict[tuple[str, str, str, str], tuple[str, dict[str, Any]]] = {}
        self.enqueued = asyncio.Event()
        #: Called after an enqueue commits (the app wakes worker 0 through services/wake.py).
        self.on_enqueued: Callable[[], None] | None = None
        self._warming: asyncio.Task[None] | None = None

    async def invoke(
        self,
        target: Resolved,
        payload: bytes,
        *,
        request_id: str | None = None,
        log_tail: bool = False,
        client_context: str | None = None,
    ) -> InvokeResult:
        """Run synchronously; a throttle raises TooManyRequestsException (429, Retry-After)."""
        config = target.config
        request_id = request_id or str(uuid.uuid4())
        spec = await self.env_spec(config)
        header = {
            "op": "invoke",
            "request_id": request_id,
            "invoked_arn": target.invoked_arn,
            "deadline_ms": int((self._now() + config.timeout) * 1000),
            "client_context": client_context,
            "log_tail": log_tail,
            "concurrency_limit": await self.reserved_concurrency(config.name),
        }
        reply, body = await self.host.invoke(header, spec, payload)
        if reply.get("status") == "error":  # the host failed around the invocation: its outcome is unknown
            raise ServiceException(f"The function runtime failed: {reply.get('error') or 'unknown error'}")
        if reply.get("status") == "throttled":
            raise TooManyRequestsException(
                "Rate Exceeded.", headers={"Retry-After": "1"}, Reason=reply.get("reason") or "ConcurrentInvocationLimitExceeded"
            )
        return InvokeResult(body, target.executed_version, reply.get("function_error"), reply.get("log_tail"))

    async def enqueue(self, target: Resolved, payload: bytes, *, request_id: str | None = None,
                      meta: dict[str, Any] | None = None) -> str:
        """Make an asynchronous invocation durable; it runs after the commit, at least once."""
        queued = self.queued(target.config.name, target.qualifier, payload, request_id=request_id, meta=meta)
        await self._meta.write(lambda tx: tx.enqueue_invocation(queued))
        self.enqueued.set()
        if self.on_enqueued is not None:  # the queue runs in worker 0, maybe another process
            self.on_enqueued()
        return queued.id

    def queued(self, function: str, qualifier: str | None, payload: bytes, *, request_id: str | None = None,
               meta: dict[str, Any] | None = None) -> QueuedInvocation:
        now = self._now()
        return QueuedInvocation(
            id=request_id or str(uuid.uuid4()), function=function, qualifier=qualifier or "",
            payload=payload, enqueued_at=now, attempts=0, not_before=now, meta=meta or {},
        )

    async def reserved_concurrency(self, function: str) -> int | None:
        # One read: the caller has just resolved the function (registry.get_setting would check again).
        # Not cached: PutFunctionConcurrency may run in another worker process.
        setting = await self._meta.get_doc(setting_kind("concurrency"), function, "")
        if setting is None:
            return None
        return int(setting["ReservedConcurrentExecutions"])

    async def env_spec(self, config: FunctionVersion) -> dict[str, Any]:
        """The spec of a version; the same object while nothing in it changes (the host client
        sends an object it has sent before by its key only). Callers must not modify it."""
        code_dir = self._code_dirs.get(config.code.sha256_hex)
        if code_dir is None or not os.path.isdir(code_dir):
            code_dir = str(await asyncio.to_thread(self.registry.code_dir, config))
            self._code_dirs[config.code.sha256_hex] = code_dir
        cache_key = (config.name, config.version, config.revision_id, config.code.sha256_hex)
        day = _day(self._now())
        cached = self._specs.get(cache_key)
        if cached is not None and cached[0] == day and cached[1]["code_dir"] == code_dir:
            return cached[1]
        if len(self._specs) >= _SPEC_CACHE_SIZE:
            self._specs.clear()
        spec = self._build_spec(config, code_dir)
        self._specs[cache_key] = (day, spec)
        return spec

    def _build_spec(self, config: FunctionVersion, code_dir: str) -> dict[str, Any]:
        return {
            "key": f"{config.name}:{config.version}:{config.code.sha256_hex}:{config.revision_id}",
            "function": config.name,
            "version": config.version,
            "runtime": config.runtime,
            "handler": config.handler,
            "code_dir": code_dir,
            "timeout": float(config.timeout),
            "memory_mb": config.memory_size,
            "env": self._environment(config, code_dir),
        }

    def _environment(self, config: FunctionVersion, code_dir: str) -> dict[str, str]:
        creds = self._credentials
        runtime = PYTHON_RUNTIME if config.runtime.startswith("python") else config.runtime
        stream = f"{_day(self._now())}/[{config.version}]{config.revision_id.replace('-', '')[:32]}"
        env = {name: value for name, value in config.environment.items() if name not in _RESERVED}
        env.update({
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self._region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": config.handler,
        })
        for name, value in (
            ("AWS_DEFAULT_REGION", self._region),
            ("AWS_ENDPOINT_URL", creds.endpoint_url),
            ("AWS_ACCESS_KEY_ID", creds.access_key),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_key),
            ("AWS_SESSION_TOKEN", creds.session_token),
            # botocore would send WriteGetObjectResponse to "<route>.<endpoint host>", which does not
            # resolve for a local endpoint: object transforms need the plain endpoint.
            ("AWS_DISABLE_HOST_PREFIX_INJECTION", "true"),
        ):
            env.setdefault(name, value)
        return env

    async def provision(self, targets: list[tuple[FunctionVersion, int]]) -> dict[str, int]:
        """Hand the host the complete desired set of provisioned environments."""
        specs = [{"env": self._provisioned(await self.env_spec(config)), "count": count} for config, count in targets]
        reply, _ = await self.host.request({"op": "provision", "targets": specs})
        ready = reply.get("ready") or {}
        return {str(k): int(v) for k, v in ready.items()}

    @staticmethod
    def _provisioned(spec: dict[str, Any]) -> dict[str, Any]:
        """Provisioned environments say so (the pool key ignores `env`: spill-over ones stay on-demand)."""
        env = {**spec["env"], "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
        return {**spec, "env": env}

    async def warm(self) -> None:
        """Have the host start its Python fork-server now, so that no cold start waits for it.
        Best effort: an unreachable host starts it with the first invocation anyway."""
        try:
            await self.host.request({"op": "warm"})
        except BayouError:
            pass

    def warm_soon(self) -> None:
        """`warm` in the background (a function was just created: it is likely invoked next)."""
        if self._warming is None or self._warming.done():
            self._warming = asyncio.get_running_loop().create_task(self.warm())

    async def drop(self, function: str, version: str | None = None) -> None:
        """Retire environments running code or configuration that no longer exists. Best effort:
        an unreachable host has no environments to retire, and idle ones are reaped anyway."""
        try:
            await self.host.request({"op": "drop", "function": function, "version": version})
        except BayouError:
            pass


def _day(now: float) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(now))


__all__ = ["Invoker", "InvokeResult", "FunctionCredentials"]
