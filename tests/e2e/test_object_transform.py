"""Object transforms (S3 Object Lambda's shape) through a real server: GetObject with
`?x-bayou-transform=<function>` runs the function and answers with what it wrote or returned."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .fnutil import create_function, function_arn, lambda_client, unique_name
from .helpers import BayouServer, assert_xml_error, err, unique_bucket

pytestmark = pytest.mark.e2e

PARAM = "x-bayou-transform"

UPPER = """
import urllib.request
import boto3

s3 = boto3.client("s3")  # default config; the function sets AWS_DISABLE_HOST_PREFIX_INJECTION

def handler(event, context):
    ctx = event["getObjectContext"]
    with urllib.request.urlopen(ctx["inputS3Url"]) as resp:
        original = resp.read()
    s3.write_get_object_response(Body=original.upper(), RequestRoute=ctx["outputRoute"],
                                 RequestToken=ctx["outputToken"], StatusCode=200, ContentType="text/x-upper",
                                 Metadata={"transformed": "yes"})
    return {"status_code": 200}
"""

UPPER_NO_PREFIX = """
import urllib.request
import boto3
from botocore.config import Config

s3 = boto3.client("s3", config=Config(inject_host_prefix=False))

def handler(event, context):
    ctx = event["getObjectContext"]
    original = urllib.request.urlopen(ctx["inputS3Url"]).read()
    if original == b"deny":
        s3.write_get_object_response(RequestRoute=ctx["outputRoute"], RequestToken=ctx["outputToken"],
                                     StatusCode=403, ErrorCode="NoTransformForYou", ErrorMessage="denied")
        return
    s3.write_get_object_response(Body=original * 3, RequestRoute=ctx["outputRoute"],
                                 RequestToken=ctx["outputToken"])
"""

RETURNS = """
import base64, json, urllib.request

def handler(event, context):
    if event["userRequest"]["headers"].get("x-mode") == "event":
        return json.dumps(event)
    if event["userRequest"]["headers"].get("x-mode") == "fail":
        raise ValueError("boom")
    original = urllib.request.urlopen(event["getObjectContext"]["inputS3Url"]).read()
    return {"statusCode": 200, "headers": {"Content-Type": "application/x-reversed", "x-amz-meta-n": "1"},
            "body": base64.b64encode(original[::-1]).decode(), "isBase64Encoded": True}
"""


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def functions(lam) -> dict[str, str]:
    names = {"upper": unique_name("up"), "triple": unique_name("tri"), "returns": unique_name("ret")}
    create_function(lam, names["upper"], UPPER, Timeout=30,
                    Environment={"Variables": {"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}})
    create_function(lam, names["triple"], UPPER_NO_PREFIX, Timeout=30)
    create_function(lam, names["returns"], RETURNS, Timeout=30)
    return names


@pytest.fixture(scope="module")
def src(server) -> str:
    s3 = server.client()
    name = unique_bucket("xf")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="dir/hello world.txt", Body=b"hello, transform", ContentType="text/plain")
    s3.put_object(Bucket=name, Key="deny", Body=b"deny")
    return name


def transformed(s3, function: str):
    """A client whose GetObject calls carry ?x-bayou-transform=<function> (signed like any parameter)."""

    def add(request, **kwargs):
        sep = "&" if "?" in request.url else "?"
        request.url += f"{sep}{PARAM}={function}"

    s3.meta.events.register("before-sign.s3.GetObject", add)
    return s3


def test_write_get_object_response_with_default_boto3(server, src, functions):
    s3 = transformed(server.client(), functions["upper"])
    got = s3.get_object(Bucket=src, Key="dir/hello world.txt")
    assert got["Body"].read() == b"HELLO, TRANSFORM"
    assert got["ContentType"] == "text/x-upper"
    assert got["Metadata"] == {"transformed": "yes"}


def test_write_get_object_response_without_host_prefix(server, src, functions):
    s3 = transformed(server.client(), function_arn(functions["triple"], "$LATEST"))
    assert s3.get_object(Bucket=src, Key="dir/hello world.txt")["Body"].read() == b"hello, transform" * 3
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=src, Key="deny")
    assert err(exc.value) == ("NoTransformForYou", 403)


def test_returned_body(server, src, functions):
    s3 = transformed(server.client(), functions["returns"])
    got = s3.get_object(Bucket=src, Key="dir/hello world.txt")
    assert got["Body"].read() == b"mrofsnart ,olleh"
    assert got["ContentType"] == "application/x-reversed" and got["Metadata"] == {"n": "1"}


def test_event_shape(server, src, functions):
    s3 = transformed(server.client(), functions["returns"])
    s3.meta.events.register("before-sign.s3.GetObject", lambda request, **kw: request.headers.add_header("x-mode", "event"))
    event = json.loads(s3.get_object(Bucket=src, Key="dir/hello world.txt")["Body"].read())
    ctx = event["getObjectContext"]
    assert set(ctx) == {"inputS3Url", "outputRoute", "outputToken"}
    query = parse_qs(urlsplit(ctx["inputS3Url"]).query)
    assert PARAM not in query and query["X-Amz-Expires"] == ["60"]
    assert urlsplit(ctx["inputS3Url"]).path == f"/{src}/dir/hello%20world.txt"
    assert httpx.get(ctx["inputS3Url"]).content == b"hello, transform"
    assert event["protocolVersion"] == "1.00" and event["configuration"]["payload"] == ""
    assert f"{PARAM}={functions['returns']}" in event["userRequest"]["url"]
    assert event["userRequest"]["headers"]["x-mode"] == "event"
    assert "authorization" not in event["userRequest"]["headers"]
    assert event["userIdentity"]["accessKeyId"] == server.access_key and event["xAmzRequestId"]


def test_presigned_get_with_transform(server, src, functions):
    s3 = transformed(server.client(), functions["upper"])
    url = s3.generate_presigned_url("get_object", Params={"Bucket": src, "Key": "dir/hello world.txt"}, ExpiresIn=60)
    assert f"{PARAM}=" in url
    resp = httpx.get(url)
    assert resp.status_code == 200 and resp.content == b"HELLO, TRANSFORM"


def test_errors(server, src, functions):
    with pytest.raises(ClientError) as exc:
        transformed(server.client(), "no-such-transform").get_object(Bucket=src, Key="dir/hello world.txt")
    assert err(exc.value) == ("LambdaNotFound", 404)
    with pytest.raises(ClientError) as exc:
        transformed(server.client(), functions["upper"]).get_object(Bucket=src, Key="missing")
    assert err(exc.value) == ("NoSuchKey", 404)
    failing = transformed(server.client(), functions["returns"])
    failing.meta.events.register("before-sign.s3.GetObject", lambda request, **kw: request.headers.add_header("x-mode", "fail"))
    with pytest.raises(ClientError) as exc:
        failing.get_object(Bucket=src, Key="dir/hello world.txt")
    assert err(exc.value)[1] == 500 and err(exc.value)[0] == "LambdaRuntimeError"
    assert "boom" in exc.value.response["Error"]["Message"]
    bad = httpx.get(f"{server.endpoint}/{src}/deny?{PARAM}=x")  # unsigned: refused before any function runs
    assert_xml_error(bad, 403, "AccessDenied")


def test_large_body_streams_through(server, src, functions):
    s3 = server.client()
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    s3.put_object(Bucket=src, Key="big.bin", Body=data)
    got = transformed(server.client(), functions["triple"]).get_object(Bucket=src, Key="big.bin")
    assert got["ContentLength"] == 3 * len(data)
    assert got["Body"].read() == data * 3


# --- several workers: the WriteGetObjectResponse may reach a worker that does not hold the GET ----------

FRESH = """
import urllib.request
import boto3
from botocore.config import Config

