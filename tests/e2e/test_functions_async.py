"""Asynchronous (Event) invocations through a real `bayou server`: retries, destinations, throttled
queueing, and the durable queue surviving kill -9.

Handlers record each attempt as an object in a bucket (with boto3 and no endpoint arguments, as a
Lambda handler does), so the tests count attempts from outside the server.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from .fnutil import create_function, function_arn, lambda_client, unique_name, wait_for
from .helpers import BayouServer, list_all_keys, unique_bucket

RETRY_DELAY = "0.2"

# Records one object per attempt under attempts/<id>/, then fails if asked to.
WORKER = """
import json, os, time, uuid
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    key = f"attempts/{event['id']}/{time.time_ns()}-{uuid.uuid4().hex}"
    s3.put_object(Bucket=os.environ["BUCKET"], Key=key, Body=json.dumps(event).encode())
    if event.get("fail"):
        raise ValueError("boom " + event["id"])
    return {"handled": event["id"]}
"""

# A destination function: stores the record it receives as its event.
SINK = """
import json, os
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    key = "records/" + event["requestContext"]["requestId"]
    s3.put_object(Bucket=os.environ["BUCKET"], Key=key, Body=json.dumps(event).encode())
"""

KEY_RE = r"aws/lambda/async/{fn}/\d{{4}}/\d{{2}}/\d{{2}}/[^/]+-{rid}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = BayouServer(tmp_path_factory.mktemp("bayou-async") / "data",
                         extra_args=("--fn-retry-delay", RETRY_DELAY))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lam(srv):
    return lambda_client(srv)


@pytest.fixture(scope="module")
def s3(srv):
    return srv.client()


@pytest.fixture
def bkt(s3) -> str:
    name = unique_bucket("async")
    s3.create_bucket(Bucket=name)
    return name


def make_worker(lam, bucket: str, **kw) -> str:
    name = unique_name("aw")
    create_function(lam, name, WORKER, Timeout=10, Environment={"Variables": {"BUCKET": bucket}}, **kw)
    return name


def invoke_event(lam, name: str, payload: dict) -> str:
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    assert resp["StatusCode"] == 202, resp
    assert resp["Payload"].read() == b""
    request_id = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert request_id
    return request_id


def attempts(s3, bucket: str, event_id: str) -> list[str]:
    return list_all_keys(s3, bucket, f"attempts/{event_id}/")


def get_json(s3, bucket: str, key: str):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_failing_event_is_retried_then_recorded_in_an_s3_destination(lam, s3, bkt):
    fn = make_worker(lam, bkt)
    lam.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bkt}/failed"}},
    )
    payload = {"id": uuid.uuid4().hex, "fail": True, "nested": {"list": [1, 2.5, None], "text": "ünï\u2603"}}
    rid = invoke_event(lam, fn, payload)

    prefix = f"failed/aws/lambda/async/{fn}/"
    keys = wait_for(lambda: list_all_keys(s3, bkt, prefix), timeout=20)
    time.sleep(1.0)  # nothing more arrives: no duplicate record, no fourth attempt
    keys = list_all_keys(s3, bkt, prefix)
    assert len(keys) == 1, keys
    assert re.fullmatch("failed/" + KEY_RE.format(fn=re.escape(fn), rid=re.escape(rid)), keys[0]), keys[0]
    assert len(attempts(s3, bkt, payload["id"])) == 3

    record = get_json(s3, bkt, keys[0])
    ctx = record["requestContext"]
    assert ctx["condition"] == "RetriesExhausted", record
    assert ctx["approximateInvokeCount"] == 3, record
    assert ctx["requestId"] == rid
    assert ctx["functionArn"] == function_arn(fn, "$LATEST"), ctx
    assert record["requestPayload"] == payload
    assert record["responseContext"]["functionError"] == "Unhandled", record
    assert record["responseContext"]["executedVersion"] == "$LATEST"
    assert record["responsePayload"]["errorType"] == "ValueError", record
    assert record["responsePayload"]["errorMessage"] == "boom " + payload["id"], record
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"]), record


def test_success_record_is_delivered_to_a_destination_function(lam, s3, bkt):
    fn = make_worker(lam, bkt)
    sink = unique_name("sink")
    create_function(lam, sink, SINK, Timeout=10, Environment={"Variables": {"BUCKET": bkt}})
    lam.put_function_event_invoke_config(
        FunctionName=fn, DestinationConfig={"OnSuccess": {"Destination": function_arn(sink)}},
    )
    payload = {"id": uuid.uuid4().hex, "n": 42}
    rid = invoke_event(lam, fn, payload)

    key = f"records/{rid}"
    wait_for(lambda: list_all_keys(s3, bkt, key), timeout=20)
    record = get_json(s3, bkt, key)
    assert record["requestContext"]["condition"] == "Success", record
    assert record["requestContext"]["approximateInvokeCount"] == 1, record
    assert record["requestContext"]["functionArn"] == function_arn(fn, "$LATEST")
    assert record["requestPayload"] == payload
    assert record["responseContext"]["statusCode"] == 200, record
    assert "functionError" not in record["responseContext"], record
    assert record["responsePayload"] == {"handled": payload["id"]}
    assert len(attempts(s3, bkt, payload["id"])) == 1


def test_no_retries_means_one_attempt(lam, s3, bkt):
    fn = make_worker(lam, bkt)
    lam.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bkt}"}},
    )
    payload = {"id": uuid.uuid4().hex, "fail": True}
    rid = invoke_event(lam, fn, payload)

    keys = wait_for(lambda: list_all_keys(s3, bkt, "aws/lambda/async/"), timeout=20)
    time.sleep(1.0)  # a retry would have come after 0.2 s
    assert len(attempts(s3, bkt, payload["id"])) == 1
    keys = list_all_keys(s3, bkt, "aws/lambda/async/")
    assert len(keys) == 1 and re.fullmatch(KEY_RE.format(fn=re.escape(fn), rid=re.escape(rid)), keys[0]), keys
    record = get_json(s3, bkt, keys[0])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_event_waits_while_throttled_and_runs_when_concurrency_is_released(lam, s3, bkt):
    fn = make_worker(lam, bkt)
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:s3:::{bkt}/ok"}},
    )
    payload = {"id": uuid.uuid4().hex}
    invoke_event(lam, fn, payload)

    time.sleep(2.0)
    assert attempts(s3, bkt, payload["id"]) == [], "a throttled event ran"
    assert list_all_keys(s3, bkt, "ok/") == [], "a throttled event was retired"

    lam.delete_function_concurrency(FunctionName=fn)
    keys = wait_for(lambda: list_all_keys(s3, bkt, "ok/"), timeout=20)
    assert len(attempts(s3, bkt, payload["id"])) == 1
    record = get_json(s3, bkt, keys[0])
    assert record["requestContext"]["condition"] == "Success"
    # throttles are not attempts: MaximumRetryAttempts 0 still ran it, and counted one invocation
    assert record["requestContext"]["approximateInvokeCount"] == 1, record
    assert record["requestPayload"] == payload


def test_queued_events_survive_kill9_and_restart(tmp_path_factory):
    server = BayouServer(tmp_path_factory.mktemp("bayou-async-crash") / "data",
                         extra_args=("--fn-retry-delay", RETRY_DELAY))
    server.start()
    try:
        lam, s3 = lambda_client(server), server.client()
        bucket = unique_bucket("crash")
        s3.create_bucket(Bucket=bucket)
        fn = make_worker(lam, bucket)
        lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
        ids = [f"p{i:02d}-{uuid.uuid4().hex[:8]}" for i in range(20)]
        for event_id in ids:
            invoke_event(lam, fn, {"id": event_id})
        time.sleep(0.5)
        assert list_all_keys(s3, bucket, "attempts/") == []

        server.kill9()
        server.start()
        lam, s3 = lambda_client(server), server.client()
        lam.delete_function_concurrency(FunctionName=fn)

        def handled():
            keys = list_all_keys(s3, bucket, "attempts/")
            return keys if len({k.split("/")[1] for k in keys}) == 20 else None

        keys = wait_for(handled, timeout=30, interval=0.3)
        time.sleep(1.0)
        keys = list_all_keys(s3, bucket, "attempts/")
        assert sorted(k.split("/")[1] for k in keys) == sorted(ids), keys  # each exactly once
    finally:
        server.stop()


SLOW = """
import os, time, uuid
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    bucket, event_id = os.environ["BUCKET"], event["id"]
    s3.put_object(Bucket=bucket, Key=f"started/{event_id}/{uuid.uuid4().hex}", Body=b"")
    time.sleep(event["seconds"])
    s3.put_object(Bucket=bucket, Key=f"done/{event_id}/{uuid.uuid4().hex}", Body=b"")
