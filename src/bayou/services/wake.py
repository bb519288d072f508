"""Waking worker 0's background services the moment a commit gave them work.

Any server worker may commit an object whose event queues an invocation or an outbox row, but
the consumers run in worker 0 only. Polling alone puts its interval into every event's latency
(50-100 ms); instead the committing worker sends one datagram to a unix socket worker 0 listens
on. Datagrams are best effort: when one is lost (worker 0 restarting), the consumers' own poll
still finds the work, only later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

from bayou.functions.host_process import host_socket_path


def wake_socket_path(data_dir: Path) -> str:
    """Next to the function host's socket (only its file name changes)."""
    head, _, tail = host_socket_path(data_dir).rpartition("fnhost")
    return f"{head}wake{tail}"


class Waker:
    def __init__(self, path: str) -> None:
        self._path = path
        self._sender: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._events: list[asyncio.Event] = []

    def subscribe(self, event: asyncio.Event) -> None:
        """Set `event` whenever any worker reports new work (worker 0 only)."""
        self._events.append(event)

    def listen(self) -> None:
        """Worker 0: receive wake-ups on the socket (call from the running event loop)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(self._path)
        listener.setblocking(False)
        asyncio.get_running_loop().add_reader(listener.fileno(), self._drain)
        self._listener = listener

    def _drain(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._listener.recv(64):
                pass
        self._notify()

    def _notify(self) -> None:
        for event in self._events:
            event.set()

    def wake(self) -> None:
        """Any worker, after a commit that queued events: best effort, never blocks."""
        if self._listener is not None:
            self._notify()
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        with contextlib.suppress(OSError):
            self._sender.sendto(b"!", self._path)

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self._sender is not None:
            self._sender.close()
            self._sender = None
