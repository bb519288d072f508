"""The function host: a unix-socket server that runs invocations in pooled execution environments.

One connection carries many requests; each is handled in its own task and answered by id.
A malformed frame closes that connection only. See docs/functions.md for the protocol.

Environment specs are remembered per connection: an `invoke` carries either the whole spec
(`"env": {...}`), which the host keeps under its key for the rest of the connection, or only
`"env_key"` for a spec sent before on the same connection. An unknown key is answered
`{"status": "unknown_env"}` and the client sends the whole spec again, so a new connection (a host
restart) starts from nothing and costs one full spec per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayou.functions.host.environment import Environment, InvocationRequest
from bayou.functions.host.logs import FunctionLogs, invocation_text, tail_b64
from bayou.functions.host.pool import Invoked, Pools
from bayou.functions.host.python_env import PythonEnvironment
from bayou.functions.host.zygote import ZygoteClient
from bayou.functions.protocol import ProtocolError, encode_frame, read_frame

log = logging.getLogger("bayou.functions.host")
_PR_SET_PDEATHSIG = 1
#: Specs remembered per connection; past this the memory is emptied (the client re-sends on demand).
SPEC_CACHE_SIZE = 4096


@dataclass(slots=True)
class HostConfig:
    socket_path: str
    data_dir: str
    idle_ttl: float = 300.0
    account_concurrency: int = 1000


def die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Host:
    def __init__(self, config: HostConfig) -> None:
        self.config = config
        functions_dir = os.path.join(config.data_dir, "functions")
        self.scratch = os.path.join(functions_dir, "envs")
        os.makedirs(self.scratch, exist_ok=True)
        self.logs = FunctionLogs(os.path.join(functions_dir, "logs"))
        self.zygote = ZygoteClient()
        self.pools = Pools(self.make_environment, config.account_concurrency, config.idle_ttl)
        self.server: asyncio.base_events.Server | None = None
        self.stopped = asyncio.Event()
        self._env_names = 0
        self._stopping = False
        self._connections: set[asyncio.StreamWriter] = set()

    def make_environment(self, spec: dict[str, Any]) -> Environment:
        if str(spec.get("runtime", "")).startswith("provided"):
            from bayou.functions.host.custom import CustomEnvironment

            self._env_names += 1
            log_path = Path(self.scratch) / f"custom-{os.getpid()}-{self._env_names}.log"
            return CustomEnvironment(spec, log_path=log_path)
        return PythonEnvironment(spec, self.zygote, self.scratch)

    async def start(self) -> None:
        # The zygote is not started here: see zygote.py (the first fork or a `warm` request does).
        self.pools.start()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.config.socket_path)
        self.server = await asyncio.start_unix_server(
            self._serve, path=self.config.socket_path, limit=1 << 20
        )

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.server is not None:
            self.server.close()
        for writer in list(self._connections):
            writer.close()
        await self.pools.close()
        self.zygote.close()
        self.logs.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.config.socket_path)
        self.stopped.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        tasks: set[asyncio.Task[None]] = set()
        specs: dict[str, dict[str, Any]] = {}
        try:
            while True:
                header, body = await read_frame(reader)
                if header.get("op") == "invoke" and not _attach_spec(header, specs):
                    writer.write(encode_frame({"id": header.get("id"), "status": "unknown_env"}))
                    continue
                task = asyncio.get_running_loop().create_task(self._answer(header, body, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (ProtocolError, ValueError, UnicodeDecodeError) as exc:
            log.warning("closing a connection that sent a malformed frame: %s", exc)
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, header: dict[str, Any], body: bytes, writer: asyncio.StreamWriter) -> None:
        request_id = header.get("id")
        try:
            reply, reply_body = await self.handle(header, body)
        except Exception as exc:
            log.exception("request %r failed", header.get("op"))
            reply, reply_body = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}, b""
        reply["id"] = request_id
        if not writer.is_closing():
            writer.write(encode_frame(reply, reply_body))

    async def handle(self, header: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        op = header.get("op")
        if op == "invoke":
            return await self.invoke(header, body)
        if op == "provision":
            return {"ready": self.pools.provision(list(header.get("targets") or []))}, b""
        if op == "drop":
            version = header.get("version")
            return {"stopped": self.pools.drop(str(header.get("function", "")), version and str(version))}, b""
        if op == "warm":
            await self.zygote.ensure_started()
            return {"zygote": self.zygote.process.pid if self.zygote.process else None}, b""
        if op == "status":
            status = self.pools.status()
            status["ready"] = self.pools.ready_counts()
            process = self.zygote.process if self.zygote.sock is not None else None
            status["zygote"] = {"pid": process.pid if process else None, "spares": list(self.zygote.spares)}
            return status, b""
        return {"status": "error", "error": f"unknown op {op!r}"}, b""

    async def invoke(self, header: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        spec = header["env"]
        request = InvocationRequest(
            request_id=header["request_id"],
            payload=body,
            invoked_arn=header.get("invoked_arn", ""),
            deadline_ms=int(header["deadline_ms"]),
            client_context=header.get("client_context"),
        )
        invoked = await self.pools.invoke(spec, request, header.get("concurrency_limit"))
        return self._reply(spec, request, invoked, bool(header.get("log_tail")))

    def _reply(
        self, spec: dict[str, Any], request: InvocationRequest, invoked: Invoked, want_tail: bool
    ) -> tuple[dict[str, Any], bytes]:
        outcome = invoked.outcome
        if outcome is None:
            return {
                "status": "throttled",
                "function_error": None,
                "reason": invoked.throttled,
                "log_tail": None,
            }, b""
        text = invocation_text(
            request.request_id,
            str(spec.get("version", "$LATEST")),
            outcome,
            int(spec.get("memory_mb") or 128),
            invoked.init_ms,
        )
        self.logs.append(str(spec.get("function", "")), text)
        reply = {
            "status": "function_error" if outcome.function_error else "ok",
            "function_error": outcome.function_error,
            "reason": None,
            "log_tail": tail_b64(text) if want_tail else None,
            "cold": invoked.cold,
            "init_ms": invoked.init_ms,
            "duration_ms": outcome.duration_ms,
            "max_memory_mb": outcome.max_memory_mb,
        }
        return reply, outcome.body


def _attach_spec(header: dict[str, Any], specs: dict[str, dict[str, Any]]) -> bool:
    """Remember a full spec under its key, or put the remembered one in place of `env_key`.
    Done in frame order, so a key may be used by any frame after the one that carried its spec."""
    spec = header.get("env")
    if spec is not None:
        key = spec.get("key") if isinstance(spec, dict) else None
        if isinstance(key, str):  # a spec without a key fails later, in its own task
            if len(specs) >= SPEC_CACHE_SIZE:
                specs.clear()
            specs[key] = spec
        return True
    spec = specs.get(header.get("env_key", ""))
    if spec is None:
        return False
    header["env"] = spec
    return True


async def serve(config: HostConfig) -> None:
    host = Host(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: loop.create_task(host.stop()))
    await host.start()
    log.info("function host listening on %s", config.socket_path)
    await host.stopped.wait()


def run(config: HostConfig) -> None:
    die_with_parent()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
