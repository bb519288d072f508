"""Function URL mappings: request → payload 2.0 event, result → response, CORS; tables of cases."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from bayou.api.lambda_ import url_events as ev
from bayou.api.lambda_.url_events import UrlRequest

T0 = 1583348638.390  # 04/Mar/2020:19:03:58 +0000

BASE = UrlRequest(
    method="GET",
    raw_path="/my/path",
    raw_query="",
    query_pairs=(),
    headers={"host": "127.0.0.1:9000", "user-agent": "curl/8"},
    body=b"",
    source_ip="10.0.0.7",
    request_id="req-1",
    now=T0,
    api_id="abc123",
)


# --- targets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("fn/", ("fn", "", "/")),
        ("fn", ("fn", "", "/")),
        ("fn/a/b", ("fn", "", "/a/b")),
        ("fn:live/a%20b/", ("fn", "live", "/a%20b/")),
        ("fn%3Alive/x", ("fn", "live", "/x")),
        ("fn:/x", ("fn", "", "/x")),
        ("", None),
        ("/x", None),
        (":live/x", None),
    ],
)
def test_parse_target(rest: str, expected: tuple[str, str, str] | None) -> None:
    assert ev.parse_target(rest) == expected


def test_url_id_is_stable_and_per_qualifier() -> None:
    assert ev.url_id("fn", "") == ev.url_id("fn", "")
    assert ev.url_id("fn", "") != ev.url_id("fn", "live")
    assert len(ev.url_id("fn", "")) == 32


# --- request → event ------------------------------------------------------------------------------


def test_event_of_a_plain_get() -> None:
    event = ev.build_event(BASE)
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "",
        "headers": {
            "host": "127.0.0.1:9000",
            "user-agent": "curl/8",
            "x-forwarded-for": "10.0.0.7",
            "x-forwarded-proto": "http",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "127.0.0.1:9000",
            "domainPrefix": "127",
            "http": {
                "method": "GET",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("changes", "path", "value"),
    [
        ({"raw_query": "a=1&a=2&b=x%20y", "query_pairs": (("a", "1"), ("a", "2"), ("b", "x y"))},
         ("queryStringParameters",), {"a": "1,2", "b": "x y"}),
        ({"raw_query": "a=1&a=2"}, ("rawQueryString",), "a=1&a=2"),
        ({"headers": {"host": "h", "cookie": "a=1; b=2;c=3"}}, ("cookies",), ["a=1", "b=2", "c=3"]),
        ({"headers": {"host": "h", "cookie": "a=1"}}, ("headers", "cookie"), KeyError),
        ({"headers": {"host": "h", "x-dup": "1,2"}}, ("headers", "x-dup"), "1,2"),
        ({"headers": {"host": "h", "x-forwarded-for": "1.2.3.4"}}, ("headers", "x-forwarded-for"), "1.2.3.4"),
        ({"headers": {"host": "abc.lambda-url.example.com"}}, ("requestContext", "domainPrefix"), "abc"),
        ({"raw_path": "/a%20b/%E2%9C%93"}, ("rawPath",), "/a%20b/%E2%9C%93"),
        ({"raw_path": "/a%20b/%E2%9C%93"}, ("requestContext", "http", "path"), "/a b/\u2713"),
        ({"method": "DELETE"}, ("requestContext", "http", "method"), "DELETE"),
        ({"headers": {"host": "h"}}, ("requestContext", "http", "userAgent"), ""),
        ({}, ("queryStringParameters",), KeyError),
        ({}, ("cookies",), KeyError),
        ({}, ("body",), KeyError),
        ({}, ("requestContext", "authorizer"), KeyError),
        ({"account_id": "000000000000", "authorizer": ev.iam_authorizer("AK", "000000000000")},
         ("requestContext", "authorizer", "iam", "accessKey"), "AK"),
        ({"account_id": "000000000000"}, ("requestContext", "accountId"), "000000000000"),
    ],
)
def test_event_fields(changes: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node: Any = ev.build_event(replace(BASE, **changes))
    if value is KeyError:
        for part in path[:-1]:
            node = node[part]
        assert path[-1] not in node
        return
    for part in path:
        node = node[part]
    assert node == value


TEXT = "h\u00e9llo".encode()
BINARY = b"\x00\xff\xfe\x80PNG"


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        (None, TEXT, False),
        ("text/plain; charset=utf-8", TEXT, False),
        ("application/json", b'{"a":1}', False),
        ("application/vnd.api+json", b"{}", False),
        ("application/xml", b"<a/>", False),
        ("application/x-www-form-urlencoded", b"a=1", False),
        ("application/octet-stream", TEXT, True),
        ("image/png", BINARY, True),
        (None, BINARY, True),
        ("text/plain", BINARY, True),
    ],
)
def test_body_text_or_base64(content_type: str | None, body: bytes, encoded: bool) -> None:
    headers = {"host": "h", **({"content-type": content_type} if content_type else {})}
    event = ev.build_event(replace(BASE, method="POST", headers=headers, body=body))
    assert event["isBase64Encoded"] is encoded
    decoded = base64.b64decode(event["body"]) if encoded else event["body"].encode()
    assert decoded == body


def test_encode_event_keeps_non_utf8_header_bytes_as_escapes() -> None:
    raw = b"\xff".decode("utf-8", "surrogateescape")
    payload = ev.encode_event(ev.build_event(replace(BASE, headers={"host": "h", "x-odd": raw})))
    assert json.loads(payload)["headers"]["x-odd"] == raw


@pytest.mark.parametrize(
    ("epoch", "text"),
    [(0, "01/Jan/1970:00:00:00 +0000"), (1704067199.9, "31/Dec/2023:23:59:59 +0000")],
)
def test_clf_time(epoch: float, text: str) -> None:
    assert ev.clf_time(epoch) == text


# --- result → response ----------------------------------------------------------------------------

JSON = ("Content-Type", "application/json")
B64_PNG = base64.b64encode(BINARY).decode()


@pytest.mark.parametrize(
    ("result", "error", "status", "headers", "body"),
    [
        ({"a": 1}, None, 200, [JSON], b'{"a":1}'),
        ([1, 2], None, 200, [JSON], b"[1,2]"),
        ("hello", None, 200, [JSON], b'"hello"'),
        (None, None, 200, [JSON], b"null"),
        ({"statusCode": 201, "headers": {"X-A": "1", "Content-Type": "text/plain"}, "body": "made"}, None,
         201, [("X-A", "1"), ("Content-Type", "text/plain")], b"made"),
        ({"statusCode": 204}, None, 204, [JSON], b""),
        ({"statusCode": "404", "body": "no"}, None, 404, [JSON], b"no"),
        ({"statusCode": 200, "body": B64_PNG, "isBase64Encoded": True, "headers": {"content-type": "image/png"}},
         None, 200, [("content-type", "image/png")], BINARY),
        ({"statusCode": 200, "body": {"nested": True}}, None, 200, [JSON], b'{"nested":true}'),
        ({"statusCode": 200, "cookies": ["a=1; Path=/", "b=2"]}, None, 200,
         [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2"), JSON], b""),
        ({"statusCode": 200, "multiValueHeaders": {"X-M": ["1", "2"]}, "headers": {"X-S": 3}}, None, 200,
         [("X-S", "3"), ("X-M", "1"), ("X-M", "2"), JSON], b""),
        ({"statusCode": 200, "headers": {"Content-Length": "99", "Transfer-Encoding": "chunked"}}, None, 200,
         [JSON], b""),
        ({"errorMessage": "boom", "errorType": "ValueError"}, "Unhandled", 502, [JSON],
         b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 200}, "Handled", 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": "abc"}, None, 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 99}, None, 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": True}, None, 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 200, "headers": {"X": "a\r\nInjected: 1"}}, None, 502, [JSON],
         b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 200, "headers": {"X": {"obj": 1}}}, None, 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 200, "headers": ["x"]}, None, 502, [JSON], b'{"Message":"Internal Server Error"}'),
        ({"statusCode": 200, "body": "!!!", "isBase64Encoded": True}, None, 502, [JSON],
         b'{"Message":"Internal Server Error"}'),
    ],
)
def test_map_result(result: Any, error: str | None, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    reply = ev.map_result(json.dumps(result, separators=(",", ":")).encode(), error)
    assert (reply.status, reply.headers, reply.body) == (status, headers, body)


@pytest.mark.parametrize(("raw", "status"), [(b"", 200), (b"not json", 502)])
def test_map_result_of_non_json(raw: bytes, status: int) -> None:
    assert ev.map_result(raw, None).status == status


def test_error_reply_shape() -> None:
    reply = ev.error_reply(*ev.FORBIDDEN)
    assert (reply.status, reply.headers, json.loads(reply.body)) == (403, [JSON], {"Message": "Forbidden"})
    response = reply.response()
    assert (response.status, response.body) == (403, reply.body)


# --- CORS -----------------------------------------------------------------------------------------

CORS = {
    "AllowOrigins": ["https://app.example.com"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["content-type", "x-custom"],
    "ExposeHeaders": ["x-request-id"],
    "MaxAge": 300,
    "AllowCredentials": True,
}
OPEN = {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}


def _preflight(origin: str, method: str, request_headers: str | None = None) -> dict[str, str]:
    headers = {"origin": origin, "access-control-request-method": method}
    if request_headers is not None:
        headers["access-control-request-headers"] = request_headers
    return headers


@pytest.mark.parametrize(
    ("cors", "headers", "expected"),
    [
        (CORS, _preflight("https://app.example.com", "POST"), {
            "Access-Control-Allow-Origin": "https://app.example.com",
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "content-type, x-custom",
            "Access-Control-Max-Age": "300",
        }),
        (CORS, _preflight("https://APP.example.com", "post"), {
            "Access-Control-Allow-Origin": "https://APP.example.com",
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "content-type, x-custom",
            "Access-Control-Max-Age": "300",
        }),
        (CORS, _preflight("https://evil.example.com", "POST"), {"Vary": "Origin"}),
        (CORS, _preflight("https://app.example.com", "DELETE"), {"Vary": "Origin"}),
        (OPEN, _preflight("https://any.example", "PATCH", "x-a, x-b"), {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "PATCH",
            "Access-Control-Allow-Headers": "x-a, x-b",
        }),
        ({"AllowOrigins": ["*"], "AllowMethods": ["GET"]}, _preflight("https://o", "GET"), {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET",
        }),
        ({}, _preflight("https://o", "GET"), {"Vary": "Origin"}),
    ],
)
def test_preflight(cors: dict[str, Any], headers: dict[str, str], expected: dict[str, str]) -> None:
    reply = ev.preflight_reply(cors, headers)
    assert reply.status == 200 and reply.body == b""
    assert dict(reply.headers) == expected


@pytest.mark.parametrize(
    ("method", "headers", "preflight"),
    [
        ("OPTIONS", {"origin": "o", "access-control-request-method": "GET"}, True),
        ("OPTIONS", {"origin": "o"}, False),
        ("OPTIONS", {"access-control-request-method": "GET"}, False),
        ("GET", {"origin": "o", "access-control-request-method": "GET"}, False),
    ],
)
def test_is_preflight(method: str, headers: dict[str, str], preflight: bool) -> None:
    assert ev.is_preflight(method, headers) is preflight


FROM_FUNCTION = [("X-A", "1"), ("Access-Control-Allow-Origin", "https://function.example")]


@pytest.mark.parametrize(
    ("cors", "origin", "expected"),
    [
        (None, "https://app.example.com", FROM_FUNCTION),
        (CORS, None, [("X-A", "1")]),
        (CORS, "https://evil.example.com", [("X-A", "1")]),
        (CORS, "https://app.example.com", [
            ("X-A", "1"),
            ("Access-Control-Allow-Origin", "https://app.example.com"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
            ("Access-Control-Expose-Headers", "x-request-id"),
        ]),
        (OPEN, "https://any.example", [("X-A", "1"), ("Access-Control-Allow-Origin", "*")]),
    ],
)
def test_with_cors(cors: dict[str, Any] | None, origin: str | None, expected: list[tuple[str, str]]) -> None:
    headers = {"origin": origin} if origin else {}
    reply = ev.with_cors(ev.Reply(200, list(FROM_FUNCTION)), cors, headers)
    assert reply.headers == expected
