"""Bayou's admin API for event targets (`/_bayou/admin/targets/...`), used by `bayou admin target`."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Request, Response
from bayou.api.lambda_.render import error_response
from bayou.errors import ServiceException

ADMIN_PREFIX = "/_bayou/admin/"


async def handle_admin(request: Request, components: Any) -> Response:
    return error_response(ServiceException("The admin API is not served yet."))
