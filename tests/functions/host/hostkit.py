"""Helpers for the host tests: a real host process on a temporary socket and a small protocol client."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from bayou.functions.protocol import encode_frame, read_frame


class Reply:
    def __init__(self, header: dict[str, Any], body: bytes) -> None:
        self.header = header
        self.body = body

    @property
    def status(self) -> str:
        return str(self.header.get("status"))

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def log_tail(self) -> str:
        return base64.b64decode(self.header.get("log_tail") or b"").decode()


class Client:
    """Many requests in flight on one connection, matched by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Reply]] = {}
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, path: str) -> Client:
        for _ in range(100):  # the socket file exists from bind(), a moment before listen()
            try:
                reader, writer = await asyncio.open_unix_connection(path, limit=16 << 20)
                return cls(reader, writer)
            except ConnectionRefusedError:
                await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_unix_connection(path, limit=16 << 20)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                header, body = await read_frame(self.reader)
                future = self.pending.pop(header["id"])
                future.set_result(Reply(header, body))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            for future in self.pending.values():
                future.set_exception(ConnectionError(str(exc)))

    async def call(self, header: dict[str, Any], body: bytes = b"") -> Reply:
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.writer.write(encode_frame({**header, "id": request_id}, body))
        return await future

    async def invoke(
        self,
        spec: dict[str, Any],
        payload: Any = None,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        concurrency_limit: int | None = None,
    ) -> Reply:
        header = {
            "op": "invoke",
            "env": spec,
            "request_id": request_id or str(uuid.uuid4()),
            "invoked_arn": f"arn:aws:lambda:us-east-1:000000000000:function:{spec['function']}",
            "deadline_ms": int((time.time() + spec["timeout"]) * 1000),
            "client_context": client_context,
            "log_tail": True,
            "concurrency_limit": concurrency_limit,
        }
        body = b"" if payload is None else json.dumps(payload).encode()
        return await self.call(header, body)

    async def status(self) -> dict[str, Any]:
        return (await self.call({"op": "status"})).header

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()


class Host:
    def __init__(self, root: Path, process: subprocess.Popen[bytes], socket_path: str) -> None:
        self.root = root
        self.process = process
        self.socket = socket_path
        self.data_dir = root / "data"

    def code(self, source: str, module: str = "app", name: str | None = None) -> Path:
        directory = self.root / "code" / (name or uuid.uuid4().hex)
        directory.mkdir(parents=True)
        (directory / f"{module}.py").write_text(textwrap.dedent(source))
        return directory

    def spec(self, code_dir: Path, function: str = "f", **overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "key": f"{function}:1:{code_dir.name}:r1",
            "function": function,
            "version": "1",
            "runtime": "python3.11",
            "handler": "app.handler",
            "code_dir": str(code_dir),
            "timeout": 3.0,
            "memory_mb": 128,
            "env": {
                "AWS_LAMBDA_FUNCTION_NAME": function,
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[1]abc",
                "AWS_REGION": "us-east-1",
                "TZ": ":UTC",
            },
        }
        spec.update(overrides)
        return spec

    def log_text(self, function: str = "f") -> str:
        return (self.data_dir / "functions" / "logs" / f"{function}.log").read_text()

    def run(self, scenario: Any) -> Any:
        async def main() -> Any:
            client = await Client.connect(self.socket)
            try:
                return await asyncio.wait_for(scenario(client), 30)
            finally:
                await client.close()

        return asyncio.run(main())


def start_host(root: Path, *args: str, socket_path: str | None = None) -> Host:
    socket_path = socket_path or os.path.join(tempfile.mkdtemp(prefix="fnh"), "h.sock")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bayou.functions.host",
            "--socket",
            socket_path,
            "--data-dir",
            str(root / "data"),
            *args,
        ]
    )
    wait_for(lambda: os.path.exists(socket_path) or process.poll() is not None, 20)
    assert process.poll() is None, "the host exited at start-up"
    return Host(root, process, socket_path)


def stop_host(host: Host) -> None:
    if host.process.poll() is None:
        host.process.send_signal(signal.SIGTERM)
        try:
            host.process.wait(10)
        except subprocess.TimeoutExpired:
            host.process.kill()
            host.process.wait()


def wait_for(predicate: Any, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def pid_gone(pid: int) -> bool:
    """Exited and reaped: a zombie still counts as present."""
    return not os.path.exists(f"/proc/{pid}")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
