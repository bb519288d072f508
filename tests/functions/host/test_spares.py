"""The zygote's spare children: forked ahead of need, handed the next cold start, replaced, and
gone with the zygote."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from .hostkit import Client, Host, pid_gone, wait_for

PID = """
import os

def handler(event, context):
    return {"pid": os.getpid(), "ppid": os.getppid(), "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "extra": os.environ.get("EXTRA")}
"""


async def _spares(client: Client, at_least: int = 1) -> dict[str, Any]:
    await client.call({"op": "warm"})  # the host starts its zygote on demand
    for _ in range(250):
        zygote = (await client.status())["zygote"]
        if len(zygote["spares"]) >= at_least:
            return zygote
        await asyncio.sleep(0.02)
    raise AssertionError("no spare appeared")


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_cold_start_takes_the_spare_and_a_new_spare_replaces_it(host: Host) -> None:
    spec = host.spec(host.code(PID))
    other = host.spec(host.code(PID), "g", env={"AWS_LAMBDA_FUNCTION_NAME": "g", "EXTRA": "x"})

    async def scenario(client: Client) -> Any:
        before = await _spares(client)
        first = (await client.invoke(spec, {})).json()
        after = await _spares(client)
        second = (await client.invoke(other, {})).json()
        return before, first, after, second

    before, first, after, second = host.run(scenario)
    assert all(_parent(pid) == before["pid"] for pid in before["spares"])
    assert first["pid"] in before["spares"] and first["ppid"] == before["pid"]
    assert first["name"] == "f" and first["extra"] is None
    assert first["pid"] not in after["spares"]
    assert second["pid"] in after["spares"]
    assert second["name"] == "g" and second["extra"] == "x"


def test_a_spare_that_dies_while_waiting_is_replaced(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        spare = (await _spares(client))["spares"][0]
        os.kill(spare, signal.SIGKILL)
        for _ in range(250):
            spares = (await client.status())["zygote"]["spares"]
            if spares and spare not in spares:
                break
            await asyncio.sleep(0.02)
        return spare, spares, await client.invoke(spec, {})

    dead, spares, reply = host.run(scenario)
    assert dead not in spares and spares
    assert reply.status == "ok" and reply.json()["pid"] != dead
    assert (host.run(lambda client: client.status()))["environments"][0]["pid"] == reply.json()["pid"]


def test_spares_die_with_the_zygote(host: Host) -> None:
    zygote = host.run(_spares)
    os.kill(zygote["pid"], signal.SIGKILL)
    assert wait_for(lambda: all(pid_gone(pid) for pid in zygote["spares"]), 5)
    restarted = host.run(_spares)
    assert restarted["pid"] != zygote["pid"] and not set(restarted["spares"]) & set(zygote["spares"])


def test_spares_stop_with_the_host(host: Host) -> None:
    zygote = host.run(_spares)
    host.process.send_signal(signal.SIGTERM)
    assert host.process.wait(10) == 0
    assert wait_for(lambda: all(pid_gone(pid) for pid in [zygote["pid"], *zygote["spares"]]), 5)


def test_concurrent_cold_starts_beyond_the_spares_all_start(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        await _spares(client)
        replies = await asyncio.gather(*(client.invoke(spec, {"n": i}) for i in range(6)))
        return replies, await _spares(client)

    replies, zygote = host.run(scenario)
    assert all(r.status == "ok" for r in replies)
    assert len({r.json()["pid"] for r in replies}) == 6
    assert all(r.json()["ppid"] == zygote["pid"] for r in replies)
