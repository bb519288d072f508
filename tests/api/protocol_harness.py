"""A BayouHttpProtocol on a recording transport, for tests of what the protocol writes and when.

A plain module (not conftest) so that test files import it by a name no other directory uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from bayou.http_protocol import BayouHttpProtocol


class FakeTransport:
    """What uvicorn's protocol and CoalescingTransport use of a transport; records the bytes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.buffered = 0
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 9000), "peername": ("127.0.0.1", 5555)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.data += piece

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def connect(app: Any) -> tuple[BayouHttpProtocol, FakeTransport]:
    config = Config(app, lifespan="off", proxy_headers=False, server_header=False, access_log=False)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sun, 22 Nov 2026 14:00:00 GMT")]
    protocol = BayouHttpProtocol(config=config, server_state=state, app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
