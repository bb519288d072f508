"""How a worker treats a function host that fails around an invocation, or a request it cannot send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bayou.errors import RequestTooLargeException, ServiceException
from bayou.functions.host_client import HostClient
from bayou.functions.invoker import FunctionCredentials, Invoker
from bayou.functions.models import CodeRef, FunctionVersion, Resolved
from bayou.functions.protocol import MAX_BODY
from bayou.services.events.webhook import _origin


def test_a_body_the_host_would_refuse_is_refused_before_any_connection() -> None:
    client = HostClient("/nonexistent/socket")  # never reached: the check comes first
    with pytest.raises(RequestTooLargeException):
        asyncio.run(client.request({"op": "invoke"}, b"x" * (MAX_BODY + 1)))


class ErrorHost:
    async def invoke(self, header: dict[str, Any], spec: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        return {"status": "error", "error": "OSError: No space left on device"}, b""


class NoSettings:
    async def get_setting(self, *args: Any) -> None:
        return None

    async def get_doc(self, *args: Any) -> None:
        return None

    def code_dir(self, version: FunctionVersion) -> str:
        return "/tmp"


def test_a_host_error_is_a_service_exception_not_a_successful_empty_result() -> None:
    config = FunctionVersion("f", "$LATEST", "python3.11", "app.handler", CodeRef("blob", "ab" * 32, 1))
    invoker = Invoker(NoSettings(), ErrorHost(), NoSettings(), FunctionCredentials("http://x", "a", "s"),  # type: ignore[arg-type]
                      region="us-east-1", now=lambda: 1.0)
    target = Resolved(config, "$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:f", None)
    with pytest.raises(ServiceException, match="No space left"):
        asyncio.run(invoker.invoke(target, b"{}"))


def test_webhook_errors_show_the_origin_not_the_secret_path() -> None:
    assert _origin("https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc") == "https://hooks.example.com/..."
    assert _origin("http://user:pw@127.0.0.1:8080/h") == "http://127.0.0.1:8080/..."
