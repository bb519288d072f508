"""kill -9 during a concurrent PUT load: acknowledged writes survive whole, nothing else appears."""

from __future__ import annotations

import random
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .helpers import BayouServer, crc32_b64, list_all_keys, md5_hex, unique_bucket

pytestmark = pytest.mark.e2e

ROUNDS = 5
THREADS = 8


def body_for(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Ledger:
    """What the clients know: every attempted PUT, and which ones got a 200."""

    attempted: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (seed, size)
    acked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _load(client, bucket: str, ledger: Ledger, round_no: int, worker: int, stop: threading.Event) -> None:
    rng = random.Random(round_no * 1000 + worker)
    n = 0
    while not stop.is_set():
        n += 1
        key = f"r{round_no}/w{worker}/{n:05d}"
        # two thirds small enough to be inlined in the metadata row, the rest real blobs
        size = rng.randint(0, 120 * 1024) if rng.random() < 0.66 else rng.randint(200 * 1024, 2 * 1024 * 1024)
        seed = rng.getrandbits(48)
        body = body_for(seed, size)
        with ledger.lock:
            ledger.attempted[key] = (seed, size)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError, OSError):
            return  # the server is gone; this one stays "in flight"
        with ledger.lock:
            ledger.acked.add(key)


def _verify(client, bucket: str, ledger: Ledger, checked: set[str], full: bool) -> None:
    listed = list_all_keys(client, bucket)
    assert len(listed) == len(set(listed)), "duplicate keys in listing"
    never_written = [k for k in listed if k not in ledger.attempted]
    assert never_written == [], never_written
    missing = sorted(ledger.acked - set(listed))
    assert missing == [], f"acknowledged but lost: {missing[:10]}"

    def read_whole(key: str) -> None:
        seed, size = ledger.attempted[key]
        body = body_for(seed, size)
        got = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        data = got["Body"].read()
        # no partial objects: whatever is visible is exactly what some client sent
        assert len(data) == size, (key, len(data), size, key in ledger.acked)
        assert zlib.crc32(data) == zlib.crc32(body), key
        assert got["ETag"] == f'"{md5_hex(body)}"', key
        assert got.get("ChecksumCRC32") == crc32_b64(body), key

    def read_tail(key: str) -> None:
        # already checked whole after an earlier restart: its blob must still be there
        seed, size = ledger.attempted[key]
        if size == 0:
            return read_whole(key)
        got = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={size - 1}-")
        assert got["Body"].read() == body_for(seed, size)[-1:], key
        assert got["ContentRange"] == f"bytes {size - 1}-{size - 1}/{size}", key

    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(read_whole if full or k not in checked else read_tail, k) for k in listed]
        for job in jobs:
            job.result()
    checked.update(listed)


def test_kill9_during_put_load(tmp_path):
    server = BayouServer(tmp_path / "data")
    server.start()
    config = Config(
        retries={"max_attempts": 1}, max_pool_connections=THREADS + 2, connect_timeout=2, read_timeout=10
    )
    try:
        client = server.client(config)  # default checksum config: sends CRC32, stored and returned
        bucket = unique_bucket("crash")
        client.create_bucket(Bucket=bucket)
        ledger = Ledger()
        checked: set[str] = set()
        rng = random.Random(7)
        started = time.monotonic()
        for round_no in range(ROUNDS):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_load, args=(client, bucket, ledger, round_no, w, stop), daemon=True)
                for w in range(THREADS)
            ]
            acked_before = len(ledger.acked)
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.8, 2.0))
            server.kill9()
            stop.set()
            for t in threads:
                t.join(15)
            assert not any(t.is_alive() for t in threads), "client threads hung after the kill"
            assert len(ledger.acked) > acked_before, (
                "no PUT was acknowledged this round: the load did not run"
            )
            server.start()
            client = server.client(config)
            _verify(client, bucket, ledger, checked, full=round_no == ROUNDS - 1)
        in_flight = len(ledger.attempted) - len(ledger.acked)
        assert in_flight >= ROUNDS  # every kill interrupted something, or the test proved nothing
        assert time.monotonic() - started < 90
    finally:
        server.stop()
