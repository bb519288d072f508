"""Provisioned, idle and dropped environments; the host process's own life."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from .hostkit import Client, Host, pid_gone, wait_for

PID = """
import os

def handler(event, context):
    return os.getpid()
"""


def test_provisioned_environments_are_ready_before_the_first_invoke(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        provisioned = await client.call({"op": "provision", "targets": [{"env": spec, "count": 2}]})
        for _ in range(200):
            status = await client.status()
            if status["ready"].get(spec["key"]) == 2:
                break
            await asyncio.sleep(0.02)
        first = await client.invoke(spec, {})
        return provisioned, status, first

    provisioned, status, first = host.run(scenario)
    assert "ready" in provisioned.header
    states = [e for e in status["environments"] if e["key"] == spec["key"]]
    assert [e["state"] for e in states] == ["provisioned", "provisioned"]
    assert first.header["cold"] is False and first.header["init_ms"] is None
    assert first.json() in {e["pid"] for e in states}
    assert "Init Duration" not in first.log_tail


def test_provisioned_set_is_replaced(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        await client.call({"op": "provision", "targets": [{"env": spec, "count": 1}]})
        for _ in range(200):
            status = await client.status()
            if status["environments"]:
                break
            await asyncio.sleep(0.02)
        pid = status["environments"][0]["pid"]
        replaced = await client.call({"op": "provision", "targets": []})
        return pid, replaced, await client.status()

    pid, replaced, status = host.run(scenario)
    assert replaced.header["ready"] == {}
    assert status["environments"] == []
    assert wait_for(lambda: pid_gone(pid), 2)


def test_idle_environments_are_reaped_after_the_ttl(host_factory: Any) -> None:
    host = host_factory("--idle-ttl", "1")
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        pid = (await client.invoke(spec, {})).json()
        idle = await client.status()
        await asyncio.sleep(1.8)
        return pid, idle, await client.status(), await client.invoke(spec, {})

    pid, idle, later, again = host.run(scenario)
    assert [e["state"] for e in idle["environments"]] == ["idle"]
    assert later["environments"] == []
    assert pid_gone(pid)
    assert again.header["cold"] is True


def test_drop_stops_idle_environments_and_busy_ones_after_they_finish(host: Host) -> None:
    code = host.code(
        """
        import os, time

        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return os.getpid()
        """
    )
    spec = host.spec(code)
    other = host.spec(host.code(PID), "g")

    async def scenario(client: Client) -> Any:
        idle_pid = (await client.invoke(spec, {})).json()
        other_pid = (await client.invoke(other, {})).json()
        busy = asyncio.ensure_future(client.invoke(spec, {"sleep": 0.4}))
        extra = asyncio.ensure_future(client.invoke(spec, {"sleep": 0.4}))
        await asyncio.sleep(0.2)
        await client.call({"op": "drop", "function": "f"})
        busy_pid = (await busy).json()
        extra_pid = (await extra).json()
        await asyncio.sleep(0.1)
        return idle_pid, other_pid, {busy_pid, extra_pid}, await client.status()

    idle_pid, other_pid, busy_pids, status = host.run(scenario)
    assert wait_for(lambda: all(pid_gone(p) for p in busy_pids), 2)
    assert [e["pid"] for e in status["environments"]] == [other_pid]
    assert not pid_gone(other_pid)


def test_malformed_frame_closes_only_that_connection(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        reader, writer = await asyncio.open_unix_connection(host.socket)
        writer.write(b"\x00\x00\x00\x05nope!\x00\x00\x00\x00")
        closed = await reader.read()
        unknown = await client.call({"op": "frobnicate"})
        return closed, unknown, await client.invoke(spec, {})

    closed, unknown, reply = host.run(scenario)
    assert closed == b""
    assert unknown.header["status"] == "error"
    assert reply.status == "ok"


def test_zygote_is_restarted_when_it_dies(host: Host) -> None:
    spec = host.spec(host.code(PID))
    host.run(lambda client: client.call({"op": "warm"}))
    zygote = _children(host.process.pid)
    assert len(zygote) == 1
    os.kill(zygote[0], signal.SIGKILL)
    assert wait_for(lambda: _children(host.process.pid) not in ([], zygote), 10)

    async def scenario(client: Client) -> Any:
        return await client.invoke(spec, {})

    assert host.run(scenario).status == "ok"


def test_sigterm_stops_environments_and_removes_the_socket(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        return (await client.invoke(spec, {})).json()

    pid = host.run(scenario)
    zygote = _children(host.process.pid)
    host.process.send_signal(signal.SIGTERM)
    assert host.process.wait(10) == 0
    assert not os.path.exists(host.socket)
    assert wait_for(lambda: pid_gone(pid) and all(pid_gone(z) for z in zygote), 3)


def test_host_dies_with_its_parent(tmp_path: Path) -> None:
    """A parent that starts the host and is then SIGKILLed takes the host and its environments along."""
    socket_path = str(tmp_path / "h.sock")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import subprocess, sys, time
                host = subprocess.Popen([sys.executable, "-m", "bayou.functions.host",
                                         "--socket", {socket_path!r}, "--data-dir", {str(tmp_path / "data")!r}])
                print(host.pid, flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    host_pid = int(parent.stdout.readline())
    assert wait_for(lambda: os.path.exists(socket_path), 20)
    asyncio.run(_warm(socket_path))
    zygote = _children(host_pid)
    assert len(zygote) == 1
    parent.kill()
    parent.wait()
    assert wait_for(lambda: pid_gone(host_pid), 5)
    assert wait_for(lambda: all(pid_gone(z) for z in zygote), 5)


async def _warm(socket_path: str) -> None:
    client = await Client.connect(socket_path)
    try:
        await client.call({"op": "warm"})
    finally:
        await client.close()


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(p) for p in children.read().split()]
    except FileNotFoundError:
        return []


def test_many_concurrent_invocations_on_one_connection(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        started = time.monotonic()
        replies = await asyncio.gather(*(client.invoke(spec, {}) for _ in range(50)))
        return replies, time.monotonic() - started

    replies, _ = host.run(scenario)
    assert all(r.status == "ok" for r in replies)
