"""Bayou's admin API for event targets (`/_bayou/admin/...`), used by `bayou admin`.

JSON in and out, signed with SigV4 like every other request (any service in the credential
scope). Routes:

    GET    /_bayou/admin/targets           {"Targets": [spec, ...]}
    GET    /_bayou/admin/targets/<id>      spec
    PUT    /_bayou/admin/targets/<id>      {"type", "config", "format", "queue_limit", "dead_letter",
                                            "max_attempts", "max_age_seconds"} → spec (validated first)
    DELETE /_bayou/admin/targets/<id>      204
    GET    /_bayou/admin/events/status     {"Targets": [{"arn", "pending", "delivered", ...}], "UpdatedAt"}

Errors are `{"Code", "Message"}` with the HTTP status. The dispatcher runs in worker 0 while this
request may be served by any worker: pending counts are read live from the outbox, the other
counters from the document the dispatcher saves every few seconds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bayou.api.http import Request, Response
from bayou.auth.authenticate import authenticate, needs_body_sha256
from bayou.auth.request import RequestHead
from bayou.errors import BayouError
from bayou.services.events.dispatcher import DEAD_OUTBOX, STATUS_KIND, STATUS_NAME
from bayou.services.events.targets import TargetConfigError, TargetSpec, parse_s3_arn, validate_spec
from bayou.storage.events import EVENT_OUTBOX

ADMIN_PREFIX = "/_bayou/admin/"
BODY_LIMIT = 1024 * 1024
SPEC_FIELDS = frozenset({"id", "type", "config", "format", "queue_limit", "dead_letter", "max_attempts",
                         "max_age_seconds"})


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(status: int, body: Any) -> Response:
    data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    return Response(status, [("Content-Type", "application/json")], data)


def error_response(status: int, code: str, message: str) -> Response:
    return json_response(status, {"Code": code, "Message": message})


async def handle_admin(request: Request, components: Any) -> Response:
    try:
        body = await _authenticated_body(request, components)
        return await _route(request, components, body)
    except AdminError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except BayouError as exc:  # authentication and storage errors keep their code and status
        return error_response(exc.status, exc.code, exc.message)


async def _authenticated_body(request: Request, components: Any) -> bytes:
    """Read the (small) body, then check the signature, including the hash it declares for the body."""
    body = bytearray()
    async for chunk in request.raw_chunks():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise AdminError(413, "RequestTooLarge", f"an admin request body is at most {BODY_LIMIT} bytes")
    digest = hashlib.sha256(body).hexdigest()
    head = RequestHead(request.method, request.raw_path, request.raw_query, request.headers, request.query_pairs)
    auth = authenticate(
        head, components.keyring, components.storage.clock.now(), components.settings.region,
        body_sha256=digest if needs_body_sha256(head) else None,
    )
    payload = auth.payload
    if payload.kind == "sha256" and (payload.sha256_hex or "").lower() != digest:
        raise AdminError(400, "XAmzContentSHA256Mismatch", "The body does not match x-amz-content-sha256.")
    if payload.is_streaming:
        raise AdminError(400, "InvalidRequest", "aws-chunked bodies are not accepted by the admin API")
    return bytes(body)


async def _route(request: Request, components: Any, body: bytes) -> Response:
    parts = request.path[len(ADMIN_PREFIX):].rstrip("/").split("/")
    method = request.method
    if parts == ["targets"]:
        _allow(method, "GET")
        specs = await components.targets.all()
        return json_response(200, {"Targets": [_render(spec) for spec in specs]})
    if len(parts) == 2 and parts[0] == "targets" and parts[1]:
        _allow(method, "GET", "PUT", "DELETE")
        if method == "PUT":
            return await _put(components, parts[1], body)
        if method == "DELETE":
            if not await components.targets.delete(parts[1]):
                raise _no_such_target(parts[1])
            return Response(204)
        spec = await components.targets.get(parts[1])
        if spec is None:
            raise _no_such_target(parts[1])
        return json_response(200, _render(spec))
    if parts == ["events", "status"]:
        _allow(method, "GET")
        return json_response(200, await _status(components))
    raise AdminError(404, "NotFound", f"no admin resource at {request.path}")


def _allow(method: str, *methods: str) -> None:
    if method not in methods:
        raise AdminError(405, "MethodNotAllowed", f"{method} is not allowed here; use {', '.join(methods)}")


def _no_such_target(target_id: str) -> AdminError:
    return AdminError(404, "NoSuchTarget", f"no event target {target_id!r} is configured")


def _render(spec: TargetSpec) -> dict[str, Any]:
    return {**spec.to_doc(), "arn": spec.arn}


async def _put(components: Any, target_id: str, body: bytes) -> Response:
    try:
        doc = json.loads(body or b"{}")
    except ValueError as exc:
        raise AdminError(400, "MalformedJSON", f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AdminError(400, "MalformedJSON", "the body must be a JSON object")
    unknown = sorted(set(doc) - SPEC_FIELDS)
    if unknown:
        raise AdminError(400, "InvalidArgument", f"unknown field(s): {', '.join(unknown)}")
    if doc.setdefault("id", target_id) != target_id:
        raise AdminError(400, "InvalidArgument", "the body's id differs from the one in the path")
    try:
        spec = TargetSpec.from_doc(doc)
        await validate_spec(spec)
    except TargetConfigError as exc:
        raise AdminError(400, "InvalidArgument", str(exc)) from None
    destination = parse_s3_arn(spec.dead_letter) if spec.dead_letter else None
    if destination is not None and await components.storage.meta.get_bucket(destination[0]) is None:
        raise AdminError(400, "InvalidArgument", f"dead-letter bucket {destination[0]} does not exist")
    await components.targets.put(spec)
    return json_response(200, _render(spec))


async def _status(components: Any) -> dict[str, Any]:
    meta = components.storage.meta
    pending = await meta.outbox_counts(f"{EVENT_OUTBOX}:")
    dead = await meta.outbox_counts(f"{DEAD_OUTBOX}:")
    saved_doc = await meta.get_doc(STATUS_KIND, STATUS_NAME, "") or {}
    saved: dict[str, dict[str, Any]] = saved_doc.get("targets") or {}
    specs = {spec.arn: spec for spec in await components.targets.all()}
    arns = set(specs) | set(saved) | {kind.split(":", 1)[1] for kind in (*pending, *dead)}
    rows = []
    for arn in sorted(arns):
        counters = saved.get(arn, {})
        spec = specs.get(arn)
        rows.append({
            "arn": arn, "id": spec.id if spec else None, "type": spec.type if spec else None,
            "configured": spec is not None,
            "pending": pending.get(f"{EVENT_OUTBOX}:{arn}", 0),
            "delivered": counters.get("delivered", 0), "dropped": counters.get("dropped", 0),
            "dead_lettered": counters.get("dead_lettered", 0),
            "dead_letter_queue": dead.get(f"{DEAD_OUTBOX}:{arn}", 0),
            "failures": counters.get("failures", 0), "last_error": counters.get("last_error", ""),
        })
    return {"Targets": rows, "UpdatedAt": saved_doc.get("updated_at")}
