"""Invoke on the S3 port: invocation types, qualifiers, logs, errors, context and environment, limits."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .fnutil import (
    create_function,
    function_arn,
    invoke_json,
    lambda_client,
    lambda_err,
    unique_name,
    wait_for,
)
from .helpers import REGION, object_exists, unique_bucket

pytestmark = pytest.mark.e2e

CTX = """
import os

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("handler saw", json_dumps(event))
    cc = context.client_context
    return {
        "count": COUNT,
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "client_custom": getattr(cc, "custom", None) if cc else None,
        "client_env": getattr(cc, "env", None) if cc else None,
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "GREETING")},
        "cwd": os.getcwd(),
    }

def json_dumps(value):
    import json
    return json.dumps(value, sort_keys=True)
"""

WRITER = """
import boto3

def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=context.aws_request_id.encode())
    return {"wrote": event["key"]}
"""

BOOM = """
def helper():
    raise ValueError("kaboom: " + "x")

def handler(event, context):
    print("about to fail")
    helper()
"""

SIZER = """
def handler(event, context):
    return {"len": len(event["data"])}
"""

LOGGER = """
import sys

def handler(event, context):
    line = "L" * 1023 + "\\n"
    block = line * 1024
    for _ in range(event["mib"]):
        sys.stdout.write(block)
    sys.stdout.flush()
    return {"printed_mib": event["mib"]}
