"""Bucket events to a function under load and across kill -9, through a real `bayou server`.

The handler records every record it handles as an empty object `<key>/<sequencer>/<random>` in
`<source bucket>-sink`, so duplicates (at-least-once delivery) stay visible and the tests count
distinct (key, sequencer) pairs.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .fnutil import create_function, function_arn, lambda_client, unique_name
from .helpers import BayouServer, list_all_keys, unique_bucket

pytestmark = pytest.mark.e2e

COUNTER = """
import uuid
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        obj = record["s3"]["object"]
        key = f"{obj['key']}/{obj['sequencer']}/{uuid.uuid4().hex}"
        s3.put_object(Bucket=record["s3"]["bucket"]["name"] + "-sink", Key=key, Body=b"")
"""

THREADS = 16
# One attempt per request: a PUT the dead server did not answer is simply not acknowledged.
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30,
                  max_pool_connections=THREADS)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = BayouServer(tmp_path_factory.mktemp("bayou-evcrash") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def counter(srv) -> str:
    name = unique_name("evcount")
    create_function(lambda_client(srv), name, COUNTER, Timeout=60)
    return name


def make_buckets(s3, fn: str) -> tuple[str, str]:
    bucket = unique_bucket("load")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket + "-sink")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            {"Id": "count", "LambdaFunctionArn": function_arn(fn), "Events": ["s3:ObjectCreated:*"]}]})
    return bucket, bucket + "-sink"


def handled(s3, sink: str) -> tuple[set[tuple[str, str]], int]:
    """(distinct (source key, sequencer) pairs, total handlings including duplicates)."""
    keys = list_all_keys(s3, sink)
    pairs = set()
    for k in keys:
        enc_key, seq, _ = k.rsplit("/", 2)
        pairs.add((unquote_plus(enc_key), seq))
    return pairs, len(keys)


def test_thousand_concurrent_puts_give_exactly_a_thousand_events(srv, counter):
    s3 = srv.client(Config(max_pool_connections=THREADS))
    bucket, sink = make_buckets(s3, counter)
    keys = [f"load/{i:04d}.bin" for i in range(1000)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    put_s = time.monotonic() - t0

    deadline = time.monotonic() + 90
    while True:
        pairs, total = handled(s3, sink)
        if len(pairs) >= len(keys) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    handled_keys = [k for k, _ in pairs]
    print(f"1000 PUTs in {put_s:.1f}s; {len(pairs)} distinct events handled "
          f"({total - len(pairs)} duplicates) after {time.monotonic() - t0:.1f}s")
    assert len(pairs) == len(keys), f"{len(pairs)} distinct events for {len(keys)} PUTs"
    assert sorted(handled_keys) == keys  # each key exactly once: one PUT → one (key, sequencer)
    # Nothing more arrives later (no phantom events).
    time.sleep(1.0)
    assert handled(s3, sink)[0] == pairs


def test_kill9_during_load_loses_no_acknowledged_event(srv, counter):
    s3 = srv.client(Config(max_pool_connections=THREADS))
    bucket, sink = make_buckets(s3, counter)
    loader = srv.client(NO_RETRY)
    keys = [f"crash/{i:04d}.bin" for i in range(500)]
    acked: set[str] = set()
    failed: list[str] = []
    lock = threading.Lock()
    half = threading.Event()

    def put(key: str) -> None:
        try:
            resp = loader.put_object(Bucket=bucket, Key=key, Body=key.encode())
        except (BotoCoreError, ClientError) as exc:
            with lock:
                failed.append(f"{key}: {type(exc).__name__}")
            return
        status = resp["ResponseMetadata"]["HTTPStatusCode"]
        with lock:
            if 200 <= status < 300:
                acked.add(key)
            if len(acked) >= len(keys) // 2:
                half.set()

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(put, k) for k in keys]
        assert half.wait(120), f"only {len(acked)} PUTs acknowledged"
        srv.kill9()
        for f in futures:
            f.result()
    with lock:
        acked_at_kill = set(acked)
    assert len(keys) // 2 <= len(acked_at_kill) < len(keys), (len(acked_at_kill), failed[:5])

    srv.start()
    s3 = srv.client(Config(max_pool_connections=THREADS))
    deadline = time.monotonic() + 90
    while True:
        pairs, total = handled(s3, sink)
        seen = {k for k, _ in pairs}
        if acked_at_kill <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = sorted(acked_at_kill - seen)
    print(f"{len(acked_at_kill)} acknowledged, {len(failed)} failed at the kill; {len(seen)} keys handled "
          f"({total - len(pairs)} duplicates)")
    assert not missing, f"{len(missing)} acknowledged PUTs never handled, e.g. {missing[:10]}"

    # No invented events: everything handled was written, and each committed PUT has one sequencer.
    committed = set(list_all_keys(s3, bucket))
    assert acked_at_kill <= committed
    assert seen <= committed, sorted(seen - committed)[:10]
    assert len(pairs) == len(seen), "a key was handled with two sequencers but written once"
