"""uvicorn's httptools protocol, with the writes of one event-loop step sent together.

uvicorn writes a response's head and its body as two socket sends. On loopback and small objects
each send costs about as much as the rest of the request (the kernel runs the receiver's TCP path
inside the sender's syscall), so the 4 KiB GET path spent ~40 % of its time there. Buffering the
writes made within one step and flushing them with a single `writelines` (one writev) at the end
of the step halves that cost and adds no latency: nothing else runs on the loop in between.

Only small writes wait. Once the pending bytes reach `FLUSH_AT` they go to the real transport at
once, so its buffer, and uvicorn's flow control that watches it, see a streamed body as it is
written: a 5 GiB GET must apply back-pressure, not accumulate in this proxy.

A body piece that is a `FileRange` (a range of a blob file) is sent with sendfile(2), as nginx
does, when nothing is queued on the connection: what is pending (the response head) is written to
the socket directly, then the file range, so order is kept and the bytes never pass through this
process. Whatever the socket does not take at once (it is non-blocking) goes to the transport as a
view of the file's pages, and the transport's buffering and flow control take over from there.
uvloop implements neither `loop.sendfile` nor a zero-copy path of its own, hence this.

The immediate lane. For each request uvicorn builds a request-response cycle, starts an asyncio
task for the ASGI app and turns every `send` message into a write; for a hot 4 KiB GET that
machinery cost about as much CPU as Bayou's own work (authentication included): a trivial ASGI
app on this protocol used ~21 µs of user CPU per request, the same response written from the
parser callback ~11 µs. So when a GET or HEAD arrives on a connection with no response in
progress, the protocol first offers it to the app's `answer_now(scope)`; the app answers only
what its cached path can answer whole without awaiting anything (a plain, correctly signed GET or
HEAD of a cached object, at most 1 MiB) and the protocol writes that response at once: the same
status line, Date header, lower-case header names and framing as uvicorn's path. Everything else
(None) continues exactly as uvicorn handles it. Pipelined requests behind an unfinished response,
a transport whose buffer is full, HTTP/1.0, `Connection: close` and upgrades never take the lane.

A body cut short by a half-close. uvicorn closes the connection when the client ends its half of
it (EOF), so a client that sends less than it announced and shuts down its writing side never
learns why nothing was stored. When EOF arrives in the middle of a request's body, this protocol
keeps the connection open for writing, ends the request's body with `http.disconnect` (the app
answers S3's IncompleteBody, as AWS does) and closes once that answer is written. EOF anywhere
else closes as uvicorn does: a request whose body is complete may hold a long response open (a
notification stream waits for `http.disconnect`), and it must see the client go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bayou.api.http import Immediate
from bayou.blobs.local import FileRange

log = logging.getLogger("bayou.http")
FLUSH_AT = 64 * 1024


class CoalescingTransport:
    """A transport proxy that gathers the writes of one loop step into one writelines call."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._scheduled = False

    def write(self, data: bytes | FileRange) -> None:
        if isinstance(data, FileRange):
            self._send_file(data)
            return
        if not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_AT:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)

    def write_now(self, data: bytes) -> None:
        """A whole response, written at once unless earlier bytes wait (then after them, in order):
        the immediate lane's response is complete, so there is nothing to gather it with."""
        if self._pending or not data:
            self.write(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def _flush_soon(self) -> None:
        self._scheduled = False
        self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._pending_size = self._pending, [], 0
        if pending and not self._transport.is_closing():
            self._transport.writelines(pending)

    def _send_file(self, piece: FileRange) -> None:
        """Pending bytes, then the file range, straight to the socket; the rest through the transport."""
        pending, self._pending, self._pending_size = self._pending, [], 0
        transport = self._transport
        if transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is None or transport.get_write_buffer_size() or transport.get_extra_info("sslcontext") is not None:
            # Queued bytes must go first, and TLS must see every byte: no shortcut then.
            self._write_rest(list(pending), piece, 0)
            return
        fd = sock.fileno()
        head = b"".join(pending)
        written = sent = 0
        try:
            while written < len(head):
                written += os.write(fd, head[written:] if written else head)
            while sent < piece.count:
                count = os.sendfile(fd, piece.fd, piece.offset + sent, piece.count - sent)
                if count == 0:
                    break  # the file is shorter than the range: the transport's view will say so
                sent += count
        except (BlockingIOError, InterruptedError):
            pass  # the socket's buffer is full: the transport sends the rest when it drains
        except OSError:
            pass  # a broken connection: the transport's own write reports it its way
        rest: list[bytes | memoryview] = [head[written:]] if written < len(head) else []
        self._write_rest(rest, piece, sent)

    def _write_rest(self, rest: list[bytes | memoryview], piece: FileRange, sent: int) -> None:
        if sent < piece.count:
            view = piece.view(sent)
            rest.append(view)
            if len(view) < piece.count - sent:  # the file was cut short: end the response, do not frame it wrong
                self._transport.writelines(rest)
                self._transport.close()
                return
        if rest:
            self._transport.writelines(rest)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


LANE_METHODS = frozenset({b"GET", b"HEAD"})


class BayouHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answer_now = getattr(self.app, "answer_now", None)
        self._answered = False  # the current request was answered by the immediate lane
        self._defaults: tuple[object, bytes] = (None, b"")
        self._cut: object = None  # the cycle whose body the client cut short with a half-close

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        self._answered = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._answer_now is not None and self._lane_open():
            scope = self._lane_scope()
            answer = self._offer(scope) if scope is not None else None
            if answer is not None:
                self._answered = True
                self._write_immediate(answer)
                self.on_response_complete()
                return
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous:
            cycle.receive = self._receive_until_cut(cycle)  # type: ignore[method-assign]

    def eof_received(self) -> bool | None:
        """EOF in the middle of a body: keep the connection to answer (True); otherwise close (None)."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.more_body or self._answered:
            return None
        self._cut = cycle
        cycle.keep_alive = False  # the connection ends with this request's answer
        cycle.message_event.set()  # a receive() waiting for more body wakes up and sees the end
        return True

    def _receive_until_cut(self, cycle: Any) -> Any:
        """The cycle's receive, ending in `http.disconnect` once what arrived of a cut body is read.
        Installed before the ASGI task first runs (it takes `cycle.receive` then)."""
        receive = cycle.receive

        async def receive_until_cut() -> Any:
            if cycle is self._cut and not cycle.body:
                return {"type": "http.disconnect"}
            return await receive()

        return receive_until_cut

    def _offer(self, scope: dict[str, Any]) -> Immediate | None:
        """The app's immediate answer; a failure there must not become uvicorn's 400 for a bad
        request: the request then takes the general path, which reports errors its own way."""
        try:
            return self._answer_now(scope)  # type: ignore[misc]
        except Exception:
            log.exception("the immediate lane failed; the request takes the general path")
            return None

    def on_body(self, body: bytes) -> None:
        if not self._answered:  # the lane answers only requests without a body; never twice
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._answered:
            super().on_message_complete()

    def _lane_open(self) -> bool:
        parser = self.parser
        cycle = self.cycle
        return (
            parser.get_method() in LANE_METHODS
            and (cycle is None or cycle.response_complete)
            and not self.flow.write_paused
            and parser.get_http_version() == "1.1"
            and parser.should_keep_alive()
            and not parser.should_upgrade()
        )

    def _lane_scope(self) -> dict[str, Any] | None:
        """The request line in the scope, as uvicorn's `on_headers_complete` fills it (None: a path
        that is not ASCII, which uvicorn refuses with a 400 of its own)."""
        url = httptools.parse_url(self.url)
        raw_path = url.path
        if not raw_path.isascii():
            return None
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        scope["method"] = self.parser.get_method().decode("ascii")
        path = raw_path.decode("ascii")
        scope["path"] = self.root_path + (urllib.parse.unquote(path) if "%" in path else path)
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = url.query or b""
        return scope

    def _write_immediate(self, answer: Immediate) -> None:
        defaults = self.server_state.default_headers  # replaced (not changed) when the Date moves on
        if self._defaults[0] is not defaults:
            self._defaults = (defaults, b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in defaults))
        head = (STATUS_LINE[200], self._defaults[1], answer.header_lines, b"\r\n")
        try:
            if isinstance(answer.body, FileRange):
                self.transport.write(b"".join(head))
                self.transport.write(answer.body)  # type: ignore[arg-type]
            else:
                self.transport.write_now(b"".join((*head, answer.body)))  # type: ignore[attr-defined]
        finally:
            if answer.done is not None:
                answer.done()
