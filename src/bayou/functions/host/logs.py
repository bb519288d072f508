"""Per-function log files with Lambda's START / END / REPORT lines, rotated at 1 MiB."""

from __future__ import annotations

import base64
import math
import os
import re

from bayou.functions.host.environment import InvocationOutcome

ROTATE_AT = 1 << 20
TAIL_BYTES = 4096
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def invocation_text(
    request_id: str, version: str, outcome: InvocationOutcome, memory_mb: int, init_ms: float | None
) -> bytes:
    """One invocation's log text, START .. REPORT."""
    output = outcome.output
    if output and not output.endswith(b"\n"):
        output += b"\n"
    duration = outcome.duration_ms
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(duration))} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {outcome.max_memory_mb} MB\t"
    )
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
    return b"".join(
        (
            f"START RequestId: {request_id} Version: {version}\n".encode(),
            output,
            f"END RequestId: {request_id}\n".encode(),
            report.encode(),
            b"\n",
        )
    )


def tail_b64(text: bytes) -> str:
    return base64.b64encode(text[-TAIL_BYTES:]).decode()


class FunctionLogs:
    """Appends to <data>/functions/logs/<function>.log; keeps one rotated generation `.1`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._files: dict[str, tuple[int, int]] = {}  # function -> (fd, size)

    def path(self, function: str) -> str:
        return os.path.join(self.directory, _UNSAFE.sub("_", function) + ".log")

    def append(self, function: str, text: bytes) -> None:
        fd, size = self._open(function)
        if size and size + len(text) > ROTATE_AT:
            os.close(fd)
            path = self.path(function)
            os.replace(path, path + ".1")
            del self._files[function]
            fd, size = self._open(function)
        os.write(fd, text)
        self._files[function] = (fd, size + len(text))

    def _open(self, function: str) -> tuple[int, int]:
        entry = self._files.get(function)
        if entry is None:
            if len(self._files) > 256:
                self.close()
            fd = os.open(self.path(function), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            entry = (fd, os.fstat(fd).st_size)
            self._files[function] = entry
        return entry

    def close(self) -> None:
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()
