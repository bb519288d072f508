"""GetFunction's Code.Location: a time-limited link to a function's deployment package."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Request, Response
from bayou.api.lambda_.render import error_response
from bayou.errors import ServiceException

CODE_DOWNLOAD_PREFIX = "/_bayou/fn-code/"


async def handle_code_download(request: Request, components: Any) -> Response:
    return error_response(ServiceException("Code download is not served yet."))
