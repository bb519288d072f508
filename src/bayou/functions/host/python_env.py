"""A Python execution environment: a child of the zygote, driven over a socketpair."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import signal
import socket
import time
from typing import Any

from bayou.functions.host.environment import InvocationOutcome, InvocationRequest
from bayou.functions.host.pool import timeout_outcome
from bayou.functions.host.zygote import ExitStatus, ZygoteClient, ZygoteError
from bayou.functions.protocol import encode_frame, read_frame

#: Output kept per invocation; the rest is counted and elided.
OUTPUT_LIMIT = 256 * 1024
INIT_TIMEOUT = 10.0
_BIG_PAYLOAD = 256 * 1024
_names = itertools.count(1)

# As Go's os/exec renders them, which is what Lambda's "Runtime exited with error" shows.
_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGUSR2: "user defined signal 2",
}


def exit_text(status: ExitStatus | None) -> str:
    if status is None:
        return "Runtime exited without providing a reason"
    if status.signal is not None:
        return f"Runtime exited with error: signal: {_SIGNAL_NAMES.get(status.signal, f'signal {status.signal}')}"
    return f"Runtime exited with error: exit status {status.code}"


def host_error(error_type: str, message: str) -> bytes:
    import json

    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def read_output(fd: int) -> bytes:
    """What the environment wrote since the last call (bounded), then empty its log file."""
    size = os.fstat(fd).st_size
    if not size:
        return b""
    data = os.pread(fd, min(size, OUTPUT_LIMIT), 0)
    os.ftruncate(fd, 0)
    if size > OUTPUT_LIMIT:
        if not data.endswith(b"\n"):
            data += b"\n"
        data += f"... {size - OUTPUT_LIMIT} bytes elided\n".encode()
    return data


class PythonEnvironment:
    def __init__(self, spec: dict[str, Any], zygote: ZygoteClient, scratch_dir: str) -> None:
        self.spec = spec
        self.key: str = spec["key"]
        self.pid = 0
        self.init_ms = 0.0
        self._zygote = zygote
        self._scratch = scratch_dir
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._log_fd = -1
        self._dead = False
        self._init_exit: ExitStatus | None = None
        self._init_failed = False

    @property
    def alive(self) -> bool:
        return not self._dead

    async def start(self) -> None:
        path = os.path.join(self._scratch, f"env-{os.getpid()}-{next(_names)}.log")
        self._log_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.unlink(path)
        ours, theirs = socket.socketpair()
        try:
            self.pid = await self._zygote.fork(self.spec, theirs.fileno(), self._log_fd)
        except BaseException:
            ours.close()
            self._close_fds()
            self._dead = True
            raise
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 20)
        try:
            header, _ = await asyncio.wait_for(read_frame(self._reader), INIT_TIMEOUT)
            self.init_ms = float(header.get("init_ms", 0.0))
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            self._init_failed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._init_exit = await self._exit_status()

    async def invoke(self, request: InvocationRequest) -> InvocationOutcome:
        if self._init_failed or self._writer is None or self._reader is None:
            return self._died(request, self._init_exit, 0.0)
        started = time.perf_counter()
        header = {
            "request_id": request.request_id,
            "invoked_arn": request.invoked_arn,
            "deadline_ms": request.deadline_ms,
            "client_context": request.client_context,
        }
        loop = asyncio.get_running_loop()
        timed_out: list[bool] = []
        delay = max(0.0, request.deadline_ms / 1000 - time.time())
        timer = loop.call_later(delay, self._timeout, timed_out)
        try:
            self._writer.write(encode_frame(header, request.payload))
            if len(request.payload) > _BIG_PAYLOAD:
                await self._writer.drain()
            reply, body = await read_frame(self._reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            elapsed = (time.perf_counter() - started) * 1000
            if timed_out:
                return self._timed_out(request, elapsed)
            return self._died(request, await self._exit_status(), elapsed)
        finally:
            timer.cancel()
        dead = bool(reply.get("dead"))
        if dead:
            self._dead = True
        return InvocationOutcome(
            body=body,
            function_error=reply.get("error"),
            environment_dead=dead,
            duration_ms=float(reply.get("ms", (time.perf_counter() - started) * 1000)),
            max_memory_mb=math.ceil(int(reply.get("rss", 0)) / 1024),
            output=read_output(self._log_fd),
        )

    def _timeout(self, flag: list[bool]) -> None:
        flag.append(True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def _timed_out(self, request: InvocationRequest, elapsed: float) -> InvocationOutcome:
        self._dead = True
        outcome = timeout_outcome(request, float(self.spec.get("timeout") or 3))
        outcome.output = read_output(self._log_fd) + outcome.output
        outcome.duration_ms = elapsed
        return outcome

    def _died(
        self, request: InvocationRequest, status: ExitStatus | None, elapsed: float
    ) -> InvocationOutcome:
        self._dead = True
        message = f"RequestId: {request.request_id} Error: {exit_text(status)}"
        output = read_output(self._log_fd) if self._log_fd >= 0 else b""
        output += f"{message}\nRuntime.ExitError\n".encode()
        return InvocationOutcome(
            body=host_error("Runtime.ExitError", message),
            function_error="Unhandled",
            environment_dead=True,
            duration_ms=elapsed,
            output=output,
        )

    async def _exit_status(self) -> ExitStatus | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self._zygote.exit_status(self.pid)), 2.0)
        except (TimeoutError, ZygoteError):
            return None

    async def stop(self) -> None:
        already = self._dead and self._writer is None
        self._dead = True
        if already:
            return
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.pid:
            await self._exit_status()
            self._zygote.forget(self.pid)
        self._close_fds()

    def _close_fds(self) -> None:
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1
