"""Function URLs and Code.Location downloads against a real server, called with plain httpx."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .fnutil import ACCOUNT, create_function, handler_zip, lambda_client, unique_name
from .helpers import REGION

pytestmark = pytest.mark.e2e

ECHO = """
import base64, json

TAG = {tag!r}

def handler(event, context):
    mode = (event.get("queryStringParameters") or {{}}).get("mode")
    if mode == "raise":
        raise ValueError("boom")
    if mode == "status":
        return {{"statusCode": 201, "headers": {{"X-Made": "yes", "Content-Type": "text/plain"}},
                "cookies": ["session=abc; Path=/", "theme=dark"], "body": "created"}}
    if mode == "binary":
        return {{"statusCode": 200, "headers": {{"content-type": "image/png"}},
                "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode(), "isBase64Encoded": True}}
    if mode == "list":
        return [1, "two", None]
    return {{"tag": TAG, "version": context.function_version, "event": event}}
"""


def echo(tag: str = "one") -> str:
    return ECHO.format(tag=tag)


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def public_url(lam) -> str:
    """One function with an AuthType NONE URL, shared by the mapping tests."""
    name = unique_name("url")
    create_function(lam, name, echo())
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    return created["FunctionUrl"]


def _event(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["event"]


# ---------------------------------------------------------------- request → event


def test_get_with_query_and_cookies_reaches_the_handler_as_a_2_0_event(http, public_url, server):
    before = time.time()
    response = http.get(
        public_url + "some/path%20x?x=1&x=2&y=z%20w",
        headers={"Cookie": "c1=v1; c2=v2", "X-Custom": "hello", "User-Agent": "bayou-test/1"},
    )
    event = _event(response)
    assert response.headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path%20x"
    assert event["rawQueryString"] == "x=1&x=2&y=z%20w"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "z w"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "hello"
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False and "body" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == "anonymous" and "authorizer" not in ctx
    assert ctx["stage"] == "$default" and ctx["routeKey"] == "$default"
    assert ctx["domainName"] == server.address
    assert len(ctx["apiId"]) == 32
    assert ctx["http"] == {
        "method": "GET", "path": "/some/path x", "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1", "userAgent": "bayou-test/1",
    }
    assert before - 1 <= ctx["timeEpoch"] / 1000 <= time.time() + 1


def test_url_without_trailing_path(http, public_url):
    event = _event(http.get(public_url.rstrip("/")))
    assert event["rawPath"] == "/" and event["rawQueryString"] == ""
    assert "queryStringParameters" not in event and "cookies" not in event


def test_post_binary_body_is_base64(http, public_url):
    data = bytes(range(256)) * 4
    event = _event(http.post(public_url + "upload", content=data, headers={"Content-Type": "application/octet-stream"}))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    assert event["requestContext"]["http"]["method"] == "POST"


def test_post_json_body_is_text(http, public_url):
    event = _event(http.post(public_url, json={"k": "v\u00e9"}))
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"k": "v\u00e9"}


def test_body_over_6_mb_is_413(http, public_url):
    response = http.post(public_url, content=b"x" * (6 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json() == {"Message": "Request Entity Too Large"}


# ---------------------------------------------------------------- result → response


def test_status_code_result_is_mapped(http, public_url):
    response = http.get(public_url, params={"mode": "status"})
    assert response.status_code == 201
    assert response.text == "created"
    assert response.headers["x-made"] == "yes"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers.get_list("set-cookie") == ["session=abc; Path=/", "theme=dark"]


def test_base64_result_is_decoded(http, public_url):
    response = http.get(public_url, params={"mode": "binary"})
    assert response.status_code == 200
    assert response.content == b"\x89PNG\x00\xff"
    assert response.headers["content-type"] == "image/png"


def test_plain_values_are_200_json(http, public_url):
    response = http.get(public_url, params={"mode": "list"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [1, "two", None]


def test_function_error_is_502(http, public_url):
    response = http.get(public_url, params={"mode": "raise"})
    assert response.status_code == 502
    assert response.json() == {"Message": "Internal Server Error"}


# ---------------------------------------------------------------- which URLs exist


def test_unknown_urls_are_403(http, lam, server, public_url):
    no_config = unique_name("nourl")
    create_function(lam, no_config, echo())
    for url in (
        f"{server.endpoint}/_bayou/fn-url/{unique_name('missing')}/",
        f"{server.endpoint}/_bayou/fn-url/{no_config}/",
        f"{server.endpoint}/_bayou/fn-url/{no_config}:live/",
        public_url.rstrip("/") + ":nope/",
        f"{server.endpoint}/_bayou/fn-url/",
    ):
        response = http.get(url)
        assert response.status_code == 403, url
        assert response.json() == {"Message": "Forbidden"}


def test_deleted_url_config_stops_serving(http, lam):
    name = unique_name("del")
    create_function(lam, name, echo())
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert http.get(url).status_code == 200
    lam.delete_function_url_config(FunctionName=name)
    assert http.get(url).status_code == 403


def test_qualified_url_runs_the_alias_version(http, lam):
    name = unique_name("alias")
    create_function(lam, name, echo("first"))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=handler_zip(echo("second")))
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    latest = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert live.endswith(f"/_bayou/fn-url/{name}:live/")
    got = http.get(live + "p").json()
    assert (got["tag"], got["version"]) == ("first", "1")
    assert got["event"]["rawPath"] == "/p"
    got = http.get(latest).json()
    assert (got["tag"], got["version"]) == ("second", "$LATEST")
    assert got["event"]["requestContext"]["apiId"] != http.get(live).json()["event"]["requestContext"]["apiId"]


# ---------------------------------------------------------------- AWS_IAM


def _signed(method: str, url: str, access_key: str, secret_key: str, body: bytes = b"", **headers: str):
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key), "lambda", REGION).add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def iam_url(lam) -> str:
    name = unique_name("iam")
    create_function(lam, name, echo())
    return lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]


def test_iam_url_refuses_unsigned_requests(http, iam_url):
    response = http.get(iam_url)
    assert response.status_code == 403
    assert response.json() == {"Message": "Forbidden"}


def test_iam_url_accepts_sigv4_for_lambda(http, iam_url, server):
    url = iam_url + "signed/path?a=1"
    headers = _signed("GET", url, server.access_key, server.secret_key)
    event = _event(http.get(url, headers=headers))
    ctx = event["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["authorizer"]["iam"]["accessKey"] == server.access_key
    assert event["rawPath"] == "/signed/path" and event["queryStringParameters"] == {"a": "1"}


def test_iam_url_signed_post_body_is_checked(http, iam_url, server):
    body = b'{"signed": true}'
    headers = _signed("POST", iam_url, server.access_key, server.secret_key, body, **{"Content-Type": "application/json"})
    event = _event(http.post(iam_url, content=body, headers=headers))
    assert json.loads(event["body"]) == {"signed": True}
    tampered = http.post(iam_url, content=b'{"signed": false}', headers=headers)
    assert tampered.status_code == 403


def test_iam_url_refuses_bad_signatures(http, iam_url, server):
    wrong_secret = _signed("GET", iam_url, server.access_key, "not-the-secret")
    assert http.get(iam_url, headers=wrong_secret).status_code == 403
    s3_scope = AWSRequest(method="GET", url=iam_url, headers={})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(s3_scope)
    assert http.get(iam_url, headers=dict(s3_scope.headers.items())).status_code == 403


# ---------------------------------------------------------------- CORS


@pytest.fixture(scope="module")
def cors_url(lam) -> str:
    name = unique_name("cors")
    create_function(lam, name, echo())
    cors = {
        "AllowOrigins": ["https://app.example.com"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "x-custom"],
        "ExposeHeaders": ["x-made"],
        "MaxAge": 600,
        "AllowCredentials": True,
    }
    return lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)["FunctionUrl"]


def test_cors_preflight_is_answered_from_the_config(http, cors_url):
    response = http.options(cors_url, headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })
    assert response.status_code == 200 and response.content == b""
    h = response.headers
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert h["access-control-allow-methods"] == "GET, POST"
    assert h["access-control-allow-headers"] == "content-type, x-custom"
    assert h["access-control-max-age"] == "600"
    assert h["access-control-allow-credentials"] == "true"


def test_cors_preflight_from_another_origin_gets_no_grant(http, cors_url):
    response = http.options(cors_url, headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST",
    })
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_actual_requests(http, cors_url):
    response = http.get(cors_url, params={"mode": "status"}, headers={"Origin": "https://app.example.com"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-expose-headers"] == "x-made"
    plain = http.get(cors_url, params={"mode": "status"})
    assert "access-control-allow-origin" not in plain.headers


# ---------------------------------------------------------------- Code.Location


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_code_location_downloads_the_zip(http, lam, server):
    name = unique_name("code")
    first = handler_zip(echo("first"))
    create_function(lam, name, first)
    lam.publish_version(FunctionName=name)
    second = handler_zip(echo("second"))
    lam.update_function_code(FunctionName=name, ZipFile=second)

    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert location.startswith(f"{server.endpoint}/_bayou/fn-code/{name}?")
    response = http.get(location)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.content == second

    versioned = lam.get_function(FunctionName=name, Qualifier="1")["Code"]["Location"]
    assert http.get(versioned).content == first


def test_code_location_refuses_tampered_links(http, lam):
    name = unique_name("tamper")
    create_function(lam, name, echo())
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert http.get(location).status_code == 200  # control
    query = dict(parse_qsl(urlsplit(location).query))
    signature = query["Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    for bad in (
        _with_query(location, Signature=flipped),
        _with_query(location, Expires=str(int(query["Expires"]) + 3600)),
        _with_query(location, Qualifier="1"),
        _with_query(location, Expires=str(int(time.time()) - 10)),
        location.split("&Signature=")[0],
        location.replace(f"/fn-code/{name}?", f"/fn-code/{name}x?"),
    ):
        response = http.get(bad)
        assert response.status_code == 403, bad
        assert "<Code>AccessDenied</Code>" in response.text


def test_code_location_stops_working_when_latest_code_changes(http, lam):
    name = unique_name("stale")
    create_function(lam, name, echo("a"))
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    lam.update_function_code(FunctionName=name, ZipFile=handler_zip(echo("b")))
    assert http.get(location).status_code == 403
