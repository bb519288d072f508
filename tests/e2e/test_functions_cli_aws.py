"""The AWS CLI's `lambda` commands, unmodified and with default configuration, against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .fnutil import ACCOUNT, function_arn, handler_zip, lambda_client, unique_name
from .helpers import REGION

pytestmark = pytest.mark.e2e

SOURCE = """
import os

TAG = {tag!r}

def handler(event, context):
    return {{"tag": TAG, "event": event, "version": context.function_version,
             "arn": context.invoked_function_arn, "greeting": os.environ.get("GREETING")}}
"""


def aws_command() -> list[str]:
    script = Path(sys.executable).with_name("aws")
    return [str(script)] if script.exists() else [sys.executable, "-m", "awscli"]


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "HOME": str(home),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*aws_command(), "--endpoint-url", server.endpoint, "--output", "json", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, f"{cmd}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    return run


def write_zip(path: Path, tag: str) -> Path:
    path.write_bytes(handler_zip(SOURCE.format(tag=tag)))
    return path


def test_cli_function_lifecycle(aws, server, tmp_path):
    name = unique_name("cli")
    zip1 = write_zip(tmp_path / "one.zip", "one")
    created = json.loads(aws(
        "lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
        "--role", f"arn:aws:iam::{ACCOUNT}:role/cli", "--handler", "app.handler",
        "--zip-file", f"fileb://{zip1}", "--timeout", "5", "--memory-size", "192",
        "--environment", "Variables={GREETING=salut}",
    ).stdout)
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == function_arn(name)
    assert (created["Timeout"], created["MemorySize"]) == (5, 192)
    assert created["CodeSize"] == zip1.stat().st_size

    aws("lambda", "wait", "function-active-v2", "--function-name", name)

    payload = tmp_path / "in.json"
    payload.write_text(json.dumps({"from": "cli"}))
    out = tmp_path / "out.json"
    meta = json.loads(aws(
        "lambda", "invoke", "--function-name", name, "--payload", f"fileb://{payload}", str(out)
    ).stdout)
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    assert json.loads(out.read_text()) == {
        "tag": "one", "event": {"from": "cli"}, "version": "$LATEST", "arn": function_arn(name), "greeting": "salut"}

    v1 = json.loads(aws("lambda", "publish-version", "--function-name", name, "--description", "first").stdout)
    assert v1["Version"] == "1" and v1["Description"] == "first"

    zip2 = write_zip(tmp_path / "two.zip", "two")
    aws("lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{zip2}")
    aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    v2 = json.loads(aws("lambda", "publish-version", "--function-name", name).stdout)
    assert v2["Version"] == "2"

    alias = json.loads(aws(
        "lambda", "create-alias", "--function-name", name, "--name", "live", "--function-version", "1"
    ).stdout)
    assert alias["AliasArn"] == function_arn(name, "live") and alias["FunctionVersion"] == "1"

    out_alias = tmp_path / "alias.json"
    meta = json.loads(aws(
        "lambda", "invoke", "--function-name", name, "--qualifier", "live", "--payload", f"fileb://{payload}",
        str(out_alias),
    ).stdout)
    assert meta["ExecutedVersion"] == "1"
    result = json.loads(out_alias.read_text())
    assert result["tag"] == "one" and result["version"] == "1" and result["arn"] == function_arn(name, "live")

    out_latest = tmp_path / "latest.json"
    aws("lambda", "invoke", "--function-name", name, str(out_latest))
    assert json.loads(out_latest.read_text())["tag"] == "two"

    versions = json.loads(aws("lambda", "list-versions-by-function", "--function-name", name).stdout)
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1", "2"]

    # the CLI sees the same state as boto3
    assert lambda_client(server).get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"


def test_cli_invoke_log_tail_and_function_error(aws, tmp_path):
    name = unique_name("clierr")
    path = tmp_path / "err.zip"
    path.write_bytes(handler_zip("def handler(e, c):\n    print('cli-side print')\n    raise KeyError('nope')\n"))
    aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
        "--role", f"arn:aws:iam::{ACCOUNT}:role/cli", "--handler", "app.handler", "--zip-file", f"fileb://{path}")
    aws("lambda", "wait", "function-active-v2", "--function-name", name)
    out = tmp_path / "err.json"
    meta = json.loads(aws("lambda", "invoke", "--function-name", name, "--log-type", "Tail", str(out)).stdout)
    assert meta["FunctionError"] == "Unhandled"
    import base64

    log = base64.b64decode(meta["LogResult"]).decode()
    assert "cli-side print" in log and "REPORT RequestId" in log
    body = json.loads(out.read_text())
    assert body["errorType"] == "KeyError"


def test_cli_errors(aws, tmp_path):
    missing = aws("lambda", "get-function", "--function-name", unique_name("nope"), check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr

    name = unique_name("clidup")
    path = write_zip(tmp_path / "dup.zip", "dup")
    args = ("lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
            "--role", f"arn:aws:iam::{ACCOUNT}:role/cli", "--handler", "app.handler", "--zip-file", f"fileb://{path}")
    aws(*args)
    again = aws(*args, check=False)
    assert again.returncode != 0
    assert "ResourceConflictException" in again.stderr

    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    invalid = aws("lambda", "invoke", "--function-name", name, "--payload", f"fileb://{bad}",
                  str(tmp_path / "o.json"), check=False)
    assert invalid.returncode != 0
    assert "InvalidRequestContentException" in invalid.stderr
