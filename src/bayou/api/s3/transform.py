"""Object transforms: GetObject with `?x-bayou-transform=<function>` runs the function, as S3 Object Lambda.

The function receives Object Lambda's event (`getObjectContext` with a 60-second presigned
`inputS3Url` for the original object, `outputRoute`, `outputToken`) and answers in one of two ways:
- it calls WriteGetObjectResponse (`POST /WriteGetObjectResponse`, signed for `s3-object-lambda`,
  `x-amz-request-route` / `x-amz-request-token`): the posted status, headers and body go to the
  waiting GET as they arrive, through a bounded queue (memory stays bounded for any size);
- or it returns `{"statusCode", "headers", "body", "isBase64Encoded"}` or a string: that is the answer.

The waiting GETs live in the serving worker (`ObjectTransforms._pending`); the route
(`io-<pid>-<random>`) names that worker. With `--workers` > 1 the WriteGetObjectResponse may land
on another worker: that one forwards it over the holder's unix socket (transform_relay.py), and
the holder feeds its GET exactly as for a local POST. The token stays the only secret, single-use.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bayou.api.body import declared_length, decoded_body
from bayou.api.http import Request, Response
from bayou.api.s3 import router, transform_relay
from bayou.api.s3.context import S3Context
from bayou.api.s3.xml import Node, document
from bayou.auth.authenticate import AuthContext
from bayou.auth.sigv4 import (
    canonical_query_from_pairs,
    canonical_request,
    format_amz_date,
    signature,
    signing_key,
    string_to_sign,
    uri_encode,
)
from bayou.errors import (
    BayouError,
    InvalidArgument,
    InvalidRequestToken,
    LambdaNotFound,
    LambdaResponseNotReceived,
    LambdaRuntimeError,
    LambdaTimeout,
    MethodNotAllowed,
    ResourceNotFoundException,
    ServiceUnavailable,
    SlowDown,
    TooManyRequestsException,
)
from bayou.functions.models import ACCOUNT_ID
from bayou.functions.validation import parse_function_ref
from bayou.storage.models import Integrity

log = logging.getLogger("bayou.transform")

TRANSFORM_PARAM = "x-bayou-transform"
SERVICE = "s3-object-lambda"
WRITE_PATH = "/WriteGetObjectResponse"
INPUT_URL_LIFETIME = 60
_QUEUE_DEPTH = 8
_ABORT = object()
#: WriteGetObjectResponse's x-amz-fwd-header-<name>, lower-cased, → the header the GET answers with.
_FORWARDED = {name.lower(): name for name in (
    "Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Content-Range", "Content-Type", "ETag", "Expires", "Last-Modified", "x-amz-delete-marker",
    "x-amz-expiration", "x-amz-mp-parts-count", "x-amz-object-lock-legal-hold", "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date", "x-amz-replication-status", "x-amz-request-charged", "x-amz-restore",
    "x-amz-server-side-encryption", "x-amz-storage-class", "x-amz-tagging-count", "x-amz-version-id",
    "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha1", "x-amz-checksum-sha256",
)}


@dataclass(slots=True)
class _Pending:
    """One GET waiting for its function's WriteGetObjectResponse."""

    route: str
    token: str
    started: asyncio.Event = field(default_factory=asyncio.Event)
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(_QUEUE_DEPTH))
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    error: bytes | None = None  # an S3 XML error body the function asked for
    claimed: bool = False
    closed: bool = False  # the GET stopped reading


@dataclass(frozen=True, slots=True)
class Signer:
    """Root credentials and where the server is: what an inputS3Url needs."""

    public_url: str
    access_key: str
    secret_key: str
    region: str

    def presign_get(self, bucket: str, key: str, version_id: str | None, now: float) -> str:
        """A SigV4 query-signed GET of the object, valid INPUT_URL_LIFETIME seconds."""
        host = urlsplit(self.public_url).netloc
        path = f"/{uri_encode(bucket)}/{uri_encode(key, keep_slash=True)}"
        amz_date = format_amz_date(now)
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        pairs = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", f"{self.access_key}/{scope}"),
                 ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(INPUT_URL_LIFETIME)),
                 ("X-Amz-SignedHeaders", "host")]
        if version_id is not None:
            pairs.append(("versionId", version_id))
        query = canonical_query_from_pairs(pairs)
        canonical = canonical_request("GET", path, query, {"host": host}, ("host",), "UNSIGNED-PAYLOAD")
        key_bytes = signing_key(self.secret_key, amz_date[:8], self.region, "s3")
        sig = signature(key_bytes, string_to_sign(amz_date, scope, canonical))
        return f"{self.public_url}{path}?{query}&X-Amz-Signature={sig}"


def function_target(value: str) -> tuple[str, str | None]:
    """(name, qualifier) of the parameter: a name, `name:qualifier`, or a function ARN."""
    try:
        return parse_function_ref(value)
    except BayouError:
        raise InvalidArgument(f"{TRANSFORM_PARAM} must name a function (name or ARN[:qualifier]).",
                              ArgumentName=TRANSFORM_PARAM, ArgumentValue=value) from None


