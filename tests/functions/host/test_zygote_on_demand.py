"""The zygote starts on demand: not with the host, but with the first fork or a `warm` request,
and only once however many ask for it at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

from .hostkit import Client, Host, wait_for

PID = """
import os

def handler(event, context):
    return {"pid": os.getpid(), "ppid": os.getppid()}
"""


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(p) for p in children.read().split()]


def test_a_new_host_runs_no_zygote_until_an_invocation_needs_one(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        before = (await client.status())["zygote"]
        await asyncio.sleep(0.5)  # long enough for a zygote started with the host to be visible
        idle_children = _children(host.process.pid)
        reply = await client.invoke(spec, {})
        return before, idle_children, reply, (await client.status())["zygote"]

    before, idle_children, reply, after = host.run(scenario)
    assert before == {"pid": None, "spares": []}
    assert idle_children == []
    assert reply.status == "ok", reply.header
    assert after["pid"] is not None and reply.json()["ppid"] == after["pid"]
    assert _children(host.process.pid) == [after["pid"]]


def test_concurrent_first_invocations_share_one_zygote(host: Host) -> None:
    specs = [host.spec(host.code(PID), f"f{i}") for i in range(4)]

    async def scenario(client: Client) -> Any:
        return await asyncio.gather(*(client.invoke(spec, {}) for spec in specs))

    replies = host.run(scenario)
    assert all(reply.status == "ok" for reply in replies), [r.header for r in replies]
    parents = {reply.json()["ppid"] for reply in replies}
    assert len(parents) == 1
    assert _children(host.process.pid) == list(parents)


def test_warm_starts_the_zygote_once(host: Host) -> None:
    async def scenario(client: Client) -> Any:
        first, second = await asyncio.gather(client.call({"op": "warm"}), client.call({"op": "warm"}))
        third = await client.call({"op": "warm"})
        return first.header, second.header, third.header, (await client.status())["zygote"]

    first, second, third, status = host.run(scenario)
    assert first["zygote"] is not None
    assert first["zygote"] == second["zygote"] == third["zygote"] == status["pid"]
    assert wait_for(lambda: _children(host.process.pid) == [status["pid"]], 5)