"""


def test_attempt_cut_by_kill9_runs_again_after_restart(tmp_path_factory):
    """At least once: an attempt in flight when the server dies is not lost."""
    server = BayouServer(tmp_path_factory.mktemp("bayou-async-inflight") / "data",
                         extra_args=("--fn-retry-delay", RETRY_DELAY))
    server.start()
    try:
        lam, s3 = lambda_client(server), server.client()
        bucket = unique_bucket("inflight")
        s3.create_bucket(Bucket=bucket)
        fn = unique_name("slow")
        create_function(lam, fn, SLOW, Timeout=20, Environment={"Variables": {"BUCKET": bucket}})
        event_id = uuid.uuid4().hex
        invoke_event(lam, fn, {"id": event_id, "seconds": 2})
        wait_for(lambda: list_all_keys(s3, bucket, f"started/{event_id}/"), timeout=20)

        server.kill9()
        time.sleep(2.5)  # an environment that outlived the kill would have finished by now
        server.start()
        s3 = server.client()
        assert list_all_keys(s3, bucket, f"done/{event_id}/") == [], "the attempt survived kill -9"

        wait_for(lambda: list_all_keys(s3, bucket, f"done/{event_id}/"), timeout=20)
        time.sleep(0.5)
        assert len(list_all_keys(s3, bucket, f"started/{event_id}/")) == 2
        assert len(list_all_keys(s3, bucket, f"done/{event_id}/")) == 1
    finally:
        server.stop()
