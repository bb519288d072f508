"""Function URLs as pure mappings: HTTP request → payload 2.0 event, function result → HTTP response.

The shapes follow Lambda's "Invoking function URLs" page (payload format version 2.0, shared with
API Gateway HTTP APIs). Where the page is silent, Bayou chooses as follows, and says why:

- ``rawPath`` is the path as sent (still percent-encoded), ``requestContext.http.path`` is decoded:
  a handler that routes on ``rawPath`` sees exactly what the client sent.
- A body is passed as text when it is UTF-8 and its Content-Type is textual (``text/*``, JSON, XML,
  JavaScript, form-urlencoded) or absent; anything else is base64 with ``isBase64Encoded: true``.
- ``cookies``, ``queryStringParameters`` and ``body`` are left out when the request has none, as
  Lambda does.
- A result with ``statusCode`` but no ``content-type`` header is sent as ``application/json``
  (API Gateway's default for format 2.0).

Nothing here does I/O; ``function_urls.py`` reads the request, authenticates and invokes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from bayou.api.http import Response

#: Lambda's synchronous payload quota, for the request event (and so the body it carries).
PAYLOAD_LIMIT = 6 * 1024 * 1024
ANONYMOUS = "anonymous"
_TEXT_TYPES = re.compile(
    r"text/.*|application/(json|xml|javascript|x-www-form-urlencoded|[\w.+-]*\+(json|xml))",
)
#: Response headers the server owns (framing), never copied from a function's result.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True, slots=True)
class UrlRequest:
    """One request to a function URL, in primitives (what the event is built from)."""

    method: str
    raw_path: str  # after `/_bayou/fn-url/<name>[:<qualifier>]`, percent-encoded, starts with "/"
    raw_query: str
    query_pairs: Sequence[tuple[str, str]]
    headers: Mapping[str, str]  # lower-case names, repeated headers already joined with ","
    body: bytes
    source_ip: str
    request_id: str
    now: float  # epoch seconds
    api_id: str  # the URL's id (Lambda: the first label of the URL's domain)
    account_id: str = ANONYMOUS
    #: requestContext.authorizer for AWS_IAM URLs ({"iam": {...}}), None for NONE.
    authorizer: dict[str, Any] | None = None
    protocol: str = "HTTP/1.1"


@dataclass(slots=True)
class Reply:
    """The HTTP answer to a function URL request."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def response(self) -> Response:
        return Response(self.status, list(self.headers), self.body)


# --- targets ----------------------------------------------------------------------------------


def parse_target(rest: str) -> tuple[str, str, str] | None:
    """`<name>[:<qualifier>][/<path>]` (raw, after the prefix) → (name, qualifier, raw path).

    The qualifier is "" for the unqualified URL; the path always starts with "/". None when there is
    no name at all.
    """
    target, slash, path = rest.partition("/")
    target = unquote(target)
    name, _, qualifier = target.partition(":")
    if not name:
        return None
    return name, qualifier, "/" + path if slash else "/"


def url_id(name: str, qualifier: str) -> str:
    """A stable 32-character id for one URL, standing in for Lambda's random url-id."""
    return hashlib.sha256(f"{name}:{qualifier}".encode()).hexdigest()[:32]


# --- request → event --------------------------------------------------------------------------


def is_text(content_type: str | None, body: bytes) -> bool:
    if content_type and not _TEXT_TYPES.fullmatch(content_type.split(";", 1)[0].strip().lower()):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split_cookies(header: str | None) -> list[str]:
    """`a=1; b=2` → ["a=1", "b=2"]."""
    if not header:
        return []
    return [part.strip() for part in header.split(";") if part.strip()]


