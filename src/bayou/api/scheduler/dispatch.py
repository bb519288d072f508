"""Routes and handles EventBridge Scheduler requests."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Request, Response
from bayou.api.lambda_.render import error_response
from bayou.errors import ServiceException


async def handle(request: Request, components: Any) -> Response:
    return error_response(ServiceException("Schedules are not served yet."))