"""

TIMEOUT = 12
MEMORY = 256


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def lam_once(server):
    return lambda_client(server, Config(retries={"max_attempts": 1}, read_timeout=120))


@pytest.fixture(scope="module")
def ctx_fn(lam):
    """Versions 1 and 2 (2 has GREETING), alias `live` → 2."""
    name = unique_name("ctx")
    create_function(lam, name, CTX, Timeout=TIMEOUT, MemorySize=MEMORY, Publish=True)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "v2"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    return name


@pytest.fixture(scope="module")
def writer_fn(lam):
    name = unique_name("writer")
    create_function(lam, name, WRITER, Timeout=30)
    return name


@pytest.fixture(scope="module")
def target_bucket(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------- invocation types


def test_request_response_result(lam, ctx_fn):
    resp = lam.invoke(FunctionName=ctx_fn, Payload=json.dumps({"hello": ["world", 1]}))
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("application/json")
    body = json.loads(resp["Payload"].read())
    assert body["event"] == {"hello": ["world", 1]}
    assert body["function_name"] == ctx_fn
    assert resp["ExecutedVersion"] == "$LATEST"


def test_event_invocation_has_effect(lam, writer_fn, target_bucket, s3):
    key = f"event/{uuid.uuid4().hex}"
    resp = lam.invoke(
        FunctionName=writer_fn, InvocationType="Event",
        Payload=json.dumps({"bucket": target_bucket, "key": key}),
    )
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    request_id = resp["ResponseMetadata"]["RequestId"]
    wait_for(lambda: object_exists(s3, target_bucket, key), timeout=30)
    assert s3.get_object(Bucket=target_bucket, Key=key)["Body"].read() == request_id.encode()


def test_sync_writer_uses_environment_credentials(lam, writer_fn, target_bucket, s3):
    key = f"sync/{uuid.uuid4().hex}"
    result, meta = invoke_json(lam, writer_fn, {"bucket": target_bucket, "key": key})
    assert "FunctionError" not in meta, result
    assert result == {"wrote": key}
    assert s3.get_object(Bucket=target_bucket, Key=key)["Body"].read() == meta["ResponseMetadata"]["RequestId"].encode()


def test_dry_run(lam, writer_fn, target_bucket, s3):
    dry_key = f"dry/{uuid.uuid4().hex}"
    resp = lam.invoke(
        FunctionName=writer_fn, InvocationType="DryRun",
        Payload=json.dumps({"bucket": target_bucket, "key": dry_key}),
    )
    assert resp["StatusCode"] == 204
    assert resp["Payload"].read() == b""
    # a real invocation afterwards runs; the dry run left nothing behind
    real_key = f"dry/{uuid.uuid4().hex}"
    invoke_json(lam, writer_fn, {"bucket": target_bucket, "key": real_key})
    assert object_exists(s3, target_bucket, real_key)
    assert not object_exists(s3, target_bucket, dry_key)
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.invoke(FunctionName=unique_name("nobody"), InvocationType="DryRun", Payload=b"{}")
    assert lambda_err(info.value) == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- qualifiers


def test_qualifier_version_and_alias(lam, ctx_fn):
    body, meta = invoke_json(lam, ctx_fn, Qualifier="1")
    assert meta["ExecutedVersion"] == "1"
    assert body["function_version"] == "1"
    assert body["invoked_function_arn"] == function_arn(ctx_fn, "1")
    assert body["env"]["GREETING"] is None

    body, meta = invoke_json(lam, ctx_fn, Qualifier="live")
    assert meta["ExecutedVersion"] == "2"
    assert meta["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "2"
    assert body["function_version"] == "2"
    assert body["invoked_function_arn"] == function_arn(ctx_fn, "live")
    assert body["env"]["GREETING"] == "v2"

    body, meta = invoke_json(lam, f"{ctx_fn}:1")
    assert meta["ExecutedVersion"] == "1"
    body, meta = invoke_json(lam, function_arn(ctx_fn, "live"))
    assert meta["ExecutedVersion"] == "2"

    for bad in ("7", "nosuchalias"):
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
            lam.invoke(FunctionName=ctx_fn, Qualifier=bad, Payload=b"{}")
        assert lambda_err(info.value) == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- logs and errors


def test_log_tail(lam, ctx_fn):
    marker = uuid.uuid4().hex
    resp = lam.invoke(FunctionName=ctx_fn, LogType="Tail", Payload=json.dumps({"marker": marker}))
    log = base64.b64decode(resp["LogResult"]).decode()
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log
    assert "Duration:" in log and f"Memory Size: {MEMORY} MB" in log
    assert f'handler saw {{"marker": "{marker}"}}' in log
    lines = log.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("START"))
    printed = next(i for i, x in enumerate(lines) if marker in x)
    end = next(i for i, x in enumerate(lines) if x.startswith("END"))
    assert start < printed < end
    assert "LogResult" not in lam.invoke(FunctionName=ctx_fn, Payload=b"{}")


def test_unhandled_exception(lam):
    name = unique_name("boom")
    create_function(lam, name, BOOM)
    resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    body = json.loads(resp["Payload"].read())
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "kaboom: x"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert any("helper" in frame for frame in body["stackTrace"])
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "about to fail" in log and "END RequestId" in log


# ---------------------------------------------------------------- context and environment


def test_context_fields(lam, ctx_fn):
    resp = lam.invoke(FunctionName=ctx_fn, Qualifier="live", Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    header_id = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body["aws_request_id"] == header_id == resp["ResponseMetadata"]["RequestId"]
    uuid.UUID(body["aws_request_id"])
    assert body["function_name"] == ctx_fn
    assert body["function_version"] == "2"
    assert body["invoked_function_arn"] == function_arn(ctx_fn, "live")
    assert body["memory_limit_in_mb"] == str(MEMORY)
    assert 0 < body["remaining_ms"] <= TIMEOUT * 1000
    assert body["remaining_ms"] > (TIMEOUT - 5) * 1000  # measured at the start of a fast handler
    assert body["log_group_name"] == f"/aws/lambda/{ctx_fn}"

    unqualified = invoke_json(lam, ctx_fn)[0]
    assert unqualified["invoked_function_arn"] == function_arn(ctx_fn)
    assert unqualified["function_version"] == "$LATEST"
    assert unqualified["aws_request_id"] != body["aws_request_id"]


def test_lambda_environment_variables(lam, ctx_fn):
    body = invoke_json(lam, ctx_fn, Qualifier="1")[0]
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == ctx_fn
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(MEMORY)
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert env["AWS_REGION"] == REGION
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"]
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"]


def test_warm_state_persists(lam):
    name = unique_name("warm")
    create_function(lam, name, CTX)
    counts = [invoke_json(lam, name)[0]["count"] for _ in range(4)]
    assert counts == [1, 2, 3, 4]


def test_client_context_round_trip(lam, ctx_fn):
    client_context = {"custom": {"user": "ada", "n": 3}, "env": {"locale": "fr_FR"}, "client": {}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    body = invoke_json(lam, ctx_fn, ClientContext=encoded)[0]
    assert body["client_custom"] == {"user": "ada", "n": 3}
    assert body["client_env"] == {"locale": "fr_FR"}
    assert invoke_json(lam, ctx_fn)[0]["client_custom"] is None


# ---------------------------------------------------------------- bad input


def test_invalid_json_payload(lam_once, ctx_fn):
    with pytest.raises(lam_once.exceptions.InvalidRequestContentException) as info:
        lam_once.invoke(FunctionName=ctx_fn, Payload=b'{"not": json')
    assert lambda_err(info.value) == ("InvalidRequestContentException", 400)


@pytest.fixture(scope="module")
def sizer_fn(lam):
    name = unique_name("sizer")
    create_function(lam, name, SIZER, Timeout=30, MemorySize=512)
    return name


def payload_of_size(size: int) -> bytes:
    """A JSON document of exactly `size` bytes: {"data": "aaaa..."}."""
    overhead = len(b'{"data": ""}')
    body = b'{"data": "' + b"a" * (size - overhead) + b'"}'
    assert len(body) == size
    return body


def test_sync_payload_over_6_mb(lam_once, sizer_fn):
    limit = 6 * 1024 * 1024
    ok = lam_once.invoke(FunctionName=sizer_fn, Payload=payload_of_size(limit))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"len": limit - len(b'{"data": ""}')}
    with pytest.raises(lam_once.exceptions.RequestTooLargeException) as info:
        lam_once.invoke(FunctionName=sizer_fn, Payload=payload_of_size(limit + 1))
    assert lambda_err(info.value) == ("RequestTooLargeException", 413)


def test_event_payload_over_1_mb(lam_once, sizer_fn):
    limit = 1024 * 1024
    ok = lam_once.invoke(FunctionName=sizer_fn, InvocationType="Event", Payload=payload_of_size(limit))
    assert ok["StatusCode"] == 202
    with pytest.raises(lam_once.exceptions.RequestTooLargeException) as info:
        lam_once.invoke(FunctionName=sizer_fn, InvocationType="Event", Payload=payload_of_size(limit + 1))
    assert lambda_err(info.value) == ("RequestTooLargeException", 413)


def test_unknown_function(lam_once):
    name = unique_name("missing")
    with pytest.raises(lam_once.exceptions.ResourceNotFoundException) as info:
        lam_once.invoke(FunctionName=name, Payload=b"{}")
    assert lambda_err(info.value) == ("ResourceNotFoundException", 404)
    assert info.value.response["Error"]["Message"]
    with pytest.raises(lam_once.exceptions.ResourceNotFoundException):
        lam_once.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    with pytest.raises(lam_once.exceptions.ResourceNotFoundException):
        lam_once.get_function(FunctionName=name)


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_30_mb_of_logs_keeps_memory_bounded(lam_once, server):
    name = unique_name("logger")
    create_function(lam_once, name, LOGGER, Timeout=120, MemorySize=256)
    warm = lam_once.invoke(FunctionName=name, Payload=json.dumps({"mib": 1}))
    assert json.loads(warm["Payload"].read()) == {"printed_mib": 1}
    disk_before = tree_bytes(server.data_dir)
    before = server.rss_bytes()
    resp = lam_once.invoke(FunctionName=name, Payload=json.dumps({"mib": 30}), LogType="Tail")
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == {"printed_mib": 30}
    log = base64.b64decode(resp["LogResult"])
    assert len(log) <= 4096
    assert b"REPORT RequestId" in log
    after = server.rss_bytes()
    assert after - before <= 64 * 1024 * 1024, (before, after)
    # logs on disk are bounded too (per-invocation cap and rotation), not 30 MB more
    assert tree_bytes(server.data_dir) - disk_before <= 8 * 1024 * 1024
    # the server is still healthy and the environment still serves
    again = lam_once.invoke(FunctionName=name, Payload=json.dumps({"mib": 0}))
    assert json.loads(again["Payload"].read()) == {"printed_mib": 0}


def test_bad_qualifier_and_mismatched_arn(lam_once, ctx_fn):
    with pytest.raises(ClientError) as info:
        lam_once.invoke(FunctionName=f"{ctx_fn}:1", Qualifier="2", Payload=b"{}")
    assert lambda_err(info.value) == ("InvalidParameterValueException", 400)
