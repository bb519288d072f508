"""Limits are enforced: timeout, memory, crashes, concurrency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .hostkit import Client, Host, pid_gone, wait_for

SLOW = """
import os, time

def handler(event, context):
    if event.get("pid"):
        return os.getpid()
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""


def test_timeout_kills_the_environment(host: Host) -> None:
    spec = host.spec(host.code(SLOW), timeout=1.0)

    async def scenario(client: Client) -> Any:
        pid = (await client.invoke(spec, {"pid": True})).json()
        started = time.monotonic()
        reply = await client.invoke(spec, {"sleep": 10}, request_id="req-slow")
        elapsed = time.monotonic() - started
        after = await client.invoke(spec, {"pid": True})
        return pid, reply, elapsed, after

    pid, reply, elapsed, after = host.run(scenario)
    assert elapsed < 2.0
    assert reply.header["function_error"] == "Unhandled"
    assert reply.json() == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: req-slow Error: Task timed out after 1.00 seconds",
    }
    assert wait_for(lambda: pid_gone(pid), 2)
    assert after.status == "ok" and after.header["cold"] is True and after.json() != pid


def test_a_slow_init_has_its_own_limit_apart_from_the_timeout(host: Host) -> None:
    """As on Lambda: a 1.5 s import under a 1 s timeout succeeds, and the handler still gets its full second."""
    code = host.code("import time\ntime.sleep(1.5)\ndef handler(event, context):\n    return context.get_remaining_time_in_millis()\n")
    spec = host.spec(code, timeout=1.0)

    async def scenario(client: Client) -> Any:
        return await client.invoke(spec, {}, request_id="req-init")

    reply = host.run(scenario)
    assert reply.status == "ok", reply.json()
    assert 800 < reply.json() <= 1000
    assert reply.header["init_ms"] >= 1400


def test_memory_limit_is_out_of_memory_and_the_environment_is_replaced(host: Host) -> None:
    code = host.code(
        """
        import os

        def handler(event, context):
            if event.get("big"):
                block = bytearray(1 << 30)
                return len(block)
            return os.getpid()
        """
    )
    spec = host.spec(code, memory_mb=128)

    async def scenario(client: Client) -> Any:
        pid = (await client.invoke(spec, {})).json()
        return pid, await client.invoke(spec, {"big": True}), await client.invoke(spec, {})

    pid, oom, after = host.run(scenario)
    assert oom.header["function_error"] == "Unhandled"
    assert oom.json()["errorType"] == "Runtime.OutOfMemory"
    assert after.status == "ok" and after.header["cold"] is True and after.json() != pid
    assert wait_for(lambda: pid_gone(pid), 2)


def test_crashes_fail_only_their_own_invocation(host: Host) -> None:
    crash = host.code(
        """
        import os, signal

        def handler(event, context):
            if event["how"] == "exit":
                os._exit(3)
            if event["how"] == "sys.exit":
                raise SystemExit(4)
            if event["how"] == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            return "fine"
        """
    )
    crash_spec = host.spec(crash, "crash")
    slow_spec = host.spec(host.code(SLOW), "other")

    async def scenario(client: Client) -> Any:
        other = asyncio.ensure_future(client.invoke(slow_spec, {"sleep": 0.5}))
        exited = await client.invoke(crash_spec, {"how": "exit"}, request_id="req-exit")
        segv = await client.invoke(crash_spec, {"how": "segv"}, request_id="req-segv")
        sys_exit = await client.invoke(crash_spec, {"how": "sys.exit"}, request_id="req-sys")
        fine = await client.invoke(crash_spec, {"how": "none"})
        return exited, segv, sys_exit, fine, await other

    exited, segv, sys_exit, fine, other = host.run(scenario)
    assert exited.json() == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-exit Error: Runtime exited with error: exit status 3",
    }
    assert exited.header["function_error"] == "Unhandled"
    assert (
        segv.json()["errorMessage"]
        == "RequestId: req-segv Error: Runtime exited with error: signal: segmentation fault"
    )
    assert (
        sys_exit.json()["errorMessage"]
        == "RequestId: req-sys Error: Runtime exited with error: exit status 4"
    )
    assert fine.status == "ok" and fine.header["cold"] is True
    assert other.status == "ok"


def test_reserved_concurrency_throttles_beyond_the_limit(host: Host) -> None:
    spec = host.spec(host.code(SLOW))

    async def scenario(client: Client) -> Any:
        replies = await asyncio.gather(
            *(client.invoke(spec, {"sleep": 0.5}, concurrency_limit=2) for _ in range(3))
        )
        zero = await client.invoke(spec, {}, concurrency_limit=0)
        return replies, zero

    replies, zero = host.run(scenario)
    statuses = sorted(r.status for r in replies)
    assert statuses == ["ok", "ok", "throttled"]
    throttled = next(r for r in replies if r.status == "throttled")
    assert throttled.header["reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert zero.status == "throttled"
    assert zero.header["reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_account_concurrency_is_shared_by_unreserved_functions(host_factory: Any) -> None:
    host = host_factory("--account-concurrency", "1")
    first = host.spec(host.code(SLOW), "a")
    second = host.spec(host.code(SLOW), "b")

    async def scenario(client: Client) -> Any:
        slow = asyncio.ensure_future(client.invoke(first, {"sleep": 0.5}))
        await asyncio.sleep(0.2)
        throttled = await client.invoke(second, {})
        reserved = await client.invoke(second, {}, concurrency_limit=5)
        return await slow, throttled, reserved

    slow, throttled, reserved = host.run(scenario)
    assert slow.status == "ok"
    assert (
        throttled.status == "throttled" and throttled.header["reason"] == "ConcurrentInvocationLimitExceeded"
    )
    assert reserved.status == "ok"
