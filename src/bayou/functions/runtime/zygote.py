"""The fork-server: a small single-threaded process that imports the runtime once and forks environments.

It talks to the host over a SOCK_SEQPACKET unix socket (fd given by `--fd`), one JSON document per
message. Host → zygote: `{"op": "fork", "token": t, "spec": EnvSpec}` with two file descriptors
attached (SCM_RIGHTS): the environment's end of its channel and its log file. Zygote → host:
`{"op": "forked", "token": t, "pid": p}` (or `"error"`), `{"op": "exit", "pid": p, "code": c,
"signal": s}` when it reaps an environment, and `{"op": "spares", "pids": [...]}` when its set of
spares changes. It exits when the host closes the socket and dies with the host.

Spares: the zygote keeps `--spares` children forked ahead of need. A spare has done the generic part
of an environment's set-up (`bootstrap.Prepared`) and waits on its own socket for a fork message; a
cold start hands the spec and the two fds to the oldest spare instead of forking, so the fork and its
page-table copy are off the request path. A new spare is forked as soon as no request is waiting.
Spares die with the zygote (PDEATHSIG, and the end of file on their socket).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

from bayou.functions.runtime import bootstrap

# Warm the modules that handlers commonly import, so a fork starts with them loaded.
_WARM = ("base64", "datetime", "hashlib", "urllib.parse", "uuid", "decimal", "http.client")
for _name in _WARM:
    __import__(_name)

try:  # ~0.3 s once at start-up, ~28 MB shared copy-on-write; saves the same per cold start that uses boto3
    import boto3  # type: ignore[import-untyped]  # noqa: F401
    import botocore.session  # type: ignore[import-untyped]  # noqa: F401
except ImportError:  # pragma: no cover - boto3 is a dependency of Bayou
    pass

_PR_SET_PDEATHSIG = 1
_MAX_MESSAGE = 1 << 20


class Spare:
    """A child forked ahead of need: generic (it knows no function), waiting on `handoff` for a spec."""

    __slots__ = ("pid", "handoff")

    def __init__(self, pid: int, handoff: socket.socket) -> None:
        self.pid = pid
        self.handoff = handoff


class Zygote:
    def __init__(self, control: socket.socket, spares: int = 1) -> None:
        self.control = control
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.spare_target = max(0, spares)
        self.spares: list[Spare] = []
        self._hold = False  # a spare could not be forked: wait for the next request before trying again
        self.environments: set[int] = set()  # handed-off pids whose exit the host wants to hear about

    def send(self, message: dict[str, Any]) -> None:
        self.control.send(json.dumps(message).encode())

    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.send({"op": "ready", "pid": os.getpid()})
        try:
            self._loop()
        finally:
            self.discard_spares()

    def _loop(self) -> None:
        while True:
            # Requests first; a missing spare is forked only when none is waiting.
            wait = 0.0 if len(self.spares) < self.spare_target and not self._hold else None
            readable, _, _ = select.select([self.control.fileno(), self.wake_r], [], [], wait)
            if not readable:
                self._add_spare()
                continue
            if self.wake_r in readable:
                self._drain_wakeups()
                self.reap()
            if self.control.fileno() in readable and not self._serve_one():
                return

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _serve_one(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, _MAX_MESSAGE, 4)
        except InterruptedError:
            return True
        except ConnectionError:  # the host went away (shutdown): so do we
            return False
        if not data:
            return False
        message = json.loads(data)
        if message.get("op") == "fork" and len(fds) == 2:
            self.fork(message, data, fds[0], fds[1])
        else:
            for fd in fds:
                os.close(fd)
        return True

    def fork(self, message: dict[str, Any], data: bytes, channel_fd: int, log_fd: int) -> None:
        """Hand the spec and the fds to a spare (forking one if none waits); the spare becomes the environment."""
        token = message.get("token")
        error = "no spare could take the environment"
        self._hold = False
        try:
            for _ in range(3):
                try:
                    spare = self.spares.pop(0) if self.spares else self._fork_spare()
                except OSError as exc:
                    error = str(exc)
                    break
                try:
                    socket.send_fds(spare.handoff, [data], [channel_fd, log_fd])
                except OSError as exc:  # it died while waiting; its exit is reaped quietly
                    error = str(exc)
                    spare.handoff.close()
                    continue
                spare.handoff.close()
                self.environments.add(spare.pid)
                self.send({"op": "forked", "token": token, "pid": spare.pid})
                self._announce_spares()
                return
            self.send({"op": "forked", "token": token, "error": error})
        finally:
            os.close(channel_fd)
            os.close(log_fd)

    def _fork_spare(self) -> Spare:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        zygote = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            ours.close()
            self._become_environment(theirs, zygote)
        theirs.close()
        return Spare(pid, ours)

    def _become_environment(self, handoff: socket.socket, zygote: int) -> None:
        """In the spare: the generic set-up, then wait for a spec; never returns."""
        try:
            self.control.close()
            for spare in self.spares:
                spare.handoff.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            prepared = bootstrap.Prepared()
            if os.getppid() != zygote:  # the zygote died before PDEATHSIG was armed
                os._exit(0)
            data, fds, _flags, _addr = socket.recv_fds(handoff, _MAX_MESSAGE, 2)
            handoff.close()
        except BaseException:  # noqa: BLE001 - a spare that cannot wait is simply gone
            os._exit(1)
        if not data or len(fds) != 2:  # the zygote went away or is discarding its spares
            os._exit(0)
        bootstrap.run(json.loads(data)["spec"], fds[0], fds[1], prepared)

    def _add_spare(self) -> None:
        try:
            self.spares.append(self._fork_spare())
        except OSError:
            self._hold = True  # out of processes or memory
        self._announce_spares()

    def discard_spares(self) -> None:
        """Spares hold a copy of the zygote as it was when they were forked: whenever the zygote's own
        state changes they must go (closing the handoff makes them exit), and new ones are forked."""
        for spare in self.spares:
            spare.handoff.close()
        self.spares.clear()

    def _announce_spares(self) -> None:
        self.send({"op": "spares", "pids": [s.pid for s in self.spares]})

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.environments:  # a spare that died before it was used
                self._drop_spare(pid)
                continue
            self.environments.discard(pid)
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            self.send({"op": "exit", "pid": pid, "code": code, "signal": sig})

    def _drop_spare(self, pid: int) -> None:
        for spare in self.spares:
            if spare.pid == pid:
                spare.handoff.close()
                self.spares.remove(spare)
                self._announce_spares()
                return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bayou.functions.runtime.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the SOCK_SEQPACKET socket to the host")
    parser.add_argument("--spares", type=int, default=1, help="children kept forked ahead of need")
    args = parser.parse_args(argv)
    if bootstrap.LIBC is not None:
        bootstrap.LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if sys.path and sys.path[0] == os.getcwd():
        sys.path.pop(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.fd)
    control.setblocking(True)
    gc.collect()
    gc.freeze()
    Zygote(control, args.spares).run()


if __name__ == "__main__":
    main()
