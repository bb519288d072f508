"""Invocations through a real host: results, warm state, context, errors as Lambda renders them."""

from __future__ import annotations

import base64
import json
from typing import Any

from .hostkit import Client, Host

HELLO = """
import os
count = 0

def handler(event, context):
    global count
    count += 1
    print("hello", count)
    return {"count": count, "event": event, "pid": os.getpid()}
"""


def test_trivial_handler_and_warm_state(host: Host) -> None:
    spec = host.spec(host.code(HELLO))

    async def scenario(client: Client) -> list[Any]:
        return [await client.invoke(spec, {"n": i}) for i in range(3)]

    replies = host.run(scenario)
    assert [r.status for r in replies] == ["ok"] * 3
    results = [r.json() for r in replies]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert results[2]["event"] == {"n": 2}
    assert len({r["pid"] for r in results}) == 1
    assert [r.header["cold"] for r in replies] == [True, False, False]
    assert replies[0].header["init_ms"] > 0 and replies[1].header["init_ms"] is None
    assert replies[0].header["function_error"] is None
    assert replies[0].header["max_memory_mb"] > 0


def test_none_result_is_null_and_unserialisable_is_marshal_error(host: Host) -> None:
    code = host.code(
        """
        def handler(event, context):
            return None if event.get("none") else {1, 2}
        """
    )
    spec = host.spec(code)

    async def scenario(client: Client) -> Any:
        return await client.invoke(spec, {"none": True}), await client.invoke(spec, {})

    none, marshal = host.run(scenario)
    assert none.status == "ok" and none.body == b"null"
    assert marshal.status == "function_error" and marshal.header["function_error"] == "Unhandled"
    assert marshal.json()["errorType"] == "Runtime.MarshalError"
    assert "Unable to marshal response" in marshal.json()["errorMessage"]


def test_context_and_environment(host: Host) -> None:
    code = host.code(
        """
        import os

        def handler(event, context):
            cc = context.client_context
            return {
                "request_id": context.aws_request_id,
                "name": context.function_name,
                "version": context.function_version,
                "arn": context.invoked_function_arn,
                "memory": context.memory_limit_in_mb,
                "group": context.log_group_name,
                "stream": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "identity": context.identity,
                "client": cc.client.installation_id,
                "custom": cc.custom,
                "cc_env": cc.env,
                "MY_VAR": os.environ.get("MY_VAR"),
                "HOME": os.environ.get("HOME"),
                "cwd": os.getcwd(),
            }
        """
    )
    spec = host.spec(code)
    spec["env"]["MY_VAR"] = "yes"
    context = {"client": {"installation_id": "inst-1"}, "custom": {"k": "v"}, "env": {"platform": "x"}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()

    async def scenario(client: Client) -> Any:
        return await client.invoke(spec, {}, request_id="req-42", client_context=encoded)

    result = host.run(scenario).json()
    assert result["request_id"] == "req-42"
    assert result["name"] == "f" and result["version"] == "1" and result["memory"] == "128"
    assert result["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert result["group"] == "/aws/lambda/f" and result["stream"] == "2026/01/01/[1]abc"
    assert 2000 < result["remaining"] <= 3000
    assert result["identity"] is None
    assert (
        result["client"] == "inst-1"
        and result["custom"] == {"k": "v"}
        and result["cc_env"] == {"platform": "x"}
    )
    assert result["MY_VAR"] == "yes"
    assert result["HOME"] is None, "the environment is replaced, not merged"
    assert result["cwd"] == str(code)


def test_raised_exception_is_lambda_error_json(host: Host) -> None:
    code = host.code(
        """
        def helper():
            raise ValueError("bad input")

        def handler(event, context):
            helper()
        """
    )
    spec = host.spec(code)

    async def scenario(client: Client) -> Any:
        return await client.invoke(spec, {}, request_id="req-err"), await client.invoke(spec, {})

    failed, again = host.run(scenario)
    assert failed.status == "function_error" and failed.header["function_error"] == "Unhandled"
    error = failed.json()
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad input"
    assert error["requestId"] == "req-err"
    assert any("helper()" in line for line in error["stackTrace"])
    assert all("bootstrap.py" not in line for line in error["stackTrace"])
    assert "[ERROR] ValueError: bad input" in failed.log_tail
    assert again.header["cold"] is False, "a handled failure keeps the environment"


def test_init_errors_are_reported_on_every_invocation(host: Host) -> None:
    good = host.code("def handler(event, context):\n    return 1\n")
    broken = host.code("def handler(event, context)\n    return 1\n")
    raising = host.code("raise RuntimeError('no config')\n")
    cases = {
        "Runtime.ImportModuleError": (
            host.spec(good, "f1", handler="nomodule.handler"),
            "Unable to import module 'nomodule': No module named 'nomodule'",
        ),
        "Runtime.HandlerNotFound": (
            host.spec(good, "f2", handler="app.nope"),
            "Handler 'nope' missing on module 'app'",
        ),
        "Runtime.MalformedHandlerName": (host.spec(good, "f3", handler="nodot"), "Bad handler 'nodot'"),
        "Runtime.UserCodeSyntaxError": (host.spec(broken), "Syntax error in module 'app'"),
        "RuntimeError": (host.spec(raising), "no config"),
    }

    async def scenario(client: Client) -> dict[str, Any]:
        return {name: [await client.invoke(spec, {}) for _ in range(2)] for name, (spec, _) in cases.items()}

    replies = host.run(scenario)
    for name, (_, message) in cases.items():
        for reply in replies[name]:
            assert reply.header["function_error"] == "Unhandled", name
            assert reply.json()["errorType"] == name
            assert reply.json()["errorMessage"].startswith(message), reply.json()
            assert f"[ERROR] {name}" in reply.log_tail
        assert replies[name][1].header["cold"] is False


BOOTSTRAP = """#!{python}
import json, os, urllib.request

api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as got:
        request_id = got.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(got.read())
    body = json.dumps({{"echo": event}}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
"""


def test_custom_runtime_runs_through_the_same_pools(host: Host) -> None:
    import sys

    code = host.code("", name="custom")
    bootstrap = code / "bootstrap"
    bootstrap.write_text(BOOTSTRAP.format(python=sys.executable))
    bootstrap.chmod(0o755)
    spec = host.spec(code, "custom", runtime="provided.al2023", handler="unused")
    spec["env"]["PATH"] = "/usr/bin:/bin"

    async def scenario(client: Client) -> Any:
        return [await client.invoke(spec, {"n": i}) for i in range(2)]

    first, second = host.run(scenario)
    assert first.status == "ok", first.body
    assert first.json() == {"echo": {"n": 0}} and second.json() == {"echo": {"n": 1}}
    assert first.header["cold"] is True and second.header["cold"] is False
    assert "Init Duration" in first.log_tail
