"""The immediate lane (http_protocol.BayouHttpProtocol): which requests the protocol offers to the
app's `answer_now`, how it writes what the app answers, and that everything else runs as uvicorn
runs it (an ASGI task), in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from protocol_harness import connect, run, settle

from bayou.api.http import Immediate
from bayou.http_protocol import BayouHttpProtocol

LINES = b"etag: \"abc\"\r\ncontent-length: 4\r\n"


class App:
    """An ASGI app with a lane: answers `answer_now` for paths starting with /hot."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, bytes, bytes]] = []
        self.asgi: list[str] = []
        self.release = asyncio.Event()
        self.done_calls = 0

    def answer_now(self, scope: dict[str, Any]) -> Immediate | None:
        self.offered.append((scope["method"], scope["raw_path"], scope["query_string"]))
        if not scope["raw_path"].startswith(b"/hot"):
            return None
        body = b"" if scope["method"] == "HEAD" else b"data"
        return Immediate(LINES, body, self._done)

    def _done(self) -> None:
        self.done_calls += 1

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.asgi.append(f"{scope['method']} {scope['path']}")
        if scope["path"].startswith("/slow"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"asgi"})


def test_a_hot_get_is_written_at_once_with_uvicorns_framing() -> None:
    async def go() -> tuple[App, bytes]:
        app = App()
        protocol, transport = await connect(app)
        protocol.data_received(b"GET /hot/k?X-Amz-Signature=s HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        protocol.connection_lost(None)
        return app, bytes(transport.data)

    app, data = run(go())
    assert app.offered == [("GET", b"/hot/k", b"X-Amz-Signature=s")]
    assert app.asgi == []  # no ASGI task ran
    assert data == b"HTTP/1.1 200 OK\r\ndate: Sun, 22 Nov 2026 14:00:00 GMT\r\n" + LINES + b"\r\ndata"
    assert app.done_calls == 1


def test_head_gets_the_headers_and_no_body() -> None:
    async def go() -> bytes:
        app = App()
        protocol, transport = await connect(app)
        protocol.data_received(b"HEAD /hot/k HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        return bytes(transport.data)

    assert run(go()).endswith(LINES + b"\r\n")


def test_keep_alive_requests_on_one_connection_all_take_the_lane() -> None:
    async def go() -> tuple[App, bytes, BayouHttpProtocol]:
        app = App()
        protocol, transport = await connect(app)
        for _ in range(3):
            protocol.data_received(b"GET /hot/k HTTP/1.1\r\nHost: h\r\n\r\n")
            await settle()
        return app, bytes(transport.data), protocol

    app, data, protocol = run(go())
    assert data.count(b"HTTP/1.1 200 OK") == 3 and app.asgi == []
    assert protocol.server_state.total_requests == 3


def test_what_the_app_declines_runs_as_an_asgi_task() -> None:
    async def go() -> tuple[App, bytes]:
        app = App()
        protocol, transport = await connect(app)
        protocol.data_received(b"GET /cold/k HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        return app, bytes(transport.data)

    app, data = run(go())
    assert app.offered == [("GET", b"/cold/k", b"")] and app.asgi == ["GET /cold/k"]
    assert data.endswith(b"\r\n\r\nasgi")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"PUT /hot/k HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
        b"DELETE /hot/k HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /hot/k HTTP/1.0\r\nHost: h\r\n\r\n",
        b"GET /hot/k HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET /hot/k HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    ],
)
def test_other_methods_versions_closing_and_upgrades_are_never_offered(request_bytes: bytes) -> None:
    async def go() -> App:
        app = App()
        protocol, _ = await connect(app)
        protocol.data_received(request_bytes)
        await settle()
        return app

    app = run(go())
    assert app.offered == []


def test_a_full_transport_keeps_the_lane_closed() -> None:
    async def go() -> list[tuple[str, bytes, bytes]]:
        app = App()
        protocol, _ = await connect(app)
        protocol.pause_writing()  # the transport's buffer is above its high-water mark
        protocol.data_received(b"GET /hot/k HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        offered = list(app.offered)
        protocol.resume_writing()  # the ASGI task waits for that; let it finish
        await settle()
        return offered

    assert run(go()) == []


def test_pipelined_requests_behind_an_unfinished_response_keep_their_order() -> None:
    async def go() -> tuple[App, bytes]:
        app = App()
        protocol, transport = await connect(app)
        protocol.data_received(
            b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /hot/k HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        await settle()
        assert transport.data == b""  # the hot request waits behind the slow one
        app.release.set()
        await settle()
        return app, bytes(transport.data)

    app, data = run(go())
    # The slow request was offered and declined; the hot one was not offered (a response was in
    # progress): it ran as an ASGI task after the first, so the answers are in order.
    assert app.offered == [("GET", b"/slow", b"")]
    assert app.asgi == ["GET /slow", "GET /hot/k"]
    assert data.count(b"asgi") == 2


def test_a_non_ascii_path_gets_uvicorns_400_not_the_lane() -> None:
    async def go() -> tuple[App, bytes]:
        app = App()
        protocol, transport = await connect(app)
        protocol.data_received("GET /hot/\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        await settle()
        return app, bytes(transport.data)

    app, data = run(go())
    assert app.offered == [] and data.startswith(b"HTTP/1.1 400")


def test_a_failing_lane_hands_the_request_to_the_asgi_path() -> None:
    class Broken(App):
        def answer_now(self, scope: dict[str, Any]) -> Immediate | None:
            raise RuntimeError("bug in the lane")

    async def go() -> tuple[App, bytes]:
        app = Broken()
        protocol, transport = await connect(app)
        protocol.data_received(b"GET /hot/k HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        return app, bytes(transport.data)

    app, data = run(go())
    assert app.asgi == ["GET /hot/k"] and data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"asgi")
