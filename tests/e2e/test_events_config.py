"""Put/GetBucketNotificationConfiguration through a real `bayou server`, as boto3 speaks them.

Covers the round trip of function rules (plain, version- and alias-qualified ARNs, Id, prefix and
suffix filters) and S3's validation: malformed XML, unknown event names, destinations that do not
exist, overlapping rules for one event type, clearing with an empty configuration, NoSuchBucket.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import ONCE
from .fnutil import create_function, function_arn, lambda_client, unique_name
from .helpers import assert_xml_error, err, raw, unique_bucket

NOOP = """
def handler(event, context):
    return None
"""


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def s3(server):
    return server.client(ONCE)


@pytest.fixture(scope="module")
def fn(lam) -> dict:
    """One function with a published version 1 and an alias `live` → 1."""
    name = unique_name("evcfg")
    create_function(lam, name, NOOP)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return {"name": name, "version": version}


def lambda_rule(arn: str, events: list[str], *, id: str | None = None, prefix: str | None = None,
                suffix: str | None = None) -> dict:
    rule: dict = {"LambdaFunctionArn": arn, "Events": events}
    if id is not None:
        rule["Id"] = id
    filters = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v is not None]
    if filters:
        rule["Filter"] = {"Key": {"FilterRules": filters}}
    return rule


def put(s3, bucket: str, rules: list[dict]) -> dict:
    return s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": rules}
    )


def put_error(s3, bucket: str, config: dict) -> tuple[tuple[str, int], dict]:
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    return err(info.value), info.value.response["Error"]


def lambda_configs(s3, bucket: str) -> list[dict]:
    resp = s3.get_bucket_notification_configuration(Bucket=bucket)
    return resp.get("LambdaFunctionConfigurations", [])


def filter_dict(rule: dict) -> dict[str, str]:
    return {r["Name"].lower(): r["Value"] for r in rule.get("Filter", {}).get("Key", {}).get("FilterRules", [])}


# ---------------------------------------------------------------- round trip


def test_new_bucket_has_an_empty_configuration(s3, bucket):
    resp = s3.get_bucket_notification_configuration(Bucket=bucket)
    for field in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations"):
        assert not resp.get(field), resp


def test_round_trip_unqualified_version_and_alias_arns_with_filters_and_ids(s3, bucket, fn):
    rules = [
        lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="plain", prefix="in/", suffix=".jpg"),
        lambda_rule(function_arn(fn["name"], fn["version"]), ["s3:ObjectRemoved:Delete"], id="by-version",
                    prefix="logs/"),
        lambda_rule(function_arn(fn["name"], "live"),
                    ["s3:ObjectTagging:Put", "s3:ObjectTagging:Delete"], id="by-alias", suffix=".png"),
    ]
    resp = put(s3, bucket, rules)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200

    got = {r["Id"]: r for r in lambda_configs(s3, bucket)}
    assert set(got) == {"plain", "by-version", "by-alias"}, got
    assert got["plain"]["LambdaFunctionArn"] == function_arn(fn["name"])
    assert got["plain"]["Events"] == ["s3:ObjectCreated:*"]
    assert filter_dict(got["plain"]) == {"prefix": "in/", "suffix": ".jpg"}
    assert got["by-version"]["LambdaFunctionArn"] == function_arn(fn["name"], fn["version"])
    assert got["by-version"]["Events"] == ["s3:ObjectRemoved:Delete"]
    assert filter_dict(got["by-version"]) == {"prefix": "logs/"}
    assert got["by-alias"]["LambdaFunctionArn"] == function_arn(fn["name"], "live")
    assert sorted(got["by-alias"]["Events"]) == ["s3:ObjectTagging:Delete", "s3:ObjectTagging:Put"]
    assert filter_dict(got["by-alias"]) == {"suffix": ".png"}


def test_rule_without_id_gets_one(s3, bucket, fn):
    put(s3, bucket, [lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:Put"])])
    (rule,) = lambda_configs(s3, bucket)
    assert rule["Id"], rule  # S3 generates an Id when none is given
    assert rule["LambdaFunctionArn"] == function_arn(fn["name"])
    assert "Filter" not in rule or not filter_dict(rule)


def test_put_replaces_the_previous_configuration(s3, bucket, fn):
    put(s3, bucket, [lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="first")])
    put(s3, bucket, [lambda_rule(function_arn(fn["name"]), ["s3:ObjectRemoved:*"], id="second")])
    assert [r["Id"] for r in lambda_configs(s3, bucket)] == ["second"]


def test_empty_configuration_clears(s3, bucket, fn):
    put(s3, bucket, [lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="r")])
    assert lambda_configs(s3, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    resp = s3.get_bucket_notification_configuration(Bucket=bucket)
    for field in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations"):
        assert not resp.get(field), resp


def test_non_overlapping_prefixes_for_one_event_type_are_accepted(s3, bucket, fn):
    arn = function_arn(fn["name"])
    put(s3, bucket, [
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="a", prefix="a/"),
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="b", prefix="b/"),
    ])
    got = {r["Id"]: filter_dict(r) for r in lambda_configs(s3, bucket)}
    assert got == {"a": {"prefix": "a/"}, "b": {"prefix": "b/"}}


# ---------------------------------------------------------------- validation


def test_malformed_xml_is_rejected(server, s3, bucket, fn):
    good = (
        '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<CloudFunctionConfiguration><Id>ctl</Id>"
        f"<CloudFunction>{function_arn(fn['name'])}</CloudFunction>"
        "<Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>"
        "</NotificationConfiguration>"
    ).encode()
    # Control: the same raw signer with a well-formed body is accepted, so a 400 below is about the body.
    ok = raw(server, "PUT", f"/{bucket}", query={"notification": ""}, body=good)
    assert ok.status_code == 200, ok.content[:500]
    assert [r["Id"] for r in lambda_configs(s3, bucket)] == ["ctl"]

    for body in (b"this is not xml <<<", good[:-20], b"<NotificationConfiguration><Oops/>"):
        resp = raw(server, "PUT", f"/{bucket}", query={"notification": ""}, body=body)
        assert_xml_error(resp, 400, "MalformedXML")
    # A rejected configuration changes nothing.
    assert [r["Id"] for r in lambda_configs(s3, bucket)] == ["ctl"]


def test_unknown_event_name_is_invalid_argument(s3, bucket, fn):
    (code, status), _ = put_error(s3, bucket, {"LambdaFunctionConfigurations": [
        lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:Nope"], id="bad")]})
    assert (code, status) == ("InvalidArgument", 400)
    assert not lambda_configs(s3, bucket)


def test_missing_function_is_invalid_argument(s3, bucket):
    (code, status), error = put_error(s3, bucket, {"LambdaFunctionConfigurations": [
        lambda_rule(function_arn(unique_name("missing")), ["s3:ObjectCreated:*"], id="gone")]})
    assert (code, status) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in error["Message"], error
    assert not lambda_configs(s3, bucket)


def test_missing_qualifier_of_an_existing_function_is_invalid_argument(s3, bucket, fn):
    (code, status), _ = put_error(s3, bucket, {"LambdaFunctionConfigurations": [
        lambda_rule(function_arn(fn["name"], "no-such-alias"), ["s3:ObjectCreated:*"], id="gone")]})
    assert (code, status) == ("InvalidArgument", 400)
    assert not lambda_configs(s3, bucket)


def test_missing_queue_target_is_invalid_argument(s3, bucket):
    (code, status), error = put_error(s3, bucket, {"QueueConfigurations": [
        {"Id": "q", "QueueArn": "arn:bayou:sqs::nope:webhook", "Events": ["s3:ObjectCreated:*"]}]})
    assert (code, status) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in error["Message"], error
    resp = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not resp.get("QueueConfigurations"), resp


def test_overlapping_prefixes_for_one_event_type_are_invalid_argument(s3, bucket, fn):
    arn = function_arn(fn["name"])
    (code, status), _ = put_error(s3, bucket, {"LambdaFunctionConfigurations": [
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="outer", prefix="a/"),
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="inner", prefix="a/b/"),
    ]})
    assert (code, status) == ("InvalidArgument", 400)
    assert not lambda_configs(s3, bucket)


def test_overlap_between_wildcard_and_specific_event_is_invalid_argument(s3, bucket, fn):
    arn = function_arn(fn["name"])
    (code, status), _ = put_error(s3, bucket, {"LambdaFunctionConfigurations": [
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="all", prefix="a/"),
        lambda_rule(arn, ["s3:ObjectCreated:Put"], id="put", prefix="a/b/"),
    ]})
    assert (code, status) == ("InvalidArgument", 400)


def test_same_prefix_for_different_event_types_is_accepted(s3, bucket, fn):
    arn = function_arn(fn["name"])
    put(s3, bucket, [
        lambda_rule(arn, ["s3:ObjectCreated:*"], id="created", prefix="a/"),
        lambda_rule(arn, ["s3:ObjectRemoved:*"], id="removed", prefix="a/"),
    ])
    assert {r["Id"] for r in lambda_configs(s3, bucket)} == {"created", "removed"}


def test_two_prefix_rules_in_one_filter_are_invalid_argument(s3, bucket, fn):
    rule = lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="r", prefix="a/")
    rule["Filter"]["Key"]["FilterRules"].append({"Name": "prefix", "Value": "b/"})
    (code, status), _ = put_error(s3, bucket, {"LambdaFunctionConfigurations": [rule]})
    assert (code, status) == ("InvalidArgument", 400)


def test_event_bridge_configuration_is_stored(s3, bucket, fn):
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "EventBridgeConfiguration": {},
        "LambdaFunctionConfigurations": [lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="r")],
    })
    resp = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "EventBridgeConfiguration" in resp, resp
    assert [r["Id"] for r in resp["LambdaFunctionConfigurations"]] == ["r"]


def test_deleted_bucket_takes_its_configuration_along(s3, fn):
    name = unique_bucket("evdel")
    s3.create_bucket(Bucket=name)
    put(s3, name, [lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="r")])
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert not lambda_configs(s3, name)


def test_no_such_bucket(s3, fn):
    missing = unique_bucket("nobucket")
    with pytest.raises(ClientError) as info:
        s3.get_bucket_notification_configuration(Bucket=missing)
    assert err(info.value) == ("NoSuchBucket", 404)
    (code, status), _ = put_error(s3, missing, {"LambdaFunctionConfigurations": [
        lambda_rule(function_arn(fn["name"]), ["s3:ObjectCreated:*"], id="r")]})
    assert (code, status) == ("NoSuchBucket", 404)
