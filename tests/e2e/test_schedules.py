"""EventBridge Scheduler through a real `bayou server` and boto3's `scheduler` client.

A schedule's target is a function that records each invocation as an object in a Bayou bucket
(boto3 inside the handler, pointed at the server by AWS_ENDPOINT_URL): the bucket is the ground
truth for "fired exactly once". One-time `at()` schedules a few seconds ahead keep it fast.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .fnutil import ACCOUNT, create_function, function_arn, lambda_client, unique_name, wait_for
from .helpers import REGION, BayouServer

ROLE = f"arn:aws:iam::{ACCOUNT}:role/bayou-scheduler"
OFF = {"Mode": "OFF"}

RECORDER = """
import json, os
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    key = f"{os.environ['PREFIX']}/{context.aws_request_id}"
    s3.put_object(Bucket=os.environ["BUCKET"], Key=key, Body=json.dumps(event).encode())
    return "ok"
"""


def scheduler_client(server: BayouServer):
    return boto3.session.Session().client(
        "scheduler", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def sched(server):
    return scheduler_client(server)


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def recorder(lam, s3) -> tuple[str, str]:
    """(function ARN, bucket) of a function that writes <PREFIX>/<request id> per invocation."""
    bucket = unique_name("sched")
    s3.create_bucket(Bucket=bucket)
    name = unique_name("rec")
    create_function(lam, name, RECORDER, Timeout=30,
                    Environment={"Variables": {"BUCKET": bucket, "PREFIX": "fired"}})
    return function_arn(name), bucket


def at_in(seconds: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def records(s3, bucket: str) -> list[dict]:
    out = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="fired/").get("Contents", []):
        out.append(json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return out


def tagged(s3, bucket: str, tag: str) -> list[dict]:
    return [r for r in records(s3, bucket) if r.get("tag") == tag]


def code(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def test_crud_and_list(sched, recorder) -> None:
    arn, _ = recorder
    name = unique_name("crud")
    created = sched.create_schedule(
        Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)", ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow=OFF, Description="weekday mornings",
        Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"tag": "crud"}'},
    )
    assert created["ScheduleArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    got = sched.get_schedule(Name=name)
    assert got["Name"] == name and got["GroupName"] == "default" and got["State"] == "ENABLED"
    assert got["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["Description"] == "weekday mornings" and got["FlexibleTimeWindow"] == OFF
    assert got["Target"]["Arn"] == arn and got["Target"]["Input"] == '{"tag": "crud"}'
    assert got["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert isinstance(got["CreationDate"], dt.datetime) and got["ActionAfterCompletion"] == "NONE"

    sched.update_schedule(Name=name, ScheduleExpression="rate(2 hours)", FlexibleTimeWindow=OFF,
                          State="DISABLED", Target={"Arn": arn, "RoleArn": ROLE})
    got = sched.get_schedule(Name=name, GroupName="default")
    assert (got["ScheduleExpression"], got["State"]) == ("rate(2 hours)", "DISABLED")
    assert "Description" not in got and "Input" not in got["Target"]  # Update replaces every field

    others = [unique_name("crud") for _ in range(3)]
    for other in others:
        sched.create_schedule(Name=other, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                              Target={"Arn": arn, "RoleArn": ROLE})
    listed = [
        s for page in sched.get_paginator("list_schedules").paginate(NamePrefix="crud-", PaginationConfig={"PageSize": 2})
        for s in page["Schedules"]
    ]
    assert sorted(s["Name"] for s in listed) == sorted([name, *others])
    assert all(s["Target"]["Arn"] == arn and s["GroupName"] == "default" for s in listed)
    disabled = sched.list_schedules(NamePrefix="crud-", State="DISABLED")["Schedules"]
    assert [s["Name"] for s in disabled] == [name]

    for each in [name, *others]:
        sched.delete_schedule(Name=each)
    with pytest.raises(ClientError) as info:
        sched.get_schedule(Name=name)
    assert code(info.value) == ("ResourceNotFoundException", 404)
    assert sched.list_schedules(NamePrefix="crud-")["Schedules"] == []
    assert sched.get_schedule_group(Name="default")["State"] == "ACTIVE"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ScheduleExpression": "rate(1 minutes)"}, ("ValidationException", 400)),
        ({"ScheduleExpression": "cron(0 12 * * * *)"}, ("ValidationException", 400)),
        ({"ScheduleExpression": "every day"}, ("ValidationException", 400)),
        ({"ScheduleExpressionTimezone": "Mars/Olympus"}, ("ValidationException", 400)),
        ({"Target": {"Arn": function_arn("does-not-exist"), "RoleArn": ROLE}}, ("ValidationException", 400)),
        ({"Target": {"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": ROLE}}, ("ValidationException", 400)),
        ({"Target": {"Input": "not json"}}, ("ValidationException", 400)),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, ("ValidationException", 400)),
        ({"GroupName": "nope"}, ("ResourceNotFoundException", 404)),
    ],
)
def test_validation_errors(sched, recorder, overrides, expected) -> None:
    arn, _ = recorder
    request = {"Name": unique_name("bad"), "ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": OFF,
               "Target": {"Arn": arn, "RoleArn": ROLE}}
    for member, value in overrides.items():
        request[member] = {**request[member], **value} if member == "Target" else value
    with pytest.raises(ClientError) as info:
        sched.create_schedule(**request)
    assert code(info.value) == expected
    assert info.value.response["Error"]["Message"]


def test_conflict_and_not_found(sched, recorder) -> None:
    arn, _ = recorder
    name = unique_name("dup")
    sched.create_schedule(Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                          Target={"Arn": arn, "RoleArn": ROLE})
    with pytest.raises(ClientError) as info:
        sched.create_schedule(Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                              Target={"Arn": arn, "RoleArn": ROLE})
    assert code(info.value) == ("ConflictException", 409)
    sched.delete_schedule(Name=name)
    for call in (lambda: sched.delete_schedule(Name=name),
                 lambda: sched.update_schedule(Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                                               Target={"Arn": arn, "RoleArn": ROLE})):
        with pytest.raises(ClientError) as info:
            call()
        assert code(info.value) == ("ResourceNotFoundException", 404)


def test_at_schedule_fires_exactly_once(sched, s3, recorder) -> None:
    arn, bucket = recorder
    tag = unique_name("once")
    sched.create_schedule(Name=tag, ScheduleExpression=at_in(2), FlexibleTimeWindow=OFF,
                          Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"tag": tag})})
    wait_for(lambda: tagged(s3, bucket, tag), timeout=30)
    time.sleep(3)
    assert tagged(s3, bucket, tag) == [{"tag": tag}]
    assert sched.get_schedule(Name=tag)["State"] == "ENABLED"  # ActionAfterCompletion NONE keeps it


def test_without_input_the_function_gets_an_empty_event_and_delete_after_completion(sched, s3, recorder) -> None:
    arn, bucket = recorder
    before = len(records(s3, bucket))
    name = unique_name("noinput")
    sched.create_schedule(Name=name, ScheduleExpression=at_in(1), FlexibleTimeWindow=OFF,
                          ActionAfterCompletion="DELETE", Target={"Arn": arn, "RoleArn": ROLE})
    wait_for(lambda: len(records(s3, bucket)) > before, timeout=30)
    assert {} in records(s3, bucket)
    wait_for(lambda: name not in [s["Name"] for s in sched.list_schedules()["Schedules"]], timeout=10)


def test_schedules_survive_a_restart_and_a_missed_at_fires_once(server, sched, s3, recorder) -> None:
    """Last in the module: it restarts the shared server."""
    arn, bucket = recorder
    tag = unique_name("restart")
    kept = unique_name("kept")
    sched.create_schedule(Name=kept, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                          Target={"Arn": arn, "RoleArn": ROLE})
    sched.create_schedule(Name=tag, ScheduleExpression=at_in(5), FlexibleTimeWindow=OFF,
                          Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"tag": tag})})
    created = time.monotonic()
    server.stop()
    assert time.monotonic() - created < 4, "the server took too long to stop; the at() time may have passed"
    time.sleep(max(0.0, created + 6.5 - time.monotonic()))
    server.start()
    fresh = scheduler_client(server)
    names = [s["Name"] for s in fresh.list_schedules()["Schedules"]]
    assert kept in names and tag in names
    wait_for(lambda: tagged(s3, bucket, tag), timeout=30)
    time.sleep(3)
    assert tagged(s3, bucket, tag) == [{"tag": tag}]
