"""Environment specs travel once per key and connection; a new connection (a restarted host) re-sends."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from bayou.functions.host_client import HostClient

from .hostkit import Client, Host, start_host, stop_host

PID = """
import os

def handler(event, context):
    return os.getpid()
"""


def _header(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "op": "invoke",
        "request_id": str(uuid.uuid4()),
        "invoked_arn": f"arn:aws:lambda:us-east-1:000000000000:function:{spec['function']}",
        "deadline_ms": 2**53,
        "client_context": None,
        "log_tail": False,
        "concurrency_limit": None,
    }


def test_a_key_alone_needs_the_spec_earlier_on_the_same_connection(host: Host) -> None:
    spec = host.spec(host.code(PID))

    async def scenario(client: Client) -> Any:
        unknown = await client.call({**_header(spec), "env_key": spec["key"]}, b"{}")
        full = await client.call({**_header(spec), "env": spec}, b"{}")
        by_key = await client.call({**_header(spec), "env_key": spec["key"]}, b"{}")
        other = await Client.connect(host.socket)
        try:
            elsewhere = await other.call({**_header(spec), "env_key": spec["key"]}, b"{}")
        finally:
            await other.close()
        return unknown, full, by_key, elsewhere

    unknown, full, by_key, elsewhere = host.run(scenario)
    assert unknown.status == "unknown_env"
    assert full.status == "ok" and by_key.status == "ok"
    assert by_key.json() == full.json()  # the same warm environment
    assert elsewhere.status == "unknown_env"


class Recording(HostClient):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.sent: list[str] = []

    async def request(self, header: dict[str, Any], body: bytes = b"") -> tuple[dict[str, Any], bytes]:
        if header.get("op") == "invoke":
            self.sent.append("env" if "env" in header else "key")
        return await super().request(header, body)


def test_the_client_sends_a_spec_once_and_again_after_a_host_restart(tmp_path: Path) -> None:
    first = start_host(tmp_path)
    spec = first.spec(first.code(PID))

    async def invoke(client: HostClient) -> Any:
        reply, body = await client.invoke(_header(spec), spec, b"{}")
        assert reply["status"] == "ok", (reply, body)
        return int(body)

    async def scenario() -> Any:
        client = Recording(first.socket)
        try:
            pids = [await invoke(client), await invoke(client), await invoke(client)]
            before = list(client.sent)
            stop_host(first)
            await asyncio.sleep(0.2)  # the client's reader sees the connection close (stop_host blocked the loop)
            second = start_host(tmp_path, socket_path=first.socket)
            try:
                pids += [await invoke(client), await invoke(client)]
            finally:
                stop_host(second)
            return pids, before, client.sent[len(before):]
        finally:
            await client.close()

    pids, before, after = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert before == ["env", "key", "key"]
    assert after == ["env", "key"]
    assert pids[0] == pids[1] == pids[2] and pids[3] == pids[4] != pids[0]


def test_a_changed_spec_under_the_same_key_is_sent_again(host: Host) -> None:
    spec = host.spec(host.code(PID))
    changed = {**spec, "env": {**spec["env"], "EXTRA": "1"}}

    async def scenario() -> Any:
        client = Recording(host.socket)
        try:
            for current in (spec, spec, changed, changed, spec):
                reply, _ = await client.invoke(_header(current), current, b"{}")
                assert reply["status"] == "ok"
            return client.sent
        finally:
            await client.close()

    assert asyncio.run(scenario()) == ["env", "key", "env", "key", "env"]
