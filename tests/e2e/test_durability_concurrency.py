"""Concurrent writers to one key, readers during overwrites, and orphaned blobs after a crash."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import UNSIGNED_PAYLOAD, BayouServer, key_path, md5_hex, sign, unique_bucket, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pool_client(server):
    return server.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))


def _run_threads(n: int, target) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def wrap(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - surfaced in the assertion below
            results[i] = exc

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


@pytest.mark.parametrize(
    "size", [10 * 1024, 127 * 1024, 129 * 1024, 2 * 1024 * 1024], ids=["10K", "127K", "129K", "2M"]
)
def test_concurrent_puts_one_key_one_whole_winner(pool_client, size):
    bucket = unique_bucket("race")
    pool_client.create_bucket(Bucket=bucket)
    n = 10
    for attempt in range(3):
        bodies = [os.urandom(size) for _ in range(n)]
        digests = {md5_hex(b): i for i, b in enumerate(bodies)}
        results = _run_threads(
            n, lambda i, bodies=bodies: pool_client.put_object(Bucket=bucket, Key="k", Body=bodies[i])["ETag"]
        )
        assert all(isinstance(r, str) for r in results), results
        assert sorted(r.strip('"') for r in results) == sorted(digests)  # every PUT acknowledged its own body
        got = pool_client.get_object(Bucket=bucket, Key="k")
        data = got["Body"].read()
        assert md5_hex(data) in digests, (
            f"attempt {attempt}: final object is none of the bodies (len {len(data)})"
        )
        assert got["ETag"] == f'"{md5_hex(data)}"'
        listing = pool_client.list_objects_v2(Bucket=bucket)["Contents"]
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listing] == [("k", size, got["ETag"])]


def test_readers_never_see_a_mix_during_overwrites(pool_client):
    bucket = unique_bucket("rw")
    pool_client.create_bucket(Bucket=bucket)
    bodies = [os.urandom(2 * 1024 * 1024 + i) for i in range(3)] + [os.urandom(50_000)]
    digests = {md5_hex(b) for b in bodies}
    pool_client.put_object(Bucket=bucket, Key="k", Body=bodies[0])
    deadline = time.monotonic() + 4

    def writer(i: int):
        n = 0
        while time.monotonic() < deadline:
            pool_client.put_object(Bucket=bucket, Key="k", Body=bodies[(i + n) % len(bodies)])
            n += 1
        return n

    def reader(i: int):
        seen = 0
        while time.monotonic() < deadline:
            got = pool_client.get_object(Bucket=bucket, Key="k")
            data = got["Body"].read()
            assert md5_hex(data) in digests, f"reader saw a body that was never written (len {len(data)})"
            assert got["ETag"] == f'"{md5_hex(data)}"', "ETag does not describe the body served"
            seen += 1
        return seen

    results = _run_threads(8, lambda i: writer(i) if i < 3 else reader(i))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sum(results[3:]) > 10 and sum(results[:3]) > 3, results


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                pass
    return total


def test_orphans_from_a_crash_are_removed_at_startup(tmp_path):
    """Partial uploads in flight at kill -9 leave bytes in the data dir; the next start removes them.

    Uses only the data dir's total size, not its layout."""
    server = BayouServer(tmp_path / "data")
    server.start()
    socks: list[socket.socket] = []
    try:
        client = server.client(Config(retries={"max_attempts": 1}))
        bucket = unique_bucket("orphans")
        client.create_bucket(Bucket=bucket)
        committed = {f"live/{i}": os.urandom(1024 * 1024 + i) for i in range(3)}
        for k, v in committed.items():
            client.put_object(Bucket=bucket, Key=k, Body=v)
        baseline = _tree_bytes(server.data_dir)

        declared, sent_each, uploads = 32 * 1024 * 1024, 16 * 1024 * 1024, 4
        for i in range(uploads):
            path = key_path(bucket, f"partial/{i}")
            url = f"{server.endpoint}{path}"
            headers = sign(
                server, "PUT", url, {"Content-Length": str(declared)}, payload_hash=UNSIGNED_PAYLOAD
            )
            head = f"PUT {path} HTTP/1.1\r\nHost: {server.address}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
            socks.append(sock)
            sock.sendall(head.encode() + b"\r\n")
            chunk = os.urandom(1024 * 1024)
            for _ in range(sent_each // len(chunk)):
                sock.sendall(chunk)
        grew = wait_until(lambda: _tree_bytes(server.data_dir) >= baseline + 40 * 1024 * 1024, timeout=15)
        assert grew, (
            "partial uploads never reached the data dir (bodies are not streamed to disk there?): "
            f"baseline {baseline}, now {_tree_bytes(server.data_dir)}"
        )
        server.kill9()
        for s in socks:
            s.close()
        server.start()
        cleaned = wait_until(lambda: _tree_bytes(server.data_dir) <= baseline + 8 * 1024 * 1024, timeout=15)
        assert cleaned, (
            f"orphans not removed: baseline {baseline}, after restart {_tree_bytes(server.data_dir)}"
        )
        client = server.client(Config(retries={"max_attempts": 1}))
        for k, v in committed.items():  # the scan must not take live blobs with it
            assert client.get_object(Bucket=bucket, Key=k)["Body"].read() == v
        for i in range(uploads):
            with pytest.raises(ClientError) as ei:
                client.head_object(Bucket=bucket, Key=f"partial/{i}")
            assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        for s in socks:
            s.close()
        server.stop()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """The same checks must hold when several server processes share the data dir."""
    server = BayouServer(tmp_path_factory.mktemp("workers") / "data", extra_args=("--workers", "2"))
    server.start()
    yield server
    server.stop()


def test_workers_conditional_put_exactly_one(two_workers):
    client = two_workers.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))
    bucket = unique_bucket("w2")
    client.create_bucket(Bucket=bucket)
    n = 16
    for round_no in range(5):
        key = f"once-{round_no}"
        bodies = [os.urandom(2000 + i) for i in range(n)]

        def put(i: int, key=key, bodies=bodies):
            try:
                client.put_object(Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*")
                return 200
            except ClientError as exc:
                return exc.response["ResponseMetadata"]["HTTPStatusCode"]

        results = _run_threads(n, put)
        assert results.count(200) == 1, results
        assert all(r in (200, 409, 412) for r in results), results
        winner = bodies[results.index(200)]
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == winner


def test_workers_create_bucket_race(two_workers):
    client = two_workers.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))
    name = unique_bucket("race")

    def create(i: int):
        try:
            client.create_bucket(Bucket=name)
            return 200
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    results = _run_threads(12, create)
    assert results.count(200) == 1, results
    assert set(results) - {200} <= {"BucketAlreadyOwnedByYou"}, results


