"""Routes and handles EventBridge Scheduler requests (boto3's `scheduler` client, rest-json).

Errors are rendered here, in Scheduler's shape, so the app's Lambda renderer never sees them.
"""

from __future__ import annotations

from typing import Any

from bayou.api.http import Request, Response
from bayou.api.lambda_.context import BODY_LIMIT, parse_json_object, read_capped
from bayou.api.scheduler import handlers, router
from bayou.api.scheduler.render import error_response
from bayou.errors import BayouError
from bayou.functions.schedules import Schedules


async def handle(request: Request, components: Any) -> Response:
    """`components` is app.Components (settings, meta, registry, ...); typed Any to keep the layers."""
    try:
        endpoint = router.route(request.method, request.raw_path, request.query)
        body = parse_json_object(await read_capped(request, BODY_LIMIT))
        schedules = Schedules(
            components.meta, components.registry, components.storage.clock.now, components.settings.region
        )
        return await handlers.handle(endpoint, body, schedules)
    except BayouError as exc:
        return error_response(exc)
