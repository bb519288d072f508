"""CoalescingTransport (http_protocol.py): small writes of one loop step leave as one, and a
FileRange goes to the socket with sendfile(2) only when that keeps the bytes in order."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from bayou.blobs.local import FileRange, LocalBlobReader
from bayou.http_protocol import CoalescingTransport


class RecordingTransport:
    """The real transport's part of the interface, on one end of a socketpair; records writes."""

    def __init__(self, sock: socket.socket, queued: int = 0) -> None:
        self.sock = sock
        self.queued = queued
        self.written: list[bytes] = []
        self.closed = False
        self.sslcontext: object = None

    def get_extra_info(self, name: str) -> object:
        if name == "sslcontext":
            return self.sslcontext
        return self.sock if name == "socket" else None

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return self.closed

    def writelines(self, pieces: list[bytes]) -> None:
        self.written += [bytes(piece) for piece in pieces]

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def blob(tmp_path: Path) -> tuple[LocalBlobReader, bytes]:
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(content)
    reader = LocalBlobReader(path)
    yield reader, content
    reader.close()


def _pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return ours, theirs


def _drain(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(5)
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _transport(real: RecordingTransport) -> CoalescingTransport:
    return CoalescingTransport(real, asyncio.new_event_loop())  # type: ignore[arg-type]


def test_head_and_file_range_go_straight_to_an_idle_socket(blob) -> None:
    reader, content = blob
    ours, theirs = _pair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * 1024 * 1024)
    real = RecordingTransport(ours)
    coalescing = _transport(real)
    coalescing.write(b"HTTP/1.1 200 OK\r\n\r\n")
    piece = reader.range_at(5, 200_000)
    coalescing.write(piece)
    assert real.written == []  # nothing went through the transport
    assert _drain(theirs, 19 + 200_000) == b"HTTP/1.1 200 OK\r\n\r\n" + content[5:200_005]


def test_what_the_socket_does_not_take_goes_through_the_transport_in_order(blob) -> None:
    reader, content = blob
    ours, theirs = _pair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # nobody reads yet: fills at once
    real = RecordingTransport(ours)
    coalescing = _transport(real)
    coalescing.write(b"head")
    coalescing.write(reader.range_at(0, len(content)))
    assert real.written, "the socket could not take 3 MiB; the rest must be handed to the transport"
    direct = len(content) + 4 - sum(len(w) for w in real.written)
    assert 0 < direct < len(content)
    received = _drain(theirs, direct)
    assert (received + b"".join(real.written)) == b"head" + content


def test_queued_bytes_keep_the_file_range_off_the_shortcut(blob) -> None:
    reader, content = blob
    ours, theirs = _pair()
    real = RecordingTransport(ours, queued=100)  # an earlier response is still being sent
    coalescing = _transport(real)
    coalescing.write(b"head")
    coalescing.write(reader.range_at(1000, 5000))
    assert b"".join(real.written) == b"head" + content[1000:6000]
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(1)  # nothing went around the transport's queue


def test_a_file_cut_short_ends_the_connection_instead_of_framing_it_wrong(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"x" * 10_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        ours, theirs = _pair()
        real = RecordingTransport(ours, queued=1)
        coalescing = _transport(real)
        coalescing.write(FileRange(fd, 0, 50_000))  # claims more than the file holds
        assert b"".join(real.written) == b"x" * 10_000
        assert real.closed
    finally:
        os.close(fd)


def test_view_never_maps_past_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 3000)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert bytes(FileRange(fd, 4096, 100_000).view()) == (b"abc" * 3000)[4096:]
        assert bytes(FileRange(fd, 5, 10).view(3)) == (b"abc" * 3000)[8:15]
        assert bytes(FileRange(fd, 9000, 10).view()) == b""
    finally:
        os.close(fd)


def test_a_tls_connection_never_takes_the_shortcut(blob) -> None:
    """sendfile() would write plaintext around the TLS layer: every byte goes through the transport."""
    reader, content = blob
    ours, theirs = _pair()
    real = RecordingTransport(ours)
    real.sslcontext = object()
    coalescing = _transport(real)
    coalescing.write(b"head")
    coalescing.write(reader.range_at(0, 10_000))
    assert b"".join(real.written) == b"head" + content[:10_000]
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(1)


def test_write_now_goes_out_at_once_when_nothing_waits() -> None:
    ours, theirs = _pair()
    real = RecordingTransport(ours)
    transport = _transport(real)
    transport.write_now(b"whole response")
    assert real.written == [b"whole response"]  # no loop step needed


def test_write_now_keeps_its_place_behind_bytes_that_wait() -> None:
    ours, theirs = _pair()
    real = RecordingTransport(ours)
    transport = _transport(real)
    transport.write(b"earlier")
    transport.write_now(b"later")
    assert real.written == []
    transport._flush()
    assert real.written == [b"earlier", b"later"]