def test_workers_concurrent_puts_one_key(two_workers):
    client = two_workers.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))
    bucket = unique_bucket("w2")
    client.create_bucket(Bucket=bucket)
    bodies = [os.urandom(300 * 1024) for _ in range(10)]
    results = _run_threads(10, lambda i: client.put_object(Bucket=bucket, Key="k", Body=bodies[i])["ETag"])
    assert all(isinstance(r, str) for r in results), results
    data = client.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert data in bodies


def _fresh_get(server: BayouServer, url: str) -> tuple[int, bytes]:
    """One GET on a new connection, so that successive reads land on either worker process."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_workers_reads_see_every_acknowledged_write(two_workers):
    """Each worker caches hot objects; a write in either must be visible to the next read in both."""
    client = two_workers.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))
    bucket = unique_bucket("w2")
    client.create_bucket(Bucket=bucket)
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "hot"}, ExpiresIn=3600)
    client.put_object(Bucket=bucket, Key="hot", Body=b"v0")
    for _ in range(20):  # warm both workers' caches
        assert _fresh_get(two_workers, url) == (200, b"v0")
    for i in range(1, 31):
        client.put_object(Bucket=bucket, Key="hot", Body=f"v{i}".encode())
        seen = {_fresh_get(two_workers, url) for _ in range(6)}
        assert seen == {(200, f"v{i}".encode())}, (i, seen)
    client.delete_object(Bucket=bucket, Key="hot")
    assert {_fresh_get(two_workers, url)[0] for _ in range(6)} == {404}


def test_workers_reads_never_go_back_in_time(two_workers):
    """Under concurrent overwrites a reader may see a write before it is acknowledged, but once it has
    seen a value it must never read an older one (nor anything older than the last acknowledged write)."""
    client = two_workers.client(Config(max_pool_connections=32, retries={"max_attempts": 1}))
    bucket = unique_bucket("w2")
    client.create_bucket(Bucket=bucket)
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "counter"}, ExpiresIn=3600)
    client.put_object(Bucket=bucket, Key="counter", Body=b"0")
    acknowledged = [0]
    done = threading.Event()

    def writer() -> None:
        for n in range(1, 121):
            client.put_object(Bucket=bucket, Key="counter", Body=str(n).encode())
            acknowledged[0] = n
        done.set()

    problems: list[str] = []

    def reader() -> None:
        last = 0
        while not done.is_set():
            floor = acknowledged[0]
            status, body = _fresh_get(two_workers, url)
            value = int(body) if status == 200 else -1
            if value < max(last, floor):
                problems.append(f"read {value} after seeing {last}, acknowledged {floor}")
            last = max(last, value)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert done.is_set()
    assert problems == []
