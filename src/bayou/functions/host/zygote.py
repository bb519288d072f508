"""The host's side of the fork-server: start it, ask it to fork, learn pids and exit statuses.

The zygote (with its spare child) is ~75 MiB of resident memory, so it starts on demand: with the
first fork, or ahead of it through `ensure_started` when the server knows that functions exist
(the host's `provision` request with `warm: true`). A server that never runs a function never pays
for it; one with functions has it ready before their first cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from typing import Any

log = logging.getLogger("bayou.functions.host.zygote")


class ZygoteError(Exception):
    """The fork-server could not fork (or is gone)."""


class ExitStatus:
    __slots__ = ("code", "signal")

    def __init__(self, code: int | None, signal: int | None) -> None:
        self.code = code
        self.signal = signal


class ZygoteClient:
    """Owns the zygote process; restarts it when it dies. Methods run on the host's event loop."""

    def __init__(self, spares: int = 1) -> None:
        self.spare_count = spares
        #: The zygote's children forked ahead of need (reported by the zygote; for status and tests).
        self.spares: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self._tokens = 0
        self._forks: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[ExitStatus]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closing = False

    async def ensure_started(self) -> None:
        """Start the zygote unless it runs; concurrent callers share one start."""
        if self._starting is None or self._starting.done():
            if self.sock is not None:
                return
            if self._closing:
                raise ZygoteError("the host is stopping")
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "bayou.functions.runtime.zygote",
                "--fd", str(theirs.fileno()), "--spares", str(self.spare_count),
            ],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd="/",
        )
        theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable, ours)
        await asyncio.wait_for(asyncio.shield(self._ready), 30)

    def _on_readable(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._lost(sock)
                return
            self._dispatch(json.loads(data))

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "forked":
            forked = self._forks.pop(message.get("token", -1), None)
            if forked is not None and not forked.done():
                if "pid" in message:
                    forked.set_result(message["pid"])
                else:
                    forked.set_exception(ZygoteError(message.get("error", "fork failed")))
        elif op == "exit":
            status = ExitStatus(message.get("code"), message.get("signal"))
            exited = self.exit_status(message["pid"])
            if not exited.done():
                exited.set_result(status)
        elif op == "spares":
            self.spares = [int(pid) for pid in message.get("pids") or []]
        elif op == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _lost(self, sock: socket.socket) -> None:
        """The zygote died: its children die with it (PDEATHSIG); fail what waits, start a new one."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        sock.close()
        if self.sock is sock:
            self.sock = None
            self.spares = []
        if self.process is not None:
            with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        for future in self._forks.values():
            if not future.done():
                future.set_exception(ZygoteError("the zygote exited"))
        self._forks.clear()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(ExitStatus(None, 9))
        if not self._closing:
            log.warning("zygote exited; restarting it")
            loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self.ensure_started()
        except Exception:
            log.exception("could not restart the zygote")

    async def fork(self, spec: dict[str, Any], channel_fd: int, log_fd: int) -> int:
        """Fork an environment for `spec`; the fds are sent over (the caller still owns and closes its copies)."""
        await self.ensure_started()
        if self.sock is None:
            raise ZygoteError("the zygote exited")
        self._tokens += 1
        token = self._tokens
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._forks[token] = future
        data = json.dumps({"op": "fork", "token": token, "spec": spec}).encode()
        for _ in range(1000):
            try:
                socket.send_fds(self.sock, [data], [channel_fd, log_fd])
                break
            except BlockingIOError:
                await asyncio.sleep(0.001)
        pid = await future
        self._exits.setdefault(pid, asyncio.get_running_loop().create_future())
        return pid

    def exit_status(self, pid: int) -> asyncio.Future[ExitStatus]:
        """Resolves when the zygote reaps `pid`; the entry is dropped once it is awaited by `forget`."""
        return self._exits.setdefault(pid, asyncio.get_running_loop().create_future())

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)

    def close(self) -> None:
        self._closing = True
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(Exception):
                self.process.wait(timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
