"""The fork-server: a small single-threaded process that imports the runtime once and forks environments.

It talks to the host over a SOCK_SEQPACKET unix socket (fd given by `--fd`), one JSON document per
message. Host → zygote: `{"op": "fork", "token": t, "spec": EnvSpec}` with two file descriptors
attached (SCM_RIGHTS): the environment's end of its channel and its log file. Zygote → host:
`{"op": "forked", "token": t, "pid": p}` (or `"error"`), and `{"op": "exit", "pid": p, "code": c,
"signal": s}` when it reaps a child. It exits when the host closes the socket and dies with the host.
"""

from __future__ import annotations

import argparse
import ctypes
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


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    def send(self, message: dict[str, Any]) -> None:
        self.control.send(json.dumps(message).encode())

    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.send({"op": "ready", "pid": os.getpid()})
        while True:
            readable, _, _ = select.select([self.control.fileno(), self.wake_r], [], [])
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
            self.fork(message, fds[0], fds[1])
        else:
            for fd in fds:
                os.close(fd)
        return True

    def fork(self, message: dict[str, Any], channel_fd: int, log_fd: int) -> None:
        token = message.get("token")
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(channel_fd)
            os.close(log_fd)
            self.send({"op": "forked", "token": token, "error": str(exc)})
            return
        if pid == 0:
            self.control.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            bootstrap.run(message["spec"], channel_fd, log_fd)
        os.close(channel_fd)
        os.close(log_fd)
        self.send({"op": "forked", "token": token, "pid": pid})

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            self.send({"op": "exit", "pid": pid, "code": code, "signal": sig})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bayou.functions.runtime.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the SOCK_SEQPACKET socket to the host")
    args = parser.parse_args(argv)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    if sys.path and sys.path[0] == os.getcwd():
        sys.path.pop(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.fd)
    control.setblocking(True)
    gc.collect()
    gc.freeze()
    Zygote(control).run()


if __name__ == "__main__":
    main()