def query_parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated parameters are joined with ",", in order, as Lambda does."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def clf_time(epoch: float) -> str:
    """requestContext.time: `12/Mar/2020:19:03:58 +0000` (English month names, always UTC)."""
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{months[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def build_event(req: UrlRequest) -> dict[str, Any]:
    """The payload 2.0 event for `req`."""
    headers = {name: value for name, value in req.headers.items() if name != "cookie"}
    headers.setdefault("x-forwarded-for", req.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    domain = req.headers.get("host", "")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
    }
    cookies = split_cookies(req.headers.get("cookie"))
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if req.query_pairs:
        event["queryStringParameters"] = query_parameters(req.query_pairs)
    event["requestContext"] = {
        "accountId": req.account_id,
        "apiId": req.api_id,
        **({"authorizer": req.authorizer} if req.authorizer is not None else {}),
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": req.method,
            "path": unquote(req.raw_path),
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": req.headers.get("user-agent", ""),
        },
        "requestId": req.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": clf_time(req.now),
        "timeEpoch": int(req.now * 1000),
    }
    if req.body:
        if is_text(req.headers.get("content-type"), req.body):
            event["body"] = req.body.decode("utf-8")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(req.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def encode_event(event: dict[str, Any]) -> bytes:
    """JSON with ASCII escapes: header bytes that are not UTF-8 survive as \\udcXX escapes."""
    return json.dumps(event, separators=(",", ":")).encode("ascii")


def iam_authorizer(access_key: str, account_id: str) -> dict[str, Any]:
    """requestContext.authorizer of an AWS_IAM URL for the caller Bayou authenticated."""
    return {
        "iam": {
            "accessKey": access_key,
            "accountId": account_id,
            "callerId": access_key,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account_id}:root",
            "userId": account_id,
        }
    }


# --- result → response ------------------------------------------------------------------------


def error_reply(status: int, message: str) -> Reply:
    """Lambda URL errors are `{"Message": "..."}` JSON."""
    body = json.dumps({"Message": message}, separators=(",", ":")).encode()
    return Reply(status, [("Content-Type", "application/json")], body)


FORBIDDEN = (403, "Forbidden")
BAD_GATEWAY = (502, "Internal Server Error")
TOO_LARGE = (413, "Request Entity Too Large")


def map_result(result: bytes, function_error: str | None) -> Reply:
    """Lambda's rules: a dict with `statusCode` describes the response; any other JSON is the body."""
    if function_error:
        return error_reply(*BAD_GATEWAY)
    try:
        value = json.loads(result) if result.strip() else None
    except (ValueError, UnicodeDecodeError):
        return error_reply(*BAD_GATEWAY)
    if not isinstance(value, dict) or "statusCode" not in value:
        return Reply(200, [("Content-Type", "application/json")], result)
    try:
        return _described(value)
    except (TypeError, ValueError, binascii.Error):
        return error_reply(*BAD_GATEWAY)


def _described(value: dict[str, Any]) -> Reply:
    status = value["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"invalid statusCode {status!r}")
    headers = _result_headers(value.get("headers"), value.get("multiValueHeaders"))
    for cookie in value.get("cookies") or []:
        headers.append(("Set-Cookie", _header_value(cookie)))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Reply(status, headers, _result_body(value.get("body"), bool(value.get("isBase64Encoded"))))


def _result_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for mapping, many in ((single, False), (multi, True)):
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            raise TypeError("headers must be an object")
        for name, raw in mapping.items():
            if str(name).lower() in _HOP_BY_HOP:
                continue
            values = raw if many and isinstance(raw, list) else [raw]
            headers += [(str(name), _header_value(v)) for v in values]
    return headers


def _header_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        raise TypeError("header values must be strings or numbers")
    if "\r" in text or "\n" in text:
        raise ValueError("header values must not contain line breaks")
    return text


def _result_body(body: Any, encoded: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        return json.dumps(body, separators=(",", ":")).encode()
    if encoded:
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8", "surrogatepass")


# --- CORS -------------------------------------------------------------------------------------


def _allowed(values: Sequence[str], wanted: str, *, fold: bool = False) -> bool:
    if "*" in values:
        return True
    if fold:
        return wanted.lower() in (v.lower() for v in values)
    return wanted in values


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def _allow_origin(cors: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    """Access-Control-Allow-Origin (+ Allow-Credentials, Vary) when `origin` is allowed, else []."""
    origins = cors.get("AllowOrigins") or []
    if not _allowed(origins, origin, fold=True):
        return []
    credentials = bool(cors.get("AllowCredentials"))
    wildcard = "*" in origins and not credentials
    headers = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    if credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if not wildcard:
        headers.append(("Vary", "Origin"))
    return headers


def preflight_reply(cors: Mapping[str, Any], headers: Mapping[str, str]) -> Reply:
    """The answer to an OPTIONS preflight, from the URL's Cors (the function is not invoked).

    A request the configuration does not allow still gets a 200, without CORS headers: the browser
    then refuses the actual request, which is what Lambda's behaviour amounts to.
    """
    method = headers.get("access-control-request-method", "").strip()
    allow = _allow_origin(cors, headers.get("origin", ""))
    if not allow or not _allowed(cors.get("AllowMethods") or [], method.upper(), fold=True):
        return Reply(200, [("Vary", "Origin")])
    reply = Reply(200, allow)
    methods = cors.get("AllowMethods") or []
    reply.headers.append(("Access-Control-Allow-Methods", method if "*" in methods else ", ".join(methods)))
    requested = headers.get("access-control-request-headers", "").strip()
    allow_headers = cors.get("AllowHeaders") or []
    if "*" in allow_headers and requested:
        reply.headers.append(("Access-Control-Allow-Headers", requested))
    elif allow_headers and "*" not in allow_headers:
        reply.headers.append(("Access-Control-Allow-Headers", ", ".join(allow_headers)))
    if cors.get("MaxAge") is not None:
        reply.headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    return reply


def with_cors(reply: Reply, cors: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Reply:
    """Add the Access-Control-* headers of an actual (non-preflight) request.

    With a Cors configuration, Lambda's headers replace any the function returned.
    """
    if cors is None:
        return reply
    reply.headers = [(n, v) for n, v in reply.headers if not n.lower().startswith("access-control-")]
    origin = headers.get("origin")
    if origin is None:
        return reply
    allow = _allow_origin(cors, origin)
    if allow and cors.get("ExposeHeaders"):
        allow.append(("Access-Control-Expose-Headers", ", ".join(cors["ExposeHeaders"])))
    reply.headers += allow
    return reply
