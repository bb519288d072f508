"""services/events/webhook.py against real local HTTP servers: signature, headers, order,
bounded timeouts, errors, and the address (SSRF) checks at config and at send time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bayou.services.events import webhook
from bayou.services.events.targets import TargetConfigError, TargetError, TargetSpec, validate_spec


class Receiver:
    """A local webhook receiver: records every POST and answers with `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def spec(config: dict[str, Any]) -> TargetSpec:
    return TargetSpec("hook", "webhook", config)


def message(key: str, name: str = "ObjectCreated:Put", seq: int = 1) -> dict[str, Any]:
    record = {"eventName": name, "s3": {"object": {"key": key, "sequencer": f"{seq:016X}"}}}
    return {"key": f"bkt/{key}", "body": {"Records": [record]}}


async def send(config: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    target = webhook.create(spec(config))
    try:
        await target.send(messages)
    finally:
        await target.close()


def test_each_message_is_one_signed_post_in_order(receiver: Receiver) -> None:
    messages = [message("a", seq=1), message("dir/é x", seq=2), message("a", "ObjectRemoved:Delete", seq=3)]
    asyncio.run(send({"url": receiver.url, "secret": "s3cret", "headers": {"X-Team": "ml"}}, messages))
    assert len(receiver.requests) == 3
    for (headers, body), sent in zip(receiver.requests, messages, strict=True):
        assert json.loads(body) == sent["body"]
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-bayou-signature"], expected)
        assert headers["content-type"] == "application/json"
        assert headers["x-team"] == "ml"
    assert [h["x-bayou-event"] for h, _ in receiver.requests] == ["ObjectCreated:Put", "ObjectCreated:Put",
                                                                  "ObjectRemoved:Delete"]
    assert receiver.requests[1][0]["x-bayou-key"] == "bkt/dir/%C3%A9%20x"


def test_no_secret_no_signature_and_test_event_name(receiver: Receiver) -> None:
    test_event = {"key": "bkt/", "body": {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bkt"}}
    asyncio.run(send({"url": receiver.url}, [test_event]))
    headers, _ = receiver.requests[0]
    assert "x-bayou-signature" not in headers
    assert headers["x-bayou-event"] == "s3:TestEvent"


def test_batch_mode_posts_one_array(receiver: Receiver) -> None:
    messages = [message("a", seq=1), message("b", seq=2)]
    asyncio.run(send({"url": receiver.url, "batch": True, "secret": "k"}, messages))
    (headers, body), = receiver.requests
    assert json.loads(body) == [m["body"] for m in messages]
    assert headers["x-bayou-signature"] == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_server_error_is_a_target_error_with_progress(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(TargetError, match="HTTP 500") as info:
        asyncio.run(send({"url": receiver.url}, [message("a"), message("b")]))
    assert info.value.delivered == 0
    assert len(receiver.requests) == 1  # stops at the first failure: order is kept


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.status = 307
    with pytest.raises(TargetError, match="HTTP 307"):
        asyncio.run(send({"url": receiver.url}, [message("a")]))


def test_a_server_that_never_answers_is_bounded_by_the_timeout(silent_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TargetError, match="no answer"):
        asyncio.run(send({"url": silent_url, "timeout": 0.5}, [message("a"), message("b")]))
    assert time.monotonic() - started < 0.5 + 0.5


def test_connection_refused_is_a_target_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(TargetError):
        asyncio.run(send({"url": f"http://127.0.0.1:{port}/"}, [message("a")]))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.10.1:8080/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.google.internal./",
])
def test_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(TargetConfigError, match="refused|metadata"):
        asyncio.run(validate_spec(spec({"url": url})))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://10.1.2.3/", "http://[::1]:8080/", "http://localhost/"])
def test_loopback_and_private_addresses_are_allowed(url: str) -> None:
    asyncio.run(validate_spec(spec({"url": url})))


@pytest.mark.parametrize("config", [
    {}, {"url": "ftp://example.com/"}, {"url": "http:///nohost"}, {"url": "http://x/", "timeout": 0},
    {"url": "http://x/", "headers": {"a": 1}}, {"url": "http://x/", "secret": 5},
])
def test_bad_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(TargetConfigError):
        asyncio.run(validate_spec(spec(config)))


def test_send_checks_the_address_again(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    """DNS can change after the target was configured: each send resolves and checks again."""
    target = webhook.create(spec({"url": receiver.url.replace("127.0.0.1", "hook.test")}))

    async def link_local(host: str, port: int) -> list[Any]:
        import ipaddress
        return [ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(webhook, "_addresses", link_local)
    with pytest.raises(TargetError, match="metadata"):
        asyncio.run(target.send([message("a")]))
    assert receiver.requests == []