class ObjectTransforms:
    """The transforms of one server process: runs functions, matches WriteGetObjectResponse to GETs."""

    def __init__(self, registry: Any, invoker: Any, signer: Signer, now: Callable[[], float], data_dir: Path) -> None:
        self._registry = registry
        self._invoker = invoker
        self._signer = signer
        self._now = now
        self._data_dir = data_dir
        self._pending: dict[str, _Pending] = {}
        self._pid = os.getpid()
        self._relay: asyncio.AbstractServer | None = None

    async def start_relay(self) -> None:
        """Listen for WriteGetObjectResponse forwarded by the other workers (from the running loop)."""
        self._pid = os.getpid()
        self._relay = await transform_relay.listen(self._relay_path(self._pid), self._relayed)

    def close_relay(self) -> None:
        transform_relay.close(self._relay, self._relay_path(self._pid))
        self._relay = None

    def _relay_path(self, pid: int) -> str:
        return transform_relay.relay_socket_path(self._data_dir, pid)

    # --- the GET side ----------------------------------------------------------------------------

    async def get_object(self, ctx: S3Context, ep: router.GetObject) -> Response:
        name, qualifier = function_target(ctx.request.query.get(TRANSFORM_PARAM, ""))
        record, _ = await ctx.storage.head_object(ep.bucket, ep.key, version_id=ep.version_id)
        try:
            target = await self._registry.resolve(name, qualifier)
        except ResourceNotFoundException as exc:
            raise LambdaNotFound(exc.message) from None
        pending = _Pending(f"io-{self._pid}-{secrets.token_hex(4)}", secrets.token_urlsafe(32))
        self._pending[pending.token] = pending
        payload = json.dumps(self._event(ctx, ep, pending)).encode()
        invocation = asyncio.create_task(self._invoker.invoke(target, payload, request_id=ctx.request.request_id))
        started = asyncio.create_task(pending.started.wait())
        try:
            await asyncio.wait({invocation, started}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            invocation.cancel()
            started.cancel()
            self._pending.pop(pending.token, None)
            raise
        if pending.started.is_set():
            invocation.add_done_callback(lambda task: _log_late_failure(task, name))
            return self._streamed(pending)
        started.cancel()
        self._pending.pop(pending.token, None)
        return _from_result(invocation, record.content_type)

    def _event(self, ctx: S3Context, ep: router.GetObject, pending: _Pending) -> dict[str, Any]:
        request, signer = ctx.request, self._signer
        query = f"?{request.raw_query}" if request.raw_query else ""
        access = ctx.auth.access_key
        return {
            "xAmzRequestId": request.request_id,
            "getObjectContext": {
                "inputS3Url": signer.presign_get(ep.bucket, ep.key, ep.version_id, self._now()),
                "outputRoute": pending.route,
                "outputToken": pending.token,
            },
            "configuration": {
                "accessPointArn": f"arn:aws:s3-object-lambda:{signer.region}:{ACCOUNT_ID}:accesspoint/{ep.bucket}",
                "supportingAccessPointArn": f"arn:aws:s3:{signer.region}:{ACCOUNT_ID}:accesspoint/{ep.bucket}",
                "payload": "",
            },
            "userRequest": {
                "url": f"{signer.public_url}{request.raw_path}{query}",
                "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
            },
            "userIdentity": {"type": "IAMUser", "principalId": access, "accountId": ACCOUNT_ID,
                             "accessKeyId": access, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{access}"},
            "protocolVersion": "1.00",
        }

    def _streamed(self, pending: _Pending) -> Response:
        if pending.error is not None:
            self._pending.pop(pending.token, None)
            pending.closed = True
            _drain(pending.queue)
            return Response(pending.status, [("Content-Type", "application/xml")], pending.error)
        return Response(pending.status, pending.headers, self._chunks(pending))

    async def _chunks(self, pending: _Pending) -> AsyncIterator[bytes]:
        try:
            while (chunk := await pending.queue.get()) is not None:
                if chunk is _ABORT:
                    raise ConnectionAbortedError("WriteGetObjectResponse ended before its body did")
                yield chunk
        finally:
            pending.closed = True
            self._pending.pop(pending.token, None)
            _drain(pending.queue)

    # --- the WriteGetObjectResponse side -----------------------------------------------------------

    async def write_get_object_response(self, request: Request, auth: AuthContext) -> Response:
        if request.method != "POST" or request.path.rstrip("/") != WRITE_PATH:
            raise MethodNotAllowed(f"{SERVICE} serves POST {WRITE_PATH} only.")
        route = request.headers.get("x-amz-request-route", "")
        token = request.headers.get("x-amz-request-token", "")
        headers = {k: v for k, v in request.headers.items() if k.startswith(("x-amz-fwd-", "x-amz-meta-"))}
        length = declared_length(request, auth.payload)
        body = decoded_body(request, auth.payload, Integrity())
        holder = _route_worker(route)
        if holder is None or holder == self._pid:
            pending = self._claim(route, token, headers, length)
            if pending is None:
                raise InvalidRequestToken()
            await self._feed(pending, body)
        else:
            head = {"route": route, "token": token, "headers": headers, "length": length}
            if not await transform_relay.forward(self._relay_path(holder), head, body):
                raise InvalidRequestToken()
        return Response(200)

    def _claim(self, route: str, token: str, headers: Mapping[str, str], length: int | None) -> _Pending | None:
        """The GET waiting for this route and token, claimed (single use), or None."""
        pending = self._pending.get(token)
        if pending is None or pending.claimed or pending.route != route:
            return None
        pending.claimed = True
        _take_headers(pending, headers, length)
        pending.started.set()
        return pending

    async def _feed(self, pending: _Pending, body: AsyncIterator[bytes]) -> None:
        """Stream a claimed GET's body into its queue (waits while the queue is full)."""
        try:
            async for chunk in body:
                if not pending.closed and chunk:
                    await pending.queue.put(chunk)
        except BaseException:
            _drain(pending.queue)  # the GET is cut anyway: make room for the abort
            pending.queue.put_nowait(_ABORT)
            raise
        finally:
            self._pending.pop(pending.token, None)
        if not pending.closed:
            await pending.queue.put(None)

    async def _relayed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A WriteGetObjectResponse another worker forwarded for one of this worker's GETs."""
        try:
            head = await transform_relay.read_head(reader)
            length = head.get("length")
            pending = self._claim(str(head.get("route", "")), str(head.get("token", "")),
                                  {str(k): str(v) for k, v in dict(head.get("headers") or {}).items()},
                                  length if isinstance(length, int) else None)
            writer.write(transform_relay.ACCEPTED if pending is not None else transform_relay.REFUSED)
            if pending is not None:
                await writer.drain()
                await self._feed(pending, transform_relay.received_body(reader))
                writer.write(transform_relay.DONE)
            await writer.drain()
        except (TimeoutError, OSError, ValueError, TypeError, asyncio.IncompleteReadError) as exc:
            log.warning("relayed WriteGetObjectResponse failed: %s", exc)
        finally:
            writer.close()


def _route_worker(route: str) -> int | None:
    """The pid in a route `io-<pid>-<random>`, or None."""
    parts = route.split("-")
    if len(parts) == 3 and parts[0] == "io" and parts[1].isascii() and parts[1].isdigit() and len(parts[1]) <= 9:
        return int(parts[1])
    return None


def _take_headers(pending: _Pending, headers: Mapping[str, str], length: int | None) -> None:
    status = headers.get("x-amz-fwd-status", "200")
    pending.status = int(status) if status.isdigit() and 100 <= int(status) <= 599 else 200
    code = headers.get("x-amz-fwd-error-code")
    if pending.status >= 400 and code:
        error = Node("Error")
        error.add("Code", code)
        error.add("Message", headers.get("x-amz-fwd-error-message", ""))
        pending.error = document(error, namespace=False)
        return
    prefix = "x-amz-fwd-header-"
    for name, value in headers.items():
        if name.startswith(prefix) and name[len(prefix):] in _FORWARDED:
            pending.headers.append((_FORWARDED[name[len(prefix):]], value))
        elif name.startswith("x-amz-meta-"):
            pending.headers.append((name, value))
    if length is not None:
        pending.headers.append(("Content-Length", str(length)))


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()


def _log_late_failure(task: asyncio.Task[Any], function: str) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.warning("transform %s failed after WriteGetObjectResponse: %s", function, exc)
    elif task.result().function_error:
        log.warning("transform %s raised after WriteGetObjectResponse", function)


def _from_result(invocation: asyncio.Task[Any], content_type: str) -> Response:
    """The GET's answer from a function that did not call WriteGetObjectResponse."""
    try:
        result = invocation.result()
    except TooManyRequestsException:
        raise SlowDown("The transform function is at its concurrency limit.") from None
    except BayouError as exc:
        if exc.status >= 500:
            raise ServiceUnavailable(f"The function runtime is unavailable: {exc.message}") from None
        raise
    try:
        value = json.loads(result.body) if result.body else None
    except ValueError:
        raise LambdaRuntimeError("The transform function's result is not JSON.") from None
    if result.function_error:
        error = value if isinstance(value, dict) else {}
        message = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        raise (LambdaTimeout if error.get("errorType") == "Sandbox.Timedout" else LambdaRuntimeError)(message)
    if value is None:
        raise LambdaResponseNotReceived()
    if isinstance(value, str):
        return Response(200, [("Content-Type", content_type)], value.encode())
    if isinstance(value, dict) and "statusCode" in value:
        return _shaped(value, content_type)
    return Response(200, [("Content-Type", "application/json")], result.body)


def _shaped(value: dict[str, Any], content_type: str) -> Response:
    status = value.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise LambdaRuntimeError(f"The transform function returned an invalid statusCode: {status!r}.")
    headers = {str(k): str(v) for k, v in (value.get("headers") or {}).items()}
    body = value.get("body", "")
    if value.get("isBase64Encoded") and isinstance(body, str):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            raise LambdaRuntimeError("The transform function's body is not valid base64.") from None
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    return Response(status, [(k, v) for k, v in headers.items() if k.lower() != "content-length"], data)
