"""Assembles Bayou: the storage core, the background workers and the ASGI entry point.

Request flow: parse the request → `/_bayou/` admin paths, or → authenticate (one decision for
every credential form) → dispatch on the credential scope's service → route → handle → render.
Errors are rendered once, here; anything unexpected becomes InternalError with a request id
and one log line, never a traceback to the client.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import secrets
import traceback
from dataclasses import dataclass
from typing import Any

from bayou import errors
from bayou.api.admin.health import admin_response
from bayou.api.admin.targets import ADMIN_PREFIX, handle_admin
from bayou.api.http import (
    Immediate,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    encode_headers,
    send_response,
    send_stream,
    send_whole,
)
from bayou.api.lambda_ import dispatch as lambda_dispatch
from bayou.api.lambda_ import router as lambda_router
from bayou.api.lambda_.code_download import CODE_DOWNLOAD_PREFIX, code_signing_key, handle_code_download
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.function_urls import FUNCTION_URL_PREFIX, handle_function_url
from bayou.api.lambda_.render import error_response as lambda_error_response
from bayou.api.s3 import dispatch, router
from bayou.api.s3.cached_get import CachedGets
from bayou.api.s3.context import S3Context
from bayou.api.s3.post_object import post_object
from bayou.api.s3.render import error_response
from bayou.api.s3.transform import SERVICE as OBJECT_LAMBDA
from bayou.api.s3.transform import ObjectTransforms, Signer
from bayou.api.scheduler import dispatch as scheduler_dispatch
from bayou.auth.authenticate import authenticate, needs_body_sha256
from bayou.auth.credentials import StaticKeyring
from bayou.auth.request import RequestHead
from bayou.blobs.local import FileRange, LocalBlobStore
from bayou.clock import Clock, SystemClock
from bayou.config import Settings
from bayou.functions.host_client import HostClient
from bayou.functions.host_process import host_socket_path
from bayou.functions.invoker import FunctionCredentials, Invoker
from bayou.functions.registry import FunctionRegistry
from bayou.meta.sqlite import SqliteMetaStore
from bayou.services.async_invoke import AsyncInvocationWorker, RetryPolicy
from bayou.services.events.batcher import EventBatcher
from bayou.services.events.dispatcher import EventDispatcher
from bayou.services.events.targets import TargetRegistry
from bayou.services.gc import BlobCollector
from bayou.services.provisioner import ProvisionSync
from bayou.services.scheduler import SchedulerWorker
from bayou.services.wake import Waker, wake_socket_path
from bayou.services.worker import WorkerGroup
from bayou.storage import events
from bayou.storage.models import READ_CHUNK
from bayou.storage.service import StorageService

log = logging.getLogger("bayou.app")
META_FILE = "meta.sqlite3"
#: Unread request bytes worth draining to keep a connection alive; past this, close it.
UNREAD_BODY_LIMIT = 1024 * 1024
#: A Lambda request is read whole before authentication (its signature covers the body's hash);
#: CreateFunction carries a base64 zip of up to 50 MB.
LAMBDA_BODY_LIMIT = 72 * 1024 * 1024


@dataclass(slots=True)
class Components:
    settings: Settings
    meta: SqliteMetaStore
    blobs: LocalBlobStore
    storage: StorageService
    keyring: StaticKeyring
    registry: FunctionRegistry
    invoker: Invoker
    targets: TargetRegistry


def open_components(settings: Settings, access_key: str, secret_key: str, clock: Clock | None = None) -> Components:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = SqliteMetaStore(settings.data_dir / META_FILE, fsync=settings.fsync, now=clock.now)
    blobs = LocalBlobStore(settings.data_dir / "blobs", fsync=settings.fsync)
    storage = StorageService(
        meta, blobs, clock, region=settings.region, owner=access_key, inline_limit=settings.inline_limit
    )
    registry = FunctionRegistry(
        meta, blobs, storage, settings.data_dir / "functions" / "code", clock, settings.region,
        account_concurrency=settings.fn_account_concurrency, fsync=settings.fsync,
    )
    credentials = FunctionCredentials(settings.public_url, access_key, secret_key, "bayou-function-session")
    invoker = Invoker(
        registry, HostClient(host_socket_path(settings.data_dir)), meta, credentials,
        region=settings.region, now=clock.now,
    )
    return Components(
        settings, meta, blobs, storage, StaticKeyring({access_key: secret_key}), registry, invoker, TargetRegistry(meta)
    )


def _services(c: Components, waker: Waker) -> list[Any]:
    policy = RetryPolicy(first_delay=c.settings.fn_retry_delay)
    dispatcher = EventDispatcher(c.meta, c.targets, c.storage.clock, storage=c.storage)
    batcher = EventBatcher(c.meta, c.invoker, c.storage.clock)
    for event in (c.invoker.enqueued, dispatcher.woken, batcher.woken):
        waker.subscribe(event)
    return [
        BlobCollector(c.meta, c.blobs),
        AsyncInvocationWorker(c.meta, c.invoker, c.storage, c.storage.clock, region=c.settings.region, policy=policy),
        ProvisionSync(c.registry, c.invoker),
        dispatcher,
        SchedulerWorker(c.meta, c.invoker, c.storage.clock, region=c.settings.region),
        batcher,
    ]


_CACHED_METHODS = frozenset({"GET", "HEAD"})


def _identity_headers(request_id: str) -> list[tuple[str, str]]:
    """What every response carries, whichever path answered it."""
    return [("x-amz-request-id", request_id), ("x-amz-id-2", request_id), ("Server", "Bayou")]


def _identity_lines(request_id: str) -> bytes:
    """`_identity_headers` as HTTP/1.1 header lines, for the immediate lane."""
    return f"x-amz-request-id: {request_id}\r\nx-amz-id-2: {request_id}\r\nserver: Bayou\r\n".encode()


def _no_peek(bucket: str, key: str, *, with_data: bool) -> None:
    return None


def _is_lambda(request: Request) -> bool:
    """Signed for the `lambda` service (the credential scope says so): errors then render as JSON."""
    credential = request.headers.get("authorization") or request.query.get("X-Amz-Credential", "")
    return "/lambda/aws4_request" in credential or "/scheduler/aws4_request" in credential


def _is_form_upload(request: Request) -> bool:
    return (
        request.method == "POST"
        and request.headers.get("content-type", "").lower().startswith("multipart/form-data")
        and "authorization" not in request.headers
        and "X-Amz-Signature" not in request.query
    )


class BayouApp:
    """The ASGI application of one server process."""

    def __init__(self, components: Components, *, run_services: bool) -> None:
        self.c = components
        self._code_key = code_signing_key(components.keyring)
        self._log_dir = components.settings.data_dir / "functions" / "logs"
        self._waker = Waker(wake_socket_path(components.settings.data_dir))
        self._run_services = run_services
        # Request ids: 16 hex digits as S3's, unique per process (pid) and not guessable across
        # restarts (random start); a counter costs a fraction of a urandom call per request.
        self._id_prefix = f"{os.getpid() & 0xFFFF:04X}"
        self._request_ids = itertools.count(secrets.randbits(48))
        components.storage.on_events = self._waker.wake
        components.invoker.on_enqueued = self._waker.wake
        self._services = WorkerGroup(_services(components, self._waker) if run_services else [])
        peek = getattr(components.meta, "peek_object", None)  # only stores with a read cache have it
        self._cached_gets = CachedGets(
            peek if peek is not None else _no_peek, components.blobs.open, components.keyring, components.storage.clock.now,
            components.settings.region, components.settings.domains,
        )
        root = min(components.keyring)
        signer = Signer(components.settings.public_url, root, components.keyring[root], components.settings.region)
        self._transforms = ObjectTransforms(
            components.registry, components.invoker, signer, components.storage.clock.now, components.settings.data_dir
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = self._request_id()
        hit = self._cached_gets.answer(scope) if scope["method"] in _CACHED_METHODS else None
        if hit is not None:
            headers = self._cached_gets.headers(hit) + encode_headers(_identity_headers(request_id))
            body = hit.body()
            if isinstance(body, bytes):
                await send_whole(send, 200, headers, body)
            else:
                await send_stream(send, 200, headers, body)
            return
        response, request = await self._respond(scope, receive, request_id)
        if request is not None and not await request.discard_body(UNREAD_BODY_LIMIT):
            response.headers.append(("Connection", "close"))
        response.headers += _identity_headers(request_id)
        await send_response(send, response, head=scope["method"] == "HEAD")

    def answer_now(self, scope: Scope) -> Immediate | None:
        """The immediate lane (http_protocol.py): a plain GET or HEAD of a hot object, answered
        without an ASGI task, or None (the request then runs as usual, from the start).

        Only what the cached path answers qualifies, and of objects in a blob file only those
        sent in one piece (a larger one streams, under the ASGI path's flow control).
        """
        if scope["method"] not in _CACHED_METHODS:
            return None
        hit = self._cached_gets.answer(scope, file_limit=READ_CHUNK)
        if hit is None:
            return None
        lines = self._cached_gets.header_lines(hit)
        body: bytes | FileRange = hit.data if hit.data is not None and not hit.head else b""
        if hit.reader is not None and lines is not None:
            range_at = getattr(hit.reader, "range_at", None)
            body = (range_at or hit.reader.read_at)(0, hit.record.size)
            if len(body) != hit.record.size:
                lines = None  # the file is shorter than its record: the general path reports that
        if lines is None:
            if hit.reader is not None:
                hit.reader.close()
            return None
        lines += _identity_lines(self._request_id())
        return Immediate(lines, body, hit.reader.close if hit.reader is not None else None)

    def _request_id(self) -> str:
        return f"{self._id_prefix}{next(self._request_ids) & 0xFFFFFFFFFFFF:012X}"

    async def _respond(self, scope: Scope, receive: Receive, request_id: str) -> tuple[Response, Request | None]:
        resource = scope.get("path", "/")
        request = None
        try:
            request = Request.from_scope(scope, receive, request_id)
            if request.path.startswith(FUNCTION_URL_PREFIX):
                return await handle_function_url(request, self.c), request
            if request.path.startswith(ADMIN_PREFIX):
                return await handle_admin(request, self.c), request
            if request.path.startswith(CODE_DOWNLOAD_PREFIX):
                return await handle_code_download(request, self.c), request
            if request.path.startswith("/_bayou/"):
                return admin_response(request.path), request
            return await self._handle(request), request
        except errors.BayouError as exc:
            return self._error(exc, request, resource, request_id), request
        except Exception as exc:
            log.error("internal error, request %s: %s", request_id, _one_line(exc))
            log.debug("traceback for request %s", request_id, exc_info=True)
            internal = errors.ServiceException() if request is not None and _is_lambda(request) else errors.InternalError()
            return self._error(internal, request, resource, request_id), request

    @staticmethod
    def _error(exc: errors.BayouError, request: Request | None, resource: str, request_id: str) -> Response:
        if isinstance(exc, errors.LambdaError) or (request is not None and _is_lambda(request)):
            return lambda_error_response(exc)
        return error_response(exc, resource=resource, request_id=request_id)

    async def _handle(self, request: Request) -> Response:
        settings = self.c.settings
        bucket, key = router.split_target(request.path, request.headers.get("host", ""), settings.domains)
        if bucket is not None and key is None and _is_form_upload(request):
            events.current_origin.set(events.EventOrigin(request.client, request.request_id, "", "Post"))
            return await post_object(request, bucket, self.c.storage, self.c.keyring, settings.public_url)
        head = RequestHead(request.method, request.raw_path, request.raw_query, request.headers, request.query_pairs)
        resource_path = None
        if bucket is not None and not request.path.startswith(f"/{bucket}"):
            resource_path = f"/{bucket}{request.raw_path}"  # virtual-host style, as SigV2 signs it
        body_sha256 = None
        if needs_body_sha256(head):
            body_sha256 = await _preread(request)
        auth = authenticate(
            head, self.c.keyring, self.c.storage.clock.now(), settings.region,
            body_sha256=body_sha256, resource_path=resource_path,
        )
        if auth.service == "lambda":
            endpoint = lambda_router.route(request.method, request.raw_path, request.query_pairs)
            ctx = LambdaContext(
                request, self.c.registry, self.c.invoker, settings.region, settings.public_url,
                self.c.storage.clock.now, code_signing_key=self._code_key, log_dir=self._log_dir,
            )
            return await lambda_dispatch.handle(ctx, endpoint)
        if auth.service == "scheduler":
            return await scheduler_dispatch.handle(request, self.c)
        if auth.service == OBJECT_LAMBDA:
            return await self._transforms.write_get_object_response(request, auth)
        endpoint = router.route(request.method, bucket, key, request.query, request.headers)
        events.current_origin.set(events.EventOrigin(request.client, request.request_id, auth.access_key))
        return await dispatch.handle(S3Context(request, auth, self.c.storage, self._destination_exists, self._transforms), endpoint)

    async def _destination_exists(self, kind: str, arn: str) -> bool:
        """A notification destination: an existing function (and qualifier), or a configured target."""
        if kind != "function":
            return await self.c.targets.exists(arn)
        parsed = events.parse_function_arn(arn)
        if parsed is None:
            return False
        try:
            await self.c.registry.resolve(parsed[0], parsed[1])
        except errors.BayouError:
            return False
        return True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._run_services:
                    self._waker.listen()
                await self._transforms.start_relay()
                self._services.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.c.invoker.host.close()  # first: steps waiting on the host end now
                await self._services.stop()
                for worker in self._services.workers:
                    close = getattr(worker, "close", None)
                    if close is not None:
                        await close()  # broker connections, saved counters
                self._waker.close()
                self._transforms.close_relay()
                self.c.meta.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _one_line(exc: BaseException) -> str:
    """`Type: message at file:line` of the innermost frame: enough to find it, one log line."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


async def _preread(request: Request) -> str:
    """Read the whole (bounded) body and return its SHA-256; handlers then read it from memory."""
    body = bytearray()
    async for chunk in request.raw_chunks():
        body += chunk
        if len(body) > LAMBDA_BODY_LIMIT:
            raise errors.RequestTooLargeException("Request must be smaller than 75497472 bytes.")
    request.preread = bytes(body)
    return hashlib.sha256(body).hexdigest()
