"""Listening to bucket events (api/s3/listen.py, `bayou events watch`) against a real server."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .helpers import EMPTY_SHA256, BayouServer, assert_xml_error, server_env, sign, unique_bucket

pytestmark = pytest.mark.e2e

CREATED_REMOVED = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
WAIT = 10.0


def listen_url(server: BayouServer, bucket: str | None, events: tuple[str, ...], **filters: str) -> str:
    params = [("events", e) for e in events] + sorted(filters.items())
    query = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in params)
    return f"{server.endpoint}/{bucket or ''}?{query}"


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next_record(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next event record (blank keep-alive lines are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = next(self.lines)
            if line.strip():
                message = json.loads(line)
                assert len(message["Records"]) == 1
                return message["Records"][0]
        raise AssertionError("no record")


@contextlib.contextmanager
def listening(server: BayouServer, bucket: str | None, events: tuple[str, ...] = CREATED_REMOVED,
              **filters: str) -> Iterator[Stream]:
    url = listen_url(server, bucket, events, **filters)
    headers = sign(server, "GET", url, payload_hash=EMPTY_SHA256)
    with httpx.Client(timeout=httpx.Timeout(10.0, read=WAIT)) as client, client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "application/x-ndjson"
        yield Stream(r)


def listener_docs(server: BayouServer, bucket: str) -> int:
    with contextlib.closing(sqlite3.connect(server.data_dir / "meta.sqlite3", timeout=10)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM fn_docs WHERE kind = 's3-listener' AND name = ?", (bucket,)).fetchone()
        return int(count)


def wait_for(condition: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_put_after_the_stream_opened_arrives(server: BayouServer, s3: Any, bucket: str) -> None:
    with listening(server, bucket) as stream:
        s3.put_object(Bucket=bucket, Key="dir/hello world.txt", Body=b"hello")
        record = stream.next_record()
        assert record["eventName"] == "ObjectCreated:Put"
        assert record["s3"]["bucket"]["name"] == bucket
        assert record["s3"]["object"]["key"] == "dir/hello+world.txt"
        assert record["s3"]["object"]["size"] == 5
        s3.delete_object(Bucket=bucket, Key="dir/hello world.txt")
        assert stream.next_record()["eventName"] == "ObjectRemoved:Delete"


def test_prefix_suffix_and_event_filters(server: BayouServer, s3: Any, bucket: str) -> None:
    with listening(server, bucket, ("s3:ObjectCreated:Put",), prefix="in/", suffix=".csv") as stream:
        for key in ("out/a.csv", "in/a.txt", "in/a.csv"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        s3.delete_object(Bucket=bucket, Key="in/a.csv")
        s3.put_object(Bucket=bucket, Key="in/b.csv", Body=b"xy")
        assert stream.next_record()["s3"]["object"]["key"] == "in/a.csv"
        record = stream.next_record()
        assert (record["eventName"], record["s3"]["object"]["key"]) == ("ObjectCreated:Put", "in/b.csv")


def test_two_listeners_both_receive(server: BayouServer, s3: Any, bucket: str) -> None:
    with listening(server, bucket) as first, listening(server, bucket) as second:
        s3.put_object(Bucket=bucket, Key="shared", Body=b"abc")
        assert first.next_record()["s3"]["object"]["key"] == "shared"
        assert second.next_record()["s3"]["object"]["key"] == "shared"


def test_listening_to_every_bucket(server: BayouServer, s3: Any, bucket: str, bucket2: str) -> None:
    with listening(server, None, ("s3:ObjectCreated:*",)) as stream:
        s3.put_object(Bucket=bucket, Key="one", Body=b"1")
        s3.put_object(Bucket=bucket2, Key="two", Body=b"2")
        seen = {(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"]) for r in (stream.next_record(), stream.next_record())}
    assert seen == {(bucket, "one"), (bucket2, "two")}


def test_a_disconnected_listener_is_forgotten(server: BayouServer, s3: Any, bucket: str) -> None:
    with listening(server, bucket):
        assert listener_docs(server, bucket) == 1
    wait_for(lambda: listener_docs(server, bucket) == 0)
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    with contextlib.closing(sqlite3.connect(server.data_dir / "meta.sqlite3", timeout=10)) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind LIKE 'listen:%'").fetchone()[0] == 0


def test_errors(server: BayouServer) -> None:
    for url, status, code in (
        (listen_url(server, unique_bucket(), CREATED_REMOVED), 404, "NoSuchBucket"),
        (listen_url(server, None, ("s3:ObjectCreated:Nope",)), 400, "InvalidArgument"),
    ):
        response = httpx.get(url, headers=sign(server, "GET", url, payload_hash=EMPTY_SHA256), timeout=WAIT)
        assert_xml_error(response, status, code)


def test_bayou_events_watch_prints_a_line_per_event(server: BayouServer, s3: Any, bucket: str) -> None:
    command = [sys.executable, "-m", "bayou", "events", "watch", bucket, "--endpoint-url", server.endpoint,
               "--access-key", str(server.access_key), "--secret-key", str(server.secret_key)]
    proc = subprocess.Popen(command, env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=str(Path(server.data_dir).parent))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    try:
        wait_for(lambda: listener_docs(server, bucket) == 1 or proc.poll() is not None)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        s3.put_object(Bucket=bucket, Key="watched/file.bin", Body=b"1234567")
        line = lines.get(timeout=WAIT)
        assert "ObjectCreated:Put" in line and "watched/file.bin" in line and line.split()[-1] == "7"
    finally:
        proc.terminate()
        proc.wait(WAIT)
