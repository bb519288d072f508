"""Bucket events to a webhook through a real server: the test event, then S3 records (signed, keys
encoded, sequencers increasing per key); a webhook down for 30 s gets its backlog in order; one that
answers 500 forever gets nothing lost: the events are dead-lettered to a bucket prefix."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_plus

import pytest

from .helpers import BayouServer, free_port, unique_bucket
from .test_admin_targets import admin

pytestmark = pytest.mark.e2e
SECRET = "webhook-secret"


class Receiver:
    """A webhook on a fixed port that can go down and come back."""

    def __init__(self, status: int = 200) -> None:
        self.port = free_port()
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.status < 300:
                    with receiver._lock:
                        receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if len(bodies) >= count:
                return bodies
            time.sleep(0.1)
        raise AssertionError(f"{len(self.bodies())} of {count} webhook calls after {timeout} s: {self.bodies()}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    if r._server is not None:
        r.down()


def add_target(server: BayouServer, target_id: str, url: str, **extra: Any) -> str:
    resp = admin(server, "PUT", f"/targets/{target_id}",
                 {"type": "webhook", "config": {"url": url, "secret": SECRET, "timeout": 2}, **extra})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["arn"])


def notify(s3: Any, bucket: str, arn: str) -> None:
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"Id": "to-hook", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]},
    ]})


def records(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for body in bodies for r in body.get("Records", [])]


def test_test_event_then_records(server: BayouServer, s3: Any, receiver: Receiver) -> None:
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    arn = add_target(server, "hook", receiver.url)
    notify(s3, bucket, arn)
    test_event, = receiver.wait_for(1, 15)
    assert test_event["Event"] == "s3:TestEvent" and test_event["Bucket"] == bucket
    key = "dir/a b é😀.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello world")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"")
    s3.delete_object(Bucket=bucket, Key=key)
    bodies = receiver.wait_for(5, 15)
    got = records(bodies[1:])
    assert [r["eventName"] for r in got] == ["ObjectCreated:Put"] * 3 + ["ObjectRemoved:Delete"]
    first = got[0]
    assert first["eventSource"] == "aws:s3" and first["eventVersion"] == "2.1"
    assert first["s3"]["bucket"]["name"] == bucket and first["s3"]["configurationId"] == "to-hook"
    obj = first["s3"]["object"]
    assert obj["key"] == "dir/a+b+%C3%A9%F0%9F%98%80.txt" and unquote_plus(obj["key"]) == key
    assert obj["size"] == 5 and obj["eTag"] == hashlib.md5(b"hello").hexdigest()
    assert got[1]["s3"]["object"]["size"] == 11
    same_key = [int(r["s3"]["object"]["sequencer"], 16) for r in got if unquote_plus(r["s3"]["object"]["key"]) == key]
    assert len(same_key) == 3 and same_key == sorted(same_key) and len(set(same_key)) == 3
    for headers, body in receiver.received:
        assert headers["x-bayou-signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert [h["x-bayou-event"] for h, _ in receiver.received][:2] == ["s3:TestEvent", "ObjectCreated:Put"]


def test_backlog_after_30_s_down_arrives_in_order(server: BayouServer, s3: Any, receiver: Receiver) -> None:
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    notify(s3, bucket, add_target(server, "flaky", receiver.url))
    receiver.wait_for(1, 15)
    receiver.down()
    keys = ["k1", "k2", "k 3"]
    sent = []
    started = time.monotonic()
    for i in range(12):
        key = keys[i % 3]
        s3.put_object(Bucket=bucket, Key=key, Body=f"{key}-{i}".encode())
        sent.append((key, len(f"{key}-{i}")))
    rows = admin(server, "GET", "/events/status").json()["Targets"]
    assert next(r for r in rows if r["arn"] == "arn:bayou:sqs::flaky:webhook")["pending"] > 0
    time.sleep(max(0.0, 30 - (time.monotonic() - started)))
    receiver.up()
    got = records(receiver.wait_for(13, 45)[1:])
    assert [(unquote_plus(r["s3"]["object"]["key"]), r["s3"]["object"]["size"]) for r in got] == sent
    for key in keys:
        seqs = [int(r["s3"]["object"]["sequencer"], 16) for r in got if unquote_plus(r["s3"]["object"]["key"]) == key]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = next(r for r in admin(server, "GET", "/events/status").json()["Targets"]
                   if r["arn"] == "arn:bayou:sqs::flaky:webhook")
        if row["pending"] == 0 and row["delivered"] >= 13:
            break
        time.sleep(0.5)
    assert row["pending"] == 0 and row["delivered"] >= 13 and row["last_error"], row


def test_failing_webhook_events_are_dead_lettered_to_a_bucket(server: BayouServer, s3: Any) -> None:
    failing = Receiver(status=500)
    try:
        bucket, dlq = unique_bucket(), unique_bucket()
        s3.create_bucket(Bucket=bucket)
        s3.create_bucket(Bucket=dlq)
        arn = add_target(server, "broken", failing.url, max_age_seconds=2, dead_letter=f"arn:aws:s3:::{dlq}/dead")
        notify(s3, bucket, arn)
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"obj-{i}", Body=b"x" * i)
        deadline = time.monotonic() + 40
        contents: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(contents) < 4:
            contents = s3.list_objects_v2(Bucket=dlq, Prefix="dead/broken/").get("Contents", [])
            time.sleep(0.5)
        assert len(contents) == 4, contents
        letters = [json.loads(s3.get_object(Bucket=dlq, Key=c["Key"])["Body"].read()) for c in contents]
        assert letters[0]["message"]["Event"] == "s3:TestEvent"
        assert [r["message"]["Records"][0]["s3"]["object"]["key"] for r in letters[1:]] == ["obj-0", "obj-1", "obj-2"]
        assert all(r["target"] == arn and "HTTP 500" in r["error"] for r in letters)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = next(r for r in admin(server, "GET", "/events/status").json()["Targets"] if r["arn"] == arn)
            if row["dead_lettered"] == 4:
                break
            time.sleep(0.5)
        assert row["dead_lettered"] == 4 and row["pending"] == 0 and "HTTP 500" in row["last_error"], row
    finally:
        failing.down()
