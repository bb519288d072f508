"""Custom runtimes against real processes: awslambdaric, a Node.js bootstrap, shell and Python bootstraps."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bayou.functions.host.custom import CustomEnvironment
from bayou.functions.host.environment import InvocationOutcome, InvocationRequest
from bayou.functions.host.runtime_api import RuntimeApi

PY = sys.executable
NODE = shutil.which("node") or "/usr/bin/node"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"

APP = """
calls = 0

def handler(event, context):
    global calls
    calls += 1
    if event.get("fail"):
        raise ValueError("boom")
    print("handling", calls)
    custom = context.client_context.custom if context.client_context else None
    return {"echo": event, "calls": calls, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn, "remaining": context.get_remaining_time_in_millis(),
            "custom": custom}
"""

NODE_BOOTSTRAP = """#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
const base = '/2018-06-01/runtime/invocation/';
function call(method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({host, port, method, path, agent, headers: headers || {}}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers,
                                   body: Buffer.concat(chunks).toString(), reused: req.reusedSocket}));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
let count = 0;
(async () => {
  console.log('node init');
  for (;;) {
    const next = await call('GET', base + 'next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const event = JSON.parse(next.body);
    count++;
    console.log('node event', count);
    if (event.fail) {
      const r = await call('POST', base + id + '/error',
        JSON.stringify({errorMessage: 'node failed', errorType: 'NodeError', stackTrace: []}),
        {'Lambda-Runtime-Function-Error-Type': 'NodeError'});
      if (r.status !== 202) throw new Error('error post: ' + r.status);
      continue;
    }
    const r = await call('POST', base + id + '/response', JSON.stringify({
      echo: event, count, reused: next.reused, arn: next.headers['lambda-runtime-invoked-function-arn'],
      deadline: next.headers['lambda-runtime-deadline-ms'], trace: next.headers['lambda-runtime-trace-id']}));
    if (r.status !== 202) throw new Error('response post: ' + r.status);
  }
})().catch((e) => { console.error(e); process.exit(2); });
"""

# A bootstrap in Python with nothing but http.client, for the failure cases.
RAW_CLIENT = f"""#!{PY}
import http.client, json, os, sys, time
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
def call(method, path, body=None, headers=None):
    conn.request(method, "/2018-06-01/runtime" + path, body=body, headers=headers or {{}})
    response = conn.getresponse()
    return response.status, response.read(), response
"""


def write_exec(path: Path, text: str, mode: int = 0o755) -> None:
    path.write_text(text)
    path.chmod(mode)


def make_spec(
    code_dir: Path, *, timeout: float = 3.0, memory_mb: int = 128, handler: str = "app.handler"
) -> dict[str, Any]:
    code_dir.mkdir(exist_ok=True)
    return {
        "key": f"f:1:{uuid.uuid4().hex}:r1",
        "function": "f",
        "version": "1",
        "runtime": "provided.al2023",
        "handler": handler,
        "code_dir": str(code_dir),
        "timeout": timeout,
        "memory_mb": memory_mb,
        "env": {
            "AWS_LAMBDA_FUNCTION_NAME": "f",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_REGION": "us-east-1",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": handler,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TZ": ":UTC",
        },
    }


def request(payload: Any, *, seconds: float = 20.0, client_context: str | None = None) -> InvocationRequest:
    return InvocationRequest(
        request_id=str(uuid.uuid4()),
        payload=json.dumps(payload).encode(),
        invoked_arn=ARN,
        deadline_ms=int((time.time() + seconds) * 1000),
        client_context=client_context,
    )


async def started(spec: dict[str, Any], tmp_path: Path) -> CustomEnvironment:
    env = CustomEnvironment(spec, log_path=tmp_path / "env.log")
    await env.start()
    return env


def error_of(outcome: InvocationOutcome) -> dict[str, Any]:
    assert outcome.function_error == "Unhandled", outcome
    doc = json.loads(outcome.body)
    assert isinstance(doc, dict)
    return doc


def gone(pid: int, wait: float = 3.0) -> bool:
    """The process does not exist (or is a zombie waiting for a reaper that is not us)."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


# (a) awslambdaric


def awslambdaric_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(APP)
    write_exec(code / "bootstrap", f'#!/bin/sh\nexec {PY} -m awslambdaric "$_HANDLER"\n')
    return code


def test_awslambdaric_echo_warm_state_and_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        env = await started(make_spec(awslambdaric_dir(tmp_path)), tmp_path)
        try:
            assert env.alive and env.pid > 0 and env.init_ms > 0
            context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
            first_request = request({"n": 1}, client_context=context)
            first = await env.invoke(first_request)
            assert first.function_error is None, first.body
            result = json.loads(first.body)
            assert result["echo"] == {"n": 1} and result["calls"] == 1
            assert result["request_id"] == first_request.request_id and result["arn"] == ARN
            assert 0 < result["remaining"] <= 20_000
            assert result["custom"] == {"k": "v"}
            assert b"handling 1" in first.output
            assert first.max_memory_mb > 0 and first.duration_ms > 0

            second = await env.invoke(request({"n": 2}))
            assert json.loads(second.body)["calls"] == 2  # same process, module state kept
            assert b"handling 2" in second.output and b"handling 1" not in second.output

            failed = await env.invoke(request({"fail": True}))
            error = error_of(failed)
            assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom"
            assert not failed.environment_dead and env.alive
            assert json.loads((await env.invoke(request({"n": 3}))).body)["calls"] == 4
        finally:
            await env.stop()
        assert not env.alive and gone(env.pid)
        assert not (tmp_path / "env.log").exists()  # created by the environment, removed with it
        await env.stop()  # idempotent

    asyncio.run(scenario())


# (b) Node.js


def test_node_bootstrap_echo_and_error_post(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(code / "bootstrap", NODE_BOOTSTRAP)
    spec = make_spec(code)
    spec["env"]["PATH"] = f"{Path(NODE).parent}:{spec['env']['PATH']}"

    async def scenario() -> None:
        env = await started(spec, tmp_path)
        try:
            first_request = request({"hello": "node"})
            first = await env.invoke(first_request)
            assert first.function_error is None, first.body
            result = json.loads(first.body)
            assert result["echo"] == {"hello": "node"} and result["count"] == 1
            assert result["arn"] == ARN and int(result["deadline"]) == first_request.deadline_ms
            assert result["trace"].startswith("Root=1-")
            assert first.output.startswith(b"node init\n")  # init output goes with the first invocation
            assert b"node event 1" in first.output

            failed = await env.invoke(request({"fail": True}))
            assert error_of(failed) == {
                "errorMessage": "node failed",
                "errorType": "NodeError",
                "stackTrace": [],
            }
            assert not failed.environment_dead

            third = json.loads((await env.invoke(request({"n": 3}))).body)
            assert third["count"] == 3 and third["reused"] is True  # one keep-alive connection
        finally:
            await env.stop()
        assert gone(env.pid)

    asyncio.run(scenario())


# (c) no usable bootstrap


def test_missing_bootstrap_is_invalid_entrypoint(tmp_path: Path) -> None:
    async def scenario() -> None:
        env = await started(make_spec(tmp_path / "code"), tmp_path)
        try:
            assert not env.alive
            req = request({})
            outcome = await env.invoke(req)
            error = error_of(outcome)
            assert error["errorType"] == "Runtime.InvalidEntrypoint"
            assert error["errorMessage"].startswith(
                f"RequestId: {req.request_id} Error: Couldn't find valid bootstrap"
            )
            assert outcome.environment_dead
        finally:
            await env.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        ("#!/bin/sh\necho hi\n", 0o644, "permission denied"),
        ("#!/no/such/interpreter\n", 0o755, "no such file"),
    ],
)
def test_unrunnable_bootstrap_is_invalid_entrypoint(
    tmp_path: Path, text: str, mode: int, reason: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(code / "bootstrap", text, mode)

    async def scenario() -> None:
        env = await started(make_spec(code), tmp_path)
        try:
            error = error_of(await env.invoke(request({})))
            assert error["errorType"] == "Runtime.InvalidEntrypoint"
            assert reason in error["errorMessage"].lower()
        finally:
            await env.stop()

    asyncio.run(scenario())


# (d) the bootstrap exits


def test_bootstrap_exiting_during_init_is_exit_error(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(code / "bootstrap", "#!/bin/sh\necho dying >&2\nexit 3\n")

    async def scenario() -> None:
        env = await started(make_spec(code), tmp_path)
        try:
            assert not env.alive
            req = request({})
            outcome = await env.invoke(req)
            assert error_of(outcome) == {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {req.request_id} Error: Runtime exited with error: exit status 3",
            }
            assert outcome.environment_dead
            assert (
                outcome.output
                == f"dying\n{json.loads(outcome.body)['errorMessage']}\nRuntime.ExitError\n".encode()
            )
        finally:
            await env.stop()

    asyncio.run(scenario())


def test_bootstrap_exiting_during_invocation_is_exit_error(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(
        code / "bootstrap",
        RAW_CLIENT + 'call("GET", "/invocation/next")\nprint("got it", flush=True)\nsys.exit(3)\n',
    )

    async def scenario() -> None:
        env = await started(make_spec(code), tmp_path)
        try:
            assert env.alive
            req = request({})
            outcome = await env.invoke(req)
            assert error_of(outcome)["errorMessage"] == (
                f"RequestId: {req.request_id} Error: Runtime exited with error: exit status 3"
            )
            assert outcome.environment_dead and not env.alive
            assert outcome.output.startswith(b"got it\n") and outcome.output.endswith(b"Runtime.ExitError\n")
        finally:
            await env.stop()

    asyncio.run(scenario())


# (e) timeout


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    pids = tmp_path / "child.pid"
    write_exec(
        code / "bootstrap",
        f"#!/bin/sh\nsleep 300 &\necho $! > {pids}\nexec {PY} -c '"
        "import http.client, os, time\n"
        'c = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])\n'
        'c.request("GET", "/2018-06-01/runtime/invocation/next"); c.getresponse().read()\n'
        "time.sleep(300)'\n",
    )

    async def scenario() -> None:
        env = await started(make_spec(code, timeout=1.0), tmp_path)
        try:
            assert env.alive
            req = request({}, seconds=1.0)
            began = time.monotonic()
            outcome = await env.invoke(req)
            assert 0.8 < time.monotonic() - began < 3.0
            assert error_of(outcome) == {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {req.request_id} Error: Task timed out after 1.00 seconds",
            }
            assert outcome.environment_dead and not env.alive
            assert gone(env.pid) and gone(int(pids.read_text()))
            assert outcome.output.endswith(
                b"Z RequestId: %s Error: Task timed out after 1.00 seconds\n" % req.request_id.encode()
            )
        finally:
            await env.stop()

    asyncio.run(scenario())


def test_stop_during_an_invocation_ends_it(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(code / "bootstrap", RAW_CLIENT + 'call("GET", "/invocation/next")\ntime.sleep(60)\n')

    async def scenario() -> None:
        env = await started(make_spec(code), tmp_path)
        invocation = asyncio.ensure_future(env.invoke(request({})))
        await asyncio.sleep(0.3)
        await env.stop()
        outcome = await asyncio.wait_for(invocation, 5)
        assert error_of(outcome)["errorType"] == "Runtime.ExitError"
        assert outcome.environment_dead and gone(env.pid)

    asyncio.run(scenario())


def test_memory_over_memory_size_is_out_of_memory(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(
        code / "bootstrap",
        RAW_CLIENT + 'call("GET", "/invocation/next")\nhog = b"x" * (200 << 20)\ntime.sleep(60)\n',
    )

    async def scenario() -> None:
        env = await started(make_spec(code, memory_mb=64), tmp_path)
        try:
            outcome = await env.invoke(request({}))
            error = error_of(outcome)
            assert error["errorType"] == "Runtime.OutOfMemory", error
            assert outcome.environment_dead and outcome.max_memory_mb > 64
            assert gone(env.pid)
        finally:
            await env.stop()

    asyncio.run(scenario())


def test_output_is_bounded_and_oversized_responses_are_refused(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(
        code / "bootstrap",
        RAW_CLIENT
        + """
for big in (False, True, False):
    status, body, response = call("GET", "/invocation/next")
    path = "/invocation/" + response.getheader("Lambda-Runtime-Aws-Request-Id") + "/response"
    if big:
        status, body, _ = call("POST", path, b"1" * (7 << 20))
        print("big post", status, json.loads(body)["errorType"], flush=True)
    else:
        sys.stdout.write("x" * (300 << 10))
        sys.stdout.flush()
        call("POST", path, b'"small"')
time.sleep(60)
""",
    )
    log = tmp_path / "env.log"
    log.write_bytes(b"written before the environment existed\n")

    async def scenario() -> None:
        env = CustomEnvironment(make_spec(code), log_path=log)
        await env.start()
        try:
            first = await env.invoke(request({}))
            assert first.body == b'"small"'
            assert first.output == b"x" * (256 << 10) + b"\n... %d bytes elided\n" % (44 << 10)
            big = await env.invoke(request({}))
            assert error_of(big)["errorType"] == "Function.ResponseSizeTooLarge"
            assert not big.environment_dead
            third = await env.invoke(request({}))
            assert third.body == b'"small"'  # the same process
            # printed as the reply arrives: in this invocation's output or at the start of the next one's
            assert b"big post 413 RequestEntityTooLarge\n" in big.output + third.output[:100]
        finally:
            await env.stop()
        assert log.exists()  # not the environment's to remove

    asyncio.run(scenario())


# (f) init errors


def test_awslambdaric_import_error_is_every_invocations_outcome(tmp_path: Path) -> None:
    code = awslambdaric_dir(tmp_path)

    async def scenario() -> None:
        env = await started(make_spec(code, handler="nosuchmodule.handler"), tmp_path)
        try:
            assert not env.alive
            for _ in range(2):
                outcome = await env.invoke(request({}))
                error = error_of(outcome)
                assert error["errorType"] == "Runtime.ImportModuleError"
                assert "nosuchmodule" in error["errorMessage"]
                assert outcome.environment_dead
        finally:
            await env.stop()

    asyncio.run(scenario())


def test_init_error_type_from_the_header(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    write_exec(
        code / "bootstrap",
        RAW_CLIENT
        + 'status, body, _ = call("POST", "/init/error", json.dumps({"errorMessage": "no config"}),'
        ' {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigMissing"})\n'
        'assert status == 202 and json.loads(body) == {"status": "OK"}, (status, body)\n'
        "time.sleep(60)\n",
    )

    async def scenario() -> None:
        env = await started(make_spec(code), tmp_path)
        try:
            assert not env.alive
            outcome = await env.invoke(request({}))
            assert error_of(outcome) == {"errorMessage": "no config", "errorType": "Runtime.ConfigMissing"}
        finally:
            await env.stop()
        assert gone(env.pid)

    asyncio.run(scenario())


# The Runtime API itself


def _http(address: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(address, timeout=10)


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_runtime_api_paths_ids_and_keep_alive() -> None:
    async def scenario() -> None:
        api = RuntimeApi()
        address = await api.start()
        conn = _http(address)
        try:
            status, _, body = await asyncio.to_thread(_exchange, conn, "GET", "/2018-06-01/runtime/nope")
            assert status == 404 and set(json.loads(body)) == {"errorMessage", "errorType"}
            status, _, body = await asyncio.to_thread(
                _exchange, conn, "POST", "/2018-06-01/runtime/invocation/bogus/response", b"{}"
            )
            assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"

            context = base64.b64encode(b'{"custom":{"a":1}}').decode()
            pending = api.submit(request({"x": 1}, client_context=context))
            status, headers, body = await asyncio.to_thread(
                _exchange, conn, "GET", "/2018-06-01/runtime/invocation/next"
            )
            assert status == 200 and json.loads(body) == {"x": 1}
            assert headers["lambda-runtime-aws-request-id"] == pending.request.request_id
            assert headers["lambda-runtime-deadline-ms"] == str(pending.request.deadline_ms)
            assert headers["lambda-runtime-invoked-function-arn"] == ARN
            assert headers["lambda-runtime-client-context"] == '{"custom":{"a":1}}'
            assert api.first_next.is_set()

            path = f"/2018-06-01/runtime/invocation/{pending.request.request_id}/response"
            status, _, body = await asyncio.to_thread(_exchange, conn, "POST", path, b'{"ok":true}')
            assert status == 202 and json.loads(body) == {"status": "OK"}
            reply = await pending.reply
            assert reply.kind == "response" and reply.body == b'{"ok":true}'
            status, _, _ = await asyncio.to_thread(_exchange, conn, "POST", path, b"{}")
            assert status == 400  # replied already
        finally:
            conn.close()
            await api.close()

    asyncio.run(scenario())


def test_runtime_api_poll_abandoned_by_its_client_loses_nothing() -> None:
    async def scenario() -> None:
        api = RuntimeApi()
        address = await api.start()
        host, port = address.split(":")
        try:
            quitter = socket.create_connection((host, int(port)))
            quitter.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(0.2)
            quitter.close()
            await asyncio.sleep(0.2)
            pending = api.submit(request({"kept": True}))
            conn = _http(address)
            status, headers, body = await asyncio.to_thread(
                _exchange, conn, "GET", "/2018-06-01/runtime/invocation/next"
            )
            conn.close()
            assert status == 200 and json.loads(body) == {"kept": True}
            assert headers["lambda-runtime-aws-request-id"] == pending.request.request_id
        finally:
            await api.close()

    asyncio.run(scenario())
