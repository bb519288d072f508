"""Shared helpers for the function end-to-end tests: zips, a Lambda client, waiting.

Kept small and stable: other test modules import it.
"""

from __future__ import annotations

import io
import json
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import REGION, BayouServer

RUNTIME = "python3.11"
ACCOUNT = "000000000000"


def make_zip(files: Mapping[str, str | bytes], *, dedent: bool = True) -> bytes:
    """A deflated zip from {path: source}; str sources are dedented (write them indented in tests)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, src in files.items():
            data = src if isinstance(src, bytes) else (textwrap.dedent(src) if dedent else src).encode()
            zf.writestr(path, data)
    return buf.getvalue()


def handler_zip(source: str, module: str = "app") -> bytes:
    """A zip with one module `<module>.py` holding `source`."""
    return make_zip({f"{module}.py": source})


def lambda_client(server: BayouServer, config: Config | None = None, **kw: Any):
    """boto3's `lambda` client pointed at the server (default config unless given)."""
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=kw.pop("endpoint", server.endpoint),
        aws_access_key_id=kw.pop("access_key", server.access_key),
        aws_secret_access_key=kw.pop("secret_key", server.secret_key),
        region_name=kw.pop("region", REGION),
        config=config,
        **kw,
    )


def unique_name(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def function_arn(name: str, qualifier: str | None = None, region: str = REGION) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def create_function(lam, name: str, source: str | bytes, *, handler: str = "app.handler", **kw: Any) -> dict:
    """CreateFunction from handler source (str → app.py) or a ready zip (bytes); waits until Active."""
    code = source if isinstance(source, bytes) else handler_zip(source)
    kw.setdefault("Role", f"arn:aws:iam::{ACCOUNT}:role/bayou-test")
    resp = lam.create_function(
        FunctionName=name, Runtime=kw.pop("Runtime", RUNTIME), Handler=handler, Code={"ZipFile": code}, **kw
    )
    wait_active(lam, name)
    return resp


def wait_active(lam, name: str, qualifier: str | None = None, timeout: float = 30.0) -> dict:
    """Poll GetFunctionConfiguration until State is Active and LastUpdateStatus is not InProgress."""
    deadline = time.monotonic() + timeout
    kw = {"Qualifier": qualifier} if qualifier else {}
    while True:
        cfg = lam.get_function_configuration(FunctionName=name, **kw)
        if cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") != "InProgress":
            return cfg
        if cfg.get("State") == "Failed" or time.monotonic() > deadline:
            raise AssertionError(f"function {name} not active: {cfg}")
        time.sleep(0.1)


def invoke_json(lam, name: str, payload: Any = None, **kw: Any) -> tuple[Any, dict]:
    """Invoke synchronously; returns (decoded JSON result, raw response without the stream)."""
    body = json.dumps({} if payload is None else payload)
    resp = lam.invoke(FunctionName=name, Payload=body, **kw)
    raw = resp.pop("Payload").read()
    resp["RawPayload"] = raw
    return (json.loads(raw) if raw else None), resp


def lambda_err(exc: ClientError) -> tuple[str, int]:
    """(Lambda error code, HTTP status) of a botocore ClientError."""
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
