"""GetFunctionLogs (Bayou's extension): routing, offset paging, rotation, missing functions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bayou.api.lambda_ import dispatch
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.logs import log_path, read_log
from bayou.api.lambda_.render import error_response
from bayou.api.lambda_.router import GetFunctionLogs, route
from bayou.errors import BayouError, InvalidParameterValueException
from bayou.functions.registry import CodeSource, FunctionSpec

from .test_handlers import PUBLIC, REGION, T0, FakeRegistry, make_request

FN = "/2015-03-31/functions/fn/logs"


@pytest.fixture
def registry() -> FakeRegistry:
    """A registry that knows one function, `fn`."""
    fake = FakeRegistry()
    asyncio.run(fake.create_function(FunctionSpec("fn", "python3.11", "app.handler"), CodeSource(zip_bytes=b"zip")))
    return fake


def get(registry: FakeRegistry, log_dir: Path | None, path: str, pairs: list[tuple[str, str]]) -> tuple[int, Any, dict[str, str]]:
    async def serve() -> Any:
        request = make_request("GET", path, pairs, b"", {})
        try:
            endpoint = route(request.method, request.raw_path, request.query_pairs)
            ctx = LambdaContext(request, registry, None, REGION, PUBLIC, lambda: T0, log_dir=log_dir)
            return await dispatch.handle(ctx, endpoint)
        except BayouError as exc:
            return error_response(exc)

    response = asyncio.run(serve())
    return response.status, json.loads(response.body), dict(response.headers)


@pytest.mark.parametrize(
    ("path", "pairs", "expected"),
    [
        (FN, [], GetFunctionLogs("fn", 0)),
        (FN, [("offset", "42")], GetFunctionLogs("fn", 42)),
        (FN + "/", [("offset", "")], GetFunctionLogs("fn", 0)),
        ("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/logs", [],
         GetFunctionLogs("fn", 0)),
    ],
)
def test_route(path: str, pairs: list[tuple[str, str]], expected: GetFunctionLogs) -> None:
    assert route("GET", path, pairs) == expected


@pytest.mark.parametrize("offset", ["-1", "x", "1.5", "²", "9" * 19])
def test_route_rejects_bad_offsets(offset: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        route("GET", FN, [("offset", offset)])


def test_route_rejects_qualified_names() -> None:
    with pytest.raises(InvalidParameterValueException):
        route("GET", "/2015-03-31/functions/fn:live/logs", [])


def test_pages_through_the_file(tmp_path: Path, registry: FakeRegistry) -> None:
    text = "".join(f"line {i}\n" for i in range(100)).encode()
    log_path(tmp_path, "fn").write_bytes(text)
    status, body, headers = get(registry, tmp_path, FN, [])
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {"events": text.decode(), "nextOffset": len(text)}
    status, body, _ = get(registry, tmp_path, FN, [("offset", str(len(text)))])
    assert body == {"events": "", "nextOffset": len(text)}
    with open(log_path(tmp_path, "fn"), "ab") as f:
        f.write(b"more\n")
    status, body, _ = get(registry, tmp_path, FN, [("offset", str(len(text)))])
    assert body == {"events": "more\n", "nextOffset": len(text) + 5}


def test_function_without_log_yet(tmp_path: Path, registry: FakeRegistry) -> None:
    assert get(registry, tmp_path, FN, [])[:2] == (200, {"events": "", "nextOffset": 0})


def test_missing_function_is_resource_not_found(tmp_path: Path) -> None:
    log_path(tmp_path, "fn").write_bytes(b"left over from a deleted function\n")
    status, body, headers = get(FakeRegistry(), tmp_path, FN, [])
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert body["message"].startswith("Function not found")


def test_no_log_dir_is_a_service_error(registry: FakeRegistry) -> None:
    status, _, headers = get(registry, None, FN, [])
    assert status == 500 and headers["x-amzn-ErrorType"] == "ServiceException"


def test_limit_cuts_at_a_line_boundary(tmp_path: Path) -> None:
    log_path(tmp_path, "fn").write_bytes(b"aaaa\nbbbb\ncccc\n")
    chunk = read_log(tmp_path, "fn", 0, limit=12)
    assert (chunk.data, chunk.next_offset) == (b"aaaa\nbbbb\n", 10)
    chunk = read_log(tmp_path, "fn", 10, limit=12)
    assert (chunk.data, chunk.next_offset) == (b"cccc\n", 15)


def test_limit_never_splits_a_utf8_character(tmp_path: Path) -> None:
    data = "é€😀".encode()  # 2 + 3 + 4 bytes, no newline
    log_path(tmp_path, "fn").write_bytes(data)
    offset, pieces = 0, []
    for _ in range(10):
        chunk = read_log(tmp_path, "fn", offset, limit=4)
        if not chunk.data:
            break
        pieces.append(chunk.data.decode())  # each piece decodes on its own
        offset = chunk.next_offset
    assert "".join(pieces) == "é€😀" and offset == len(data)


def test_rotation_continues_from_the_rotated_file(tmp_path: Path) -> None:
    path = log_path(tmp_path, "fn")
    path.write_bytes(b"one\ntwo\n")
    seen = read_log(tmp_path, "fn", 0)
    assert seen.next_offset == 8
    with open(path, "ab") as f:
        f.write(b"three\n")
    path.rename(str(path) + ".1")  # what the host does at 1 MiB
    path.write_bytes(b"four\n")
    chunk = read_log(tmp_path, "fn", seen.next_offset)
    assert (chunk.data, chunk.next_offset, chunk.note) == (b"three\nfour\n", 5, None)


def test_rotation_past_the_kept_generation_restarts_with_a_note(tmp_path: Path, registry: FakeRegistry) -> None:
    path = log_path(tmp_path, "fn")
    Path(str(path) + ".1").write_bytes(b"short\n")
    path.write_bytes(b"new\n")
    chunk = read_log(tmp_path, "fn", 500)
    assert (chunk.data, chunk.next_offset) == (b"new\n", 4)
    assert chunk.note and "restarts at 0" in chunk.note
    status, body, _ = get(registry, tmp_path, FN, [("offset", "500")])
    assert (status, body["events"], body["nextOffset"]) == (200, "new\n", 4) and "restarts at 0" in body["note"]
