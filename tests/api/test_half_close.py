"""A client that half-closes its connection in the middle of a request body still gets an answer
(BayouHttpProtocol.eof_received): the body ends in `http.disconnect`, the app's answer is written
with `connection: close`, and the connection then closes. EOF anywhere else closes at once, as
uvicorn does."""

from __future__ import annotations

from typing import Any

from protocol_harness import FakeTransport, connect, run, settle

from bayou.http_protocol import BayouHttpProtocol


class BodyReader:
    """Reads the whole body; answers 200 with its length, or 400 "cut" on `http.disconnect`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "http.disconnect":
                await _answer(send, 400, b"cut")
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await _answer(send, 200, str(len(body)).encode())


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


PUT_HEAD = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"


async def _cut_after(data: bytes, *, settle_first: bool) -> tuple[BodyReader, FakeTransport, object]:
    app = BodyReader()
    protocol, transport = await connect(app)
    protocol.data_received(data)
    if settle_first:
        await settle()  # the app has read what came and waits for more
    kept = protocol.eof_received()
    await settle()
    return app, transport, kept


def test_eof_while_the_app_waits_for_the_rest_of_the_body_is_answered_then_closed() -> None:
    app, transport, kept = run(_cut_after(PUT_HEAD + b"abcd", settle_first=True))
    assert kept is True
    assert app.received[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in app.received) == b"abcd"
    data = bytes(transport.data)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and data.endswith(b"\r\n\r\ncut")
    assert b"connection: close\r\n" in data
    assert transport.closed


def test_eof_before_the_app_reads_delivers_what_arrived_then_the_end() -> None:
    app, transport, kept = run(_cut_after(PUT_HEAD + b"abcd", settle_first=False))
    assert kept is True
    assert b"".join(m.get("body", b"") for m in app.received) == b"abcd"
    assert app.received[-1] == {"type": "http.disconnect"}
    assert bytes(transport.data).endswith(b"cut") and transport.closed


def test_a_chunked_body_cut_short_ends_in_disconnect_not_in_a_short_body() -> None:
    head = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    app, transport, kept = run(_cut_after(head + b"4\r\nabcd\r\n8\r\nef", settle_first=True))
    assert kept is True
    assert app.received[-1] == {"type": "http.disconnect"}
    assert not any(m["type"] == "http.request" and not m.get("more_body") for m in app.received)
    assert bytes(transport.data).endswith(b"cut")


def test_eof_after_a_complete_body_closes_as_uvicorn_does() -> None:
    app, _, kept = run(_cut_after(PUT_HEAD + b"0123456789", settle_first=True))
    assert kept is None  # the transport closes itself
    assert app.received[-1]["more_body"] is False


def test_eof_between_requests_closes() -> None:
    async def go() -> object:
        protocol, _ = await connect(BodyReader())
        return protocol.eof_received()

    assert run(go()) is None


def test_the_next_request_on_a_connection_is_not_taken_for_cut() -> None:
    """A cut marks its own request only: a later request's receive is its own."""

    async def go() -> tuple[BodyReader, BayouHttpProtocol, FakeTransport]:
        app = BodyReader()
        protocol, transport = await connect(app)
        protocol.data_received(PUT_HEAD + b"0123456789")
        await settle()
        protocol.data_received(PUT_HEAD + b"abc")
        await settle()
        return app, protocol, transport

    app, _, transport = run(go())
    assert bytes(transport.data).count(b"HTTP/1.1 200 OK") == 1  # the second still waits for its body
    assert app.received[-1] == {"type": "http.request", "body": b"abc", "more_body": True}
