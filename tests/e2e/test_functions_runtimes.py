"""Runtimes through a real `bayou server`: custom runtimes (`provided.al2023`) driven by AWS's own
Python runtime interface client and by a hand-written Node.js bootstrap over the Runtime API, and a
Python handler that reaches Bayou with boto3's defaults (the endpoint and keys come from the
environment Bayou sets up, as on Lambda).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import textwrap
import time
import uuid
import zipfile

import pytest

from .fnutil import create_function, invoke_json, lambda_client, unique_name
from .helpers import unique_bucket

PROVIDED = "provided.al2023"


def zip_with_bootstrap(bootstrap: str, files: dict[str, str]) -> bytes:
    """A zip whose `bootstrap` is executable (mode bits in external_attr, as `zip` stores them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = (0o100755 << 16)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, textwrap.dedent(bootstrap).lstrip())
        for path, src in files.items():
            zf.writestr(path, textwrap.dedent(src))
    return buf.getvalue()


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


# ---------------------------------------------------------------- awslambdaric (provided.al2023)

RIC_BOOTSTRAP = f"""
#!/bin/sh
exec {sys.executable} -m awslambdaric app.handler
"""

RIC_APP = """
import os

calls = 0

def handler(event, context):
    global calls
    calls += 1
    if event.get("fail"):
        raise ValueError("ric failure " + str(event["fail"]))
    return {
        "calls": calls,
        "pid": os.getpid(),
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "cwd": os.getcwd(),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
    }
"""


