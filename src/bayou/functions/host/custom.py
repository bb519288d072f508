"""Execution environments of custom runtimes (`provided`, `provided.al2023`).

The function's zip has an executable `bootstrap` at its root. The host spawns it with
AWS_LAMBDA_RUNTIME_API pointing at this environment's own Runtime API listener (runtime_api.py);
the bootstrap initialises, then loops GET /next → POST /response. Init ends at its first /next.

Memory: RLIMIT_AS cannot be MemorySize for these processes, because runtimes reserve far more
address space than they use (Node.js 20 does not start under ~800 MiB, the JVM reserves GiBs).
So RLIMIT_AS = MemorySize + a generous allowance is only a backstop, and the limit proper is a
resident-set check of the bootstrap process while an invocation runs (SIGKILL of the process group
past MemorySize → Runtime.OutOfMemory), which is what Lambda's cgroup limit amounts to.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import resource
import signal
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .environment import InvocationOutcome, InvocationRequest
from .runtime_api import MAX_RESPONSE_BYTES, PendingInvocation, RuntimeApi, RuntimeReply

#: Lambda's init phase limit for on-demand environments; past it, start() returns and the
#: invocation's own deadline bounds the wait for the first /next.
INIT_TIMEOUT_S = 10.0
#: Address space granted beyond MemorySize for the runtime's own reservations (see the module doc).
ADDRESS_SPACE_ALLOWANCE_MB = 2048
#: Per-invocation output returned to the host's log writer; the rest is elided.
MAX_OUTPUT = 256 * 1024
#: How often the resident set is checked during an invocation.
MEMORY_POLL_S = 0.05
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/opt/bin"
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(slots=True, frozen=True)
class _Failure:
    """An outcome every invocation of this environment gets (it can never serve one)."""

    error_type: str
    message: str  # follows "RequestId: <id> Error: "


class CustomEnvironment:
    """One spawned `bootstrap` and its Runtime API listener. Implements host.environment.Environment."""

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        log_path: Path,
        address_space_allowance_mb: int | None = ADDRESS_SPACE_ALLOWANCE_MB,
    ) -> None:
        self.spec = spec
        self.key: str = spec["key"]
        self.pid = 0
        self.init_ms = 0.0
        self._log_path = Path(log_path)
        self._allowance_mb = address_space_allowance_mb
        self._api = RuntimeApi()
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Future[int] | None = None
        self._failure: _Failure | None = None
        self._killed = False  # by us: timeout, out of memory, stop()
        self._stopped = False
        self._busy = False
        self._log_fd = -1
        self._log_from = 0  # what the log held before this environment: not its output
        self._log_created = False  # then stop() removes it
        self._hwm_kb = 0

    @property
    def alive(self) -> bool:
        return (
            self._proc is not None
            and self._proc.returncode is None
            and not self._killed
            and self._failure is None
            and self._api.init_error is None
        )

    async def start(self) -> None:
        """Spawn the bootstrap and wait until its first GET /next (or its failure, or INIT_TIMEOUT_S)."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            self._log_fd = os.open(self._log_path, flags)
        except FileNotFoundError:
            self._log_fd = os.open(self._log_path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            self._log_created = True
        self._log_from = os.fstat(self._log_fd).st_size
        address = await self._api.start()
        began = time.monotonic()
        await self._spawn(address)
        if self._exited is not None:
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(self._api.first_next.wait()),
                asyncio.ensure_future(self._api.init_failed.wait()),
            ]
            try:
                await asyncio.wait(
                    [*waits, self._exited], timeout=INIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiting in waits:
                    waiting.cancel()
        ended = self._api.first_next_at or time.monotonic()
        self.init_ms = round((ended - began) * 1000, 3)

    async def _spawn(self, address: str) -> None:
        code_dir = Path(self.spec["code_dir"])
        bootstrap = code_dir / "bootstrap"
        if not bootstrap.is_file():
            self._failure = _Failure(
                "Runtime.InvalidEntrypoint", f"Couldn't find valid bootstrap(s): [{bootstrap}]"
            )
            return
        env = {str(k): str(v) for k, v in self.spec.get("env", {}).items()}
        env.setdefault("PATH", DEFAULT_PATH)
        env["AWS_LAMBDA_RUNTIME_API"] = address
        try:
            self._proc = await asyncio.create_subprocess_exec(
                str(bootstrap),
                cwd=code_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log_fd,
                stderr=self._log_fd,
                start_new_session=True,
                preexec_fn=partial(_in_child, os.getpid(), self._address_space_limit()),
            )
        except OSError as exc:  # not executable, bad interpreter line, not a binary
            reason = (exc.strerror or str(exc)).lower()
            self._failure = _Failure("Runtime.InvalidEntrypoint", f"fork/exec {bootstrap}: {reason}")
            return
        self.pid = self._proc.pid
        self._exited = asyncio.ensure_future(self._proc.wait())

    def _address_space_limit(self) -> int | None:
        if self._allowance_mb is None:
            return None
        return (int(self.spec.get("memory_mb", 128)) + self._allowance_mb) << 20

    async def invoke(self, request: InvocationRequest) -> InvocationOutcome:
        """Hand the invocation to the bootstrap's /next and wait for its post, its exit or the deadline."""
        if self._busy:
            raise RuntimeError("an environment serves one invocation at a time")
        self._busy = True
        try:
            return await self._invoke(request)
        finally:
            self._busy = False

    async def _invoke(self, request: InvocationRequest) -> InvocationOutcome:
        began = time.monotonic()
        outcome = self._standing_failure(request)
        if outcome is None:
            pending = self._api.submit(request)
            try:
                outcome = await self._await_reply(request, pending)
            finally:
                self._api.withdraw(pending)
            start = pending.delivered_at or began
        else:
            start = began
        outcome.duration_ms = round((time.monotonic() - start) * 1000, 3)
        self._sample_memory()
        outcome.max_memory_mb = -(-self._hwm_kb // 1024)
        outcome.output = self._take_output() + outcome.extra.pop("host_log", b"")
        return outcome

    def _standing_failure(self, request: InvocationRequest) -> InvocationOutcome | None:
        """The outcome when the environment cannot run this invocation at all."""
        if self._failure is not None:
            return _lambda_error(request, self._failure.error_type, self._failure.message)
        if self._api.init_error is not None:
            return _init_error(self._api.init_error)
        if self._stopped or self._killed or self._proc is None or self._proc.returncode is not None:
            return self._exit_outcome(request)
        return None

    async def _await_reply(self, request: InvocationRequest, pending: PendingInvocation) -> InvocationOutcome:
        assert self._exited is not None
        init_failed = asyncio.ensure_future(self._api.init_failed.wait())
        try:
            while True:
                remaining = request.deadline_ms / 1000 - time.time()
                if remaining <= 0:
                    return await self._timed_out(request)
                watched: list[asyncio.Future[Any]] = [pending.reply, self._exited, init_failed]
                await asyncio.wait(
                    watched, timeout=min(remaining, MEMORY_POLL_S), return_when=asyncio.FIRST_COMPLETED
                )
                if pending.reply.cancelled():  # stop() during the invocation
                    await self._kill()
                    return self._exit_outcome(request)
                if pending.reply.done():
                    return _reply_outcome(pending.reply.result())
                if init_failed.done() and self._api.init_error is not None:
                    return _init_error(self._api.init_error)
                if self._exited.done():
                    await self._kill()  # whatever the bootstrap left behind in its group
                    return self._exit_outcome(request)
                if self._over_memory():
                    await self._kill()
                    return _lambda_error(
                        request, "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"
                    )
        finally:
            init_failed.cancel()

    async def _timed_out(self, request: InvocationRequest) -> InvocationOutcome:
        await self._kill()
        seconds = float(self.spec.get("timeout", 3.0))
        return _lambda_error(request, "Sandbox.Timedout", f"Task timed out after {seconds:.2f} seconds")

    def _exit_outcome(self, request: InvocationRequest) -> InvocationOutcome:
        if self._api.init_error is not None:
            return _init_error(self._api.init_error)
        code = self._proc.returncode if self._proc is not None else None
        if code == 0:
            message = "Runtime exited without providing a reason"
        elif code is None:
            message = "Runtime exited with error: signal: killed"
        elif code > 0:
            message = f"Runtime exited with error: exit status {code}"
        else:
            name = signal.strsignal(-code) or f"signal {-code}"
            message = f"Runtime exited with error: signal: {name.lower()}"
        return _lambda_error(request, "Runtime.ExitError", message)

    def _over_memory(self) -> bool:
        rss_kb = self._sample_memory()
        return rss_kb > int(self.spec.get("memory_mb", 128)) * 1024

    def _sample_memory(self) -> int:
        """The bootstrap's resident set in KiB (0 if unreadable); records the high-water mark."""
        if not self.pid:
            return 0
        rss = 0
        try:
            with open(f"/proc/{self.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        self._hwm_kb = max(self._hwm_kb, int(line.split()[1]))
                    elif line.startswith(b"VmRSS:"):
                        rss = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return 0
        return rss

    async def _kill(self) -> None:
        """SIGKILL the bootstrap's process group and reap the bootstrap."""
        self._killed = True
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        assert self._exited is not None
        await asyncio.shield(self._exited)

    async def stop(self) -> None:
        """Kill the process group, reap, close the listener and the log. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self._kill()
        finally:
            await self._api.close()
            if self._log_fd >= 0:
                os.close(self._log_fd)
                self._log_fd = -1
            if self._log_created:
                self._log_path.unlink(missing_ok=True)

    def _take_output(self) -> bytes:
        """What the bootstrap wrote since the last invocation (its init output on the first), at
        most MAX_OUTPUT bytes; then the log is emptied so that it never grows. As for Python
        environments, output written between the read and the truncation is lost."""
        if self._log_fd < 0:
            return b""
        start, self._log_from = self._log_from, 0
        size = os.fstat(self._log_fd).st_size - start
        if size <= 0:
            return b""
        data = os.pread(self._log_fd, min(size, MAX_OUTPUT), start)
        os.ftruncate(self._log_fd, 0)
        if size > MAX_OUTPUT:
            data += b"" if data.endswith(b"\n") else b"\n"
            data += f"... {size - MAX_OUTPUT} bytes elided\n".encode()
        return data


def _in_child(parent: int, address_space: int | None) -> None:
    """Runs between fork and exec: die with the host, cap the address space."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the host died before the prctl took effect
        os._exit(1)
    if address_space is not None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def _lambda_error(request: InvocationRequest, error_type: str, message: str) -> InvocationOutcome:
    """An error the host produces, with the line Lambda writes to the function's log for it."""
    text = f"RequestId: {request.request_id} Error: {message}"
    if error_type == "Sandbox.Timedout":
        now = time.time()
        log = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}Z {text}\n"
    else:
        log = f"{text}\n{error_type}\n"
    body = json.dumps({"errorType": error_type, "errorMessage": text}).encode()
    return InvocationOutcome(body, "Unhandled", environment_dead=True, extra={"host_log": log.encode()})


def _init_error(reply: RuntimeReply) -> InvocationOutcome:
    return InvocationOutcome(_error_body(reply), "Unhandled", environment_dead=True)


def _reply_outcome(reply: RuntimeReply) -> InvocationOutcome:
    if reply.kind == "response":
        return InvocationOutcome(reply.body)
    if reply.kind == "too_large":
        message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        body = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
        return InvocationOutcome(json.dumps(body).encode(), "Unhandled")
    return InvocationOutcome(_error_body(reply), "Unhandled")


def _error_body(reply: RuntimeReply) -> bytes:
    """The runtime's error JSON verbatim; errorType from the header when the body has none."""
    try:
        doc = json.loads(reply.body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if "errorType" in doc or not reply.error_type:
            return reply.body
        return json.dumps({**doc, "errorType": reply.error_type}).encode()
    message = reply.body.decode("utf-8", "replace")
    return json.dumps({"errorType": reply.error_type or "Runtime.Unknown", "errorMessage": message}).encode()
