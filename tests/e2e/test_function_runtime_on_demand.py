"""The Python fork-server (zygote) runs only while functions exist: a storage-only server does not
hold its memory, CreateFunction starts it before the first invocation, and a restarted server
with functions starts it again without waiting for one."""

from __future__ import annotations

import time
from pathlib import Path

from .fnutil import create_function, invoke_json, lambda_client, unique_name, wait_for
from .helpers import BayouServer

HANDLER = """
import os

def handler(event, context):
    return {"ppid": os.getppid()}
"""


def _zygotes(server: BayouServer) -> list[int]:
    found = []
    for pid in server.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bayou.functions.runtime.zygote" in cmdline and b"--spares" in cmdline:
            found.append(pid)
    # The zygote's spare children are forked from it and keep its command line: keep the parent.
    return [pid for pid in found if _parent(pid) not in found]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def _has_function_host(server: BayouServer) -> bool:
    return any(b"bayou.functions.host" in _cmdline(pid) for pid in server.pids())


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_the_zygote_runs_only_once_a_function_exists(tmp_path: Path) -> None:
    server = BayouServer(tmp_path / "data", extra_args=("--workers", "2")).start()
    try:
        assert wait_for(lambda: _has_function_host(server), 10)
        # Several provisioning periods (2 s) of a server without functions: no zygote appears.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert _zygotes(server) == []
            time.sleep(0.2)

        lam = lambda_client(server)
        name = unique_name("od")
        create_function(lam, name, HANDLER)
        zygote = wait_for(lambda: _zygotes(server), 10)
        assert len(zygote) == 1
        result, _ = invoke_json(lam, name, {})
        assert result["ppid"] == zygote[0]

        server.restart()
        restarted = wait_for(lambda: _zygotes(server), 10)  # no invocation asked for it
        assert len(restarted) == 1 and restarted != zygote
        result, _ = invoke_json(lam, name, {})
        assert result["ppid"] == restarted[0]
    finally:
        server.stop()