def test_provided_runtime_with_awslambdaric(lam):
    name = unique_name("ric")
    create_function(lam, name, zip_with_bootstrap(RIC_BOOTSTRAP, {"app.py": RIC_APP}),
                    Runtime=PROVIDED, handler="app.handler", Timeout=10)
    event = {"k": "v", "n": [1, 2, 3], "u": "\u00e9\u2603"}

    first, resp = invoke_json(lam, name, event)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, first
    assert first["event"] == event
    assert first["calls"] == 1
    assert first["request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert first["function_name"] == name
    assert 0 < first["remaining_ms"] <= 10_000
    assert first["cwd"] == first["task_root"], first

    error, resp = invoke_json(lam, name, {"fail": 7})
    assert resp["StatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled", (resp, error)
    assert error["errorType"] == "ValueError", error
    assert error["errorMessage"] == "ric failure 7", error
    assert isinstance(error.get("stackTrace"), list), error

    # warm: the same process, its module state intact after the handled exception
    third, resp = invoke_json(lam, name, {"again": True})
    assert "FunctionError" not in resp, third
    assert third["calls"] == 3 and third["pid"] == first["pid"], (first, third)


# ---------------------------------------------------------------- Node.js bootstrap

NODE_BOOTSTRAP = """
#!/usr/bin/env node
const http = require("http");
const api = process.env.AWS_LAMBDA_RUNTIME_API;
let calls = 0;

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(":");
    const req = http.request({ host, port, method, path: "/2018-06-01/runtime/" + path,
                               headers: body ? { "Content-Type": "application/json" } : {} }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, status: res.statusCode,
                                    body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

(async () => {
  for (;;) {
    const next = await request("GET", "invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    const event = JSON.parse(next.body);
    calls += 1;
    if (event.hang) continue;  // never answers: the host's deadline must end it
    if (event.exit) process.exit(event.exit);
    if (event.alloc) { const b = Buffer.alloc(event.alloc * 1024 * 1024, 1); calls += b[0] - 1; }
    if (event.fail) {
      await request("POST", `invocation/${id}/error`,
                    JSON.stringify({ errorMessage: "node failure", errorType: "NodeError", stackTrace: [] }));
      continue;
    }
    const result = { runtime: "node", version: process.version, calls, pid: process.pid, event, requestId: id,
                     arn: next.headers["lambda-runtime-invoked-function-arn"],
                     deadline: Number(next.headers["lambda-runtime-deadline-ms"]) };
    await request("POST", `invocation/${id}/response`, JSON.stringify(result));
  }
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_provided_runtime_with_a_nodejs_bootstrap(lam):
    name = unique_name("node")
    create_function(lam, name, zip_with_bootstrap(NODE_BOOTSTRAP, {}), Runtime=PROVIDED,
                    handler="unused", Timeout=10)
    event = {"hello": "node", "n": 1}

    first, resp = invoke_json(lam, name, event)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, first
    assert first["runtime"] == "node" and first["version"].startswith("v")
    assert first["event"] == event
    assert first["requestId"] == resp["ResponseMetadata"]["RequestId"]
    assert first["arn"].endswith(f":function:{name}"), first
    assert first["deadline"] > 0

    error, resp = invoke_json(lam, name, {"fail": True})
    assert resp.get("FunctionError") == "Unhandled", (resp, error)
    assert error["errorType"] == "NodeError" and error["errorMessage"] == "node failure", error

    third, resp = invoke_json(lam, name, {"n": 3})
    assert "FunctionError" not in resp, third
    assert third["calls"] == 3 and third["pid"] == first["pid"], (first, third)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_custom_runtime_limits_timeout_memory_exit(lam):
    """Limits hold for spawned bootstraps too: each failure is Unhandled and the next call works."""
    name = unique_name("nlim")
    create_function(lam, name, zip_with_bootstrap(NODE_BOOTSTRAP, {}), Runtime=PROVIDED,
                    handler="unused", Timeout=1, MemorySize=128)
    first, _ = invoke_json(lam, name, {})

    started = time.monotonic()
    result, resp = invoke_json(lam, name, {"hang": True})
    assert time.monotonic() - started < 3.5
    assert resp.get("FunctionError") == "Unhandled", result
    assert "Task timed out after 1.00 seconds" in result["errorMessage"], result
    after_timeout, resp = invoke_json(lam, name, {})
    assert "FunctionError" not in resp and after_timeout["pid"] != first["pid"], after_timeout

    result, resp = invoke_json(lam, name, {"exit": 5})
    assert resp.get("FunctionError") == "Unhandled", result
    assert result["errorType"] == "Runtime.ExitError", result
    assert "exit status 5" in result["errorMessage"], result
    assert "FunctionError" not in invoke_json(lam, name, {})[1]

    result, resp = invoke_json(lam, name, {"alloc": 600})
    assert resp.get("FunctionError") == "Unhandled", result
    assert result["errorType"] == "Runtime.OutOfMemory", result
    after_oom, resp = invoke_json(lam, name, {})
    assert "FunctionError" not in resp, after_oom


# ---------------------------------------------------------------- boto3 inside a handler

BOTO3_APP = """
import os
import boto3

s3 = boto3.client("s3")  # no endpoint, no keys: Lambda's environment provides them

def handler(event, context):
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
    got = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read().decode()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=event["bucket"]).get("Contents", [])]
    return {"got": got, "keys": keys}
"""


def test_boto3_in_a_handler_talks_to_bayou(lam, s3):
    bucket = unique_bucket("fnb3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="seed", Body=b"from the test")
    name = unique_name("b3")
    create_function(lam, name, BOTO3_APP, Timeout=15)
    body = f"written by a function {uuid.uuid4()} \u2603"

    result, resp = invoke_json(lam, name, {"bucket": bucket, "key": "out/result.txt", "body": body})
    assert "FunctionError" not in resp, result
    assert result["got"] == body
    assert sorted(result["keys"]) == ["out/result.txt", "seed"]
    assert s3.get_object(Bucket=bucket, Key="out/result.txt")["Body"].read().decode() == body

    # warm invocation reuses the module-level client
    result, resp = invoke_json(lam, name, {"bucket": bucket, "key": "out/second.txt", "body": json.dumps([1, 2])})
    assert "FunctionError" not in resp, result
    assert sorted(result["keys"]) == ["out/result.txt", "out/second.txt", "seed"]
