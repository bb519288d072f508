"""Event source mappings from buckets (Bayou's extension of Lambda's ESM API), through a real server.

The batch recorder writes one object per invocation into `<bucket>-sink` recording how many
records it received and their keys, so the tests see from outside exactly what each batch held.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from .fnutil import create_function, function_arn, lambda_client, lambda_err, unique_name, wait_for
from .helpers import list_all_keys, unique_bucket

pytestmark = pytest.mark.e2e

BATCH_RECORDER = """
import json, urllib.parse
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    records = event["Records"]
    bucket = records[0]["s3"]["bucket"]["name"]
    keys = [urllib.parse.unquote_plus(r["s3"]["object"]["key"]) for r in records]
    body = {"n": len(records), "keys": keys, "events": [r["eventName"] for r in records],
            "config": records[0]["s3"]["configurationId"]}
    s3.put_object(Bucket=bucket + "-sink", Key="batch/" + context.aws_request_id, Body=json.dumps(body).encode())
"""


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def recorder(lam) -> str:
    name = unique_name("esmrec")
    create_function(lam, name, BATCH_RECORDER, Timeout=30)
    return name


@pytest.fixture
def source(s3) -> str:
    name = unique_bucket("esm")
    s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket=name + "-sink")
    return name


def batches(s3, bucket: str) -> list[dict]:
    return [json.loads(s3.get_object(Bucket=bucket + "-sink", Key=k)["Body"].read())
            for k in list_all_keys(s3, bucket + "-sink")]


def test_crud_shapes(lam, recorder, source):
    arn = f"arn:aws:s3:::{source}"
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=recorder, BatchSize=7,
                                              MaximumBatchingWindowInSeconds=2)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    uuid = created["UUID"]
    assert created["State"] == "Creating"
    assert created["EventSourceArn"] == arn and created["FunctionArn"] == function_arn(recorder)
    assert created["BatchSize"] == 7 and created["MaximumBatchingWindowInSeconds"] == 2
    got = lam.get_event_source_mapping(UUID=uuid)
    assert got["State"] == "Enabled" and got["LastModified"].year >= 2024
    assert got["EventSourceMappingArn"].endswith(f":event-source-mapping:{uuid}")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=recorder)
    assert lambda_err(exc.value) == ("ResourceConflictException", 409)

    other = lam.create_event_source_mapping(EventSourceArn=arn + "/in/", FunctionName=f"{recorder}:$LATEST",
                                            Enabled=False)
    assert other["FunctionArn"] == function_arn(recorder, "$LATEST")
    listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    by_function = lam.list_event_source_mappings(FunctionName=recorder)["EventSourceMappings"]
    assert {uuid, other["UUID"]} <= {m["UUID"] for m in by_function}
    assert lam.get_event_source_mapping(UUID=other["UUID"])["State"] == "Disabled"

    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=500, Enabled=False)
    assert updated["State"] == "Updating" and updated["BatchSize"] == 500
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"

    for mapping in (uuid, other["UUID"]):
        deleted = lam.delete_event_source_mapping(UUID=mapping)
        assert deleted["State"] == "Deleting"
        with pytest.raises(ClientError) as exc:
            lam.get_event_source_mapping(UUID=mapping)
        assert lambda_err(exc.value) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize("arn", ["arn:aws:sqs:us-east-1:000000000000:q", "arn:aws:s3:::no-such-bucket-esm-x"])
def test_bad_sources(lam, recorder, arn):
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=recorder)
    assert lambda_err(exc.value) == ("InvalidParameterValueException", 400)


def test_unknown_function(lam, source):
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=f"arn:aws:s3:::{source}", FunctionName="nope-esm")
    assert lambda_err(exc.value) == ("ResourceNotFoundException", 404)


def test_batches_under_load_every_key_once(lam, s3, server, recorder, source):
    mapping = lam.create_event_source_mapping(EventSourceArn=f"arn:aws:s3:::{source}", FunctionName=recorder,
                                              BatchSize=50, MaximumBatchingWindowInSeconds=1)
    keys = [f"load/{i:04d} ü+&?" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        clients = [server.client() for _ in range(8)]
        list(pool.map(lambda i: clients[i % 8].put_object(Bucket=source, Key=keys[i], Body=b"x"), range(200)))

    def complete():
        found = batches(s3, source)
        return found if sum(b["n"] for b in found) >= 200 else None

    found = wait_for(complete, timeout=60, interval=0.5)
    delivered = [k for b in found for k in b["keys"]]
    assert sorted(delivered) == sorted(keys)  # every key exactly once
    assert all(b["n"] <= 50 for b in found)
    assert len(delivered) / len(found) >= 10, [b["n"] for b in found]
    assert {b["config"] for b in found} == {mapping["UUID"]}
    assert {e for b in found for e in b["events"]} == {"ObjectCreated:Put"}
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_window_prefix_and_pause(lam, s3, recorder, source):
    mapping = lam.create_event_source_mapping(EventSourceArn=f"arn:aws:s3:::{source}/in/", FunctionName=recorder,
                                              BatchSize=100, MaximumBatchingWindowInSeconds=1)
    for key in ("in/a", "in/b", "out/c"):
        s3.put_object(Bucket=source, Key=key, Body=b"1")
    s3.delete_object(Bucket=source, Key="in/a")
    found = wait_for(lambda: batches(s3, source), timeout=20)
    time.sleep(1.5)  # a second batch would have left by now
    found = batches(s3, source)
    assert len(found) == 1 and found[0]["keys"] == ["in/a", "in/b", "in/a"]
    assert found[0]["events"] == ["ObjectCreated:Put", "ObjectCreated:Put", "ObjectRemoved:Delete"]

    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    s3.put_object(Bucket=source, Key="in/paused", Body=b"1")
    time.sleep(1.5)
    assert len(batches(s3, source)) == 1  # a disabled mapping holds its records
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    found = wait_for(lambda: (lambda b: b if len(b) == 2 else None)(batches(s3, source)), timeout=20)
    assert sorted(k for b in found for k in b["keys"]) == ["in/a", "in/a", "in/b", "in/paused"]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
