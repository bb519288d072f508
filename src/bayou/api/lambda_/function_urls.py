"""Function URLs: `/_bayou/fn-url/<name>[:<qualifier>]/...` reaches the function as a payload 2.0 event.

The app calls this before authenticating: AuthType NONE URLs are public, AWS_IAM URLs need a SigV4
signature for the service `lambda` (checked here). Answers are Lambda's `{"Message": ...}` JSON:

- no URL configured for that name and qualifier (or no such function) → 403 Forbidden, as AWS answers
  for an unknown URL; an unsigned request to an AWS_IAM URL gets the same answer, so a 403 reveals
  nothing about which functions exist;
- a body (or the event carrying it) over 6 MB → 413; a function error or a malformed result → 502;
  a throttle → 429.

The mapping itself (event, result, CORS) is pure and lives in `url_events.py`.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import quote

from bayou.api.http import Request, Response
from bayou.api.lambda_ import url_events as ev
from bayou.api.lambda_.url_events import Reply, UrlRequest
from bayou.auth.authenticate import authenticate, needs_body_sha256
from bayou.auth.request import RequestHead
from bayou.errors import BayouError, TooManyRequestsException
from bayou.functions.models import ACCOUNT_ID

FUNCTION_URL_PREFIX = "/_bayou/fn-url/"
URL_SETTING = "url"  # the registry setting kind urls.py stores the config under


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.reply = ev.error_reply(status, message)


async def handle_function_url(request: Request, components: Any) -> Response:
    try:
        return (await _serve(request, components)).response()
    except _Refused as refused:
        return refused.reply.response()
    except BayouError as exc:  # a body that stalled or broke off, a missing code blob, ...
        return ev.error_reply(exc.status, "Internal Server Error" if exc.status >= 500 else exc.message).response()


async def _serve(request: Request, c: Any) -> Reply:
    rest = request.raw_path[len(FUNCTION_URL_PREFIX):] if request.raw_path.startswith(FUNCTION_URL_PREFIX) else (
        quote(request.path[len(FUNCTION_URL_PREFIX):], safe="/:")
    )
    target = ev.parse_target(rest)
    if target is None:
        raise _Refused(*ev.FORBIDDEN)
    name, qualifier, raw_path = target
    config = await _url_config(c, name, qualifier)
    cors = config.get("Cors")
    if cors is not None and ev.is_preflight(request.method, request.headers):
        return ev.preflight_reply(cors, request.headers)
    body = await _read_body(request)
    access_key = None
    if config.get("AuthType") == "AWS_IAM":
        access_key = _authenticate(request, c, body)
    now = c.storage.clock.now()
    url_request = UrlRequest(
        method=request.method, raw_path=raw_path, raw_query=request.raw_query, query_pairs=request.query_pairs,
        headers=request.headers, body=body, source_ip=request.client or "127.0.0.1",
        request_id=str(uuid.uuid4()), now=now, api_id=ev.url_id(name, qualifier),
        account_id=ACCOUNT_ID if access_key else ev.ANONYMOUS,
        authorizer=ev.iam_authorizer(access_key, ACCOUNT_ID) if access_key else None,
    )
    reply = await _invoke(c, name, qualifier, url_request)
    reply.headers.append(("x-amzn-RequestId", url_request.request_id))
    return ev.with_cors(reply, cors, request.headers)


async def _url_config(c: Any, name: str, qualifier: str) -> dict[str, Any]:
    try:
        config = await c.registry.get_setting(name, URL_SETTING, qualifier)
    except BayouError:  # unknown function, malformed name or qualifier
        config = None
    if config is None:
        raise _Refused(*ev.FORBIDDEN)
    return dict(config)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > ev.PAYLOAD_LIMIT:
        raise _Refused(*ev.TOO_LARGE)
    body = bytearray()
    async for chunk in request.raw_chunks():
        body += chunk
        if len(body) > ev.PAYLOAD_LIMIT:
            raise _Refused(*ev.TOO_LARGE)
    return bytes(body)


def _authenticate(request: Request, c: Any, body: bytes) -> str:
    """The caller's access key, if the request is SigV4-signed for `lambda` and its body matches."""
    head = RequestHead(request.method, request.raw_path, request.raw_query, request.headers, request.query_pairs)
    digest = hashlib.sha256(body).hexdigest()
    try:
        auth = authenticate(
            head, c.keyring, c.storage.clock.now(), c.settings.region,
            body_sha256=digest if needs_body_sha256(head) else None,
        )
    except BayouError:
        raise _Refused(*ev.FORBIDDEN) from None
    payload = auth.payload
    if auth.service != "lambda" or payload.is_streaming:
        raise _Refused(*ev.FORBIDDEN)
    if payload.kind == "sha256" and payload.sha256_hex != digest:
        raise _Refused(*ev.FORBIDDEN)
    return auth.access_key


async def _invoke(c: Any, name: str, qualifier: str, url_request: UrlRequest) -> Reply:
    payload = ev.encode_event(ev.build_event(url_request))
    if len(payload) > ev.PAYLOAD_LIMIT:
        raise _Refused(*ev.TOO_LARGE)
    try:
        target = await c.registry.resolve(name, qualifier or None)
    except BayouError:  # deleted between the config lookup and now, or an alias to nowhere
        raise _Refused(*ev.FORBIDDEN) from None
    try:
        result = await c.invoker.invoke(target, payload, request_id=url_request.request_id)
    except TooManyRequestsException:
        raise _Refused(429, "Rate Exceeded.") from None
    return ev.map_result(result.body, result.function_error)