def client():  # a new connection each time: any worker may accept it
    return boto3.session.Session().client("s3", config=Config(inject_host_prefix=False))

def handler(event, context):
    ctx = event["getObjectContext"]
    route, token = ctx["outputRoute"], ctx["outputToken"]
    original = urllib.request.urlopen(ctx["inputS3Url"]).read()
    client().write_get_object_response(Body=original * 3, RequestRoute=route, RequestToken=token,
                                       Metadata={"route": route})
    try:
        client().write_get_object_response(Body=b"again", RequestRoute=route, RequestToken=token)
        second = "accepted"
    except Exception as exc:
        second = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
    bucket = event["configuration"]["supportingAccessPointArn"].rsplit("/", 1)[1]
    client().put_object(Bucket=bucket, Key=f"second/{route}", Body=second.encode())
"""


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    server = BayouServer(tmp_path_factory.mktemp("xf-workers") / "data", extra_args=("--workers", "2"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fresh(two_workers) -> tuple[str, str]:
    """(function, bucket) on the two-worker server."""
    name = unique_name("fresh")
    create_function(lambda_client(two_workers), name, FRESH, Timeout=60)
    bucket = unique_bucket("xfw")
    two_workers.client().create_bucket(Bucket=bucket)
    return name, bucket


def test_workers_many_transformed_gets(two_workers, fresh):
    function, bucket = fresh
    s3 = two_workers.client()
    s3.put_object(Bucket=bucket, Key="small", Body=b"abc")
    routes = set()
    for _ in range(20):
        got = transformed(two_workers.client(), function).get_object(Bucket=bucket, Key="small")
        assert got["Body"].read() == b"abcabcabc"
        route = got["Metadata"]["route"]
        routes.add(route)
    assert len(routes) == 20
    for route in routes:  # the function stores its second attempt's answer after the GET has ended
        assert _eventually(s3, bucket, f"second/{route}") == b"InvalidRequestToken"


def test_workers_large_body(two_workers, fresh):
    function, bucket = fresh
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB, 9 MiB transformed
    two_workers.client().put_object(Bucket=bucket, Key="big.bin", Body=data)
    for _ in range(4):
        got = transformed(two_workers.client(), function).get_object(Bucket=bucket, Key="big.bin")
        assert got["ContentLength"] == 3 * len(data)
        assert got["Body"].read() == data * 3


def _eventually(s3, bucket: str, key: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("route", ["io-1-00000000", "io-4194999-00000000", "io-0x1f-0", "nothing"])
def test_workers_unknown_route_or_token(two_workers, route):
    s3 = two_workers.client(Config(inject_host_prefix=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        s3.write_get_object_response(Body=b"x", RequestRoute=route, RequestToken="not-a-token")
    assert err(exc.value) == ("InvalidRequestToken", 400)
