"""Function URLs: `/_bayou/fn-url/<name>[:<qualifier>]/...` reaches the function as a payload 2.0 event."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Request, Response
from bayou.api.lambda_.render import error_response
from bayou.errors import ServiceException

FUNCTION_URL_PREFIX = "/_bayou/fn-url/"


async def handle_function_url(request: Request, components: Any) -> Response:
    return error_response(ServiceException("Function URLs are not served yet."))
