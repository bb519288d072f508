"""The Lambda control plane on the S3 port, driven by boto3's `lambda` client (default config)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import zipfile
from collections import Counter

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .fnutil import (
    ACCOUNT,
    RUNTIME,
    create_function,
    function_arn,
    handler_zip,
    invoke_json,
    lambda_client,
    lambda_err,
    unique_name,
    wait_for,
)
from .helpers import BayouServer, unique_bucket

pytestmark = pytest.mark.e2e

ROLE = f"arn:aws:iam::{ACCOUNT}:role/bayou-test"

ECHO = """
import os

TAG = {tag!r}

def handler(event, context):
    return {{"tag": TAG, "event": event, "greeting": os.environ.get("GREETING"),
             "version": context.function_version}}
"""


def echo(tag: str) -> str:
    return ECHO.format(tag=tag)


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def lam_raw(server):
    """No client-side validation and one attempt: the server alone judges the request."""
    return lambda_client(server, Config(parameter_validation=False, retries={"max_attempts": 1}))


def assert_not_found(lam, call, *args, **kw) -> ClientError:
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        call(*args, **kw)
    assert lambda_err(info.value) == ("ResourceNotFoundException", 404)
    return info.value


# ---------------------------------------------------------------- create / get


def test_create_with_zipfile_and_every_setting(lam):
    name = unique_name()
    code = handler_zip(echo("one"))
    resp = lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
        Timeout=7,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "bonjour"}},
        Description="an echo",
        Tags={"team": "ml", "stage": "dev"},
        Publish=True,
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["FunctionName"] == name
    assert resp["Version"] == "1"
    assert resp["FunctionArn"] == function_arn(name, "1")
    assert (resp["Runtime"], resp["Handler"], resp["Timeout"], resp["MemorySize"]) == (RUNTIME, "app.handler", 7, 256)
    assert resp["Environment"] == {"Variables": {"GREETING": "bonjour"}}
    assert resp["Description"] == "an echo"
    assert resp["CodeSha256"] == b64sha256(code)
    assert resp["CodeSize"] == len(code)

    got = lam.get_function(FunctionName=name)
    cfg = got["Configuration"]
    assert cfg["FunctionArn"] == function_arn(name)
    assert cfg["Version"] == "$LATEST"
    assert (cfg["Timeout"], cfg["MemorySize"], cfg["Description"]) == (7, 256, "an echo")
    assert cfg["State"] == "Active" and cfg["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "ml", "stage": "dev"}
    assert got["Code"]["RepositoryType"] == "S3"

    conf = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert conf["Version"] == "1"
    assert conf["FunctionArn"] == function_arn(name, "1")
    assert conf["State"] == "Active" and conf["LastUpdateStatus"] == "Successful"
    assert conf["CodeSha256"] == b64sha256(code)

    result, meta = invoke_json(lam, name, {"x": 1}, Qualifier="1")
    assert result == {"tag": "one", "event": {"x": 1}, "greeting": "bonjour", "version": "1"}
    assert meta["ExecutedVersion"] == "1"


def test_create_from_bayou_bucket(lam, s3):
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    code = handler_zip(echo("from-s3"))
    s3.put_object(Bucket=bucket, Key="code/app.zip", Body=code)
    name = unique_name()
    resp = lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
        Code={"S3Bucket": bucket, "S3Key": "code/app.zip"},
    )
    assert resp["CodeSha256"] == b64sha256(code)
    assert resp["CodeSize"] == len(code)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    result, _ = invoke_json(lam, name, {"k": "v"})
    assert result["tag"] == "from-s3" and result["event"] == {"k": "v"}


def test_create_from_bayou_bucket_object_version(lam, s3):
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old, new = handler_zip(echo("old")), handler_zip(echo("new"))
    v_old = s3.put_object(Bucket=bucket, Key="app.zip", Body=old)["VersionId"]
    v_new = s3.put_object(Bucket=bucket, Key="app.zip", Body=new)["VersionId"]
    assert v_old != v_new
    name = unique_name()
    resp = lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
        Code={"S3Bucket": bucket, "S3Key": "app.zip", "S3ObjectVersion": v_old},
    )
    assert resp["CodeSha256"] == b64sha256(old)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert invoke_json(lam, name)[0]["tag"] == "old"
    # the latest version of the object, when no version is named
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="app.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert invoke_json(lam, name)[0]["tag"] == "new"


def test_create_from_missing_s3_object_is_rejected(lam, s3):
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    name = unique_name()
    with pytest.raises(ClientError) as info:
        lam.create_function(
            FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
            Code={"S3Bucket": bucket, "S3Key": "nope.zip"},
        )
    assert lambda_err(info.value) == ("InvalidParameterValueException", 400)
    assert_not_found(lam, lam.get_function, FunctionName=name)


def test_waiters(lam):
    name = unique_name()
    lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
        Code={"ZipFile": handler_zip(echo("w1"))},
    )
    fast = {"Delay": 1, "MaxAttempts": 20}
    lam.get_waiter("function_exists").wait(FunctionName=name, WaiterConfig=fast)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=fast)
    lam.update_function_configuration(FunctionName=name, Description="changed")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=fast)
    version = lam.publish_version(FunctionName=name)["Version"]
    assert version == "1"
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version, WaiterConfig=fast)
    # a waiter on a function that does not exist gives up (the waiter really looks)
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError):
        lam.get_waiter("function_exists").wait(
            FunctionName=unique_name("absent"), WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )


def test_list_functions_paging(lam):
    prefix = unique_name("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    code = handler_zip(echo("p"))
    for name in names:
        lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code})
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kw = {"MaxItems": 2} | ({"Marker": marker} if marker else {})
        page = lam.list_functions(**kw)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 1000
    assert len(seen) == len(set(seen)), "a function listed twice across pages"
    assert set(names) <= set(seen)
    assert pages >= 3
    # the paginator agrees
    by_paginator = [
        f["FunctionName"]
        for p in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3})
        for f in p["Functions"]
    ]
    assert sorted(by_paginator) == sorted(seen)


# ---------------------------------------------------------------- updates, delete


def test_update_code_then_invoke_sees_new_code(lam):
    name = unique_name()
    create_function(lam, name, echo("before"))
    assert invoke_json(lam, name)[0]["tag"] == "before"  # warm environment on the old code
    new = handler_zip(echo("after"))
    resp = lam.update_function_code(FunctionName=name, ZipFile=new)
    assert resp["CodeSha256"] == b64sha256(new)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == b64sha256(new)
    for _ in range(3):
        assert invoke_json(lam, name)[0]["tag"] == "after"


def test_update_configuration_env_visible_to_handler(lam):
    name = unique_name()
    create_function(lam, name, echo("env"), Environment={"Variables": {"GREETING": "hello"}})
    assert invoke_json(lam, name)[0]["greeting"] == "hello"
    resp = lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"GREETING": "hola"}}, Timeout=11, MemorySize=512
    )
    assert resp["Environment"] == {"Variables": {"GREETING": "hola"}}
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["Timeout"], cfg["MemorySize"]) == (11, 512)
    assert invoke_json(lam, name)[0]["greeting"] == "hola"


def test_delete_function_then_not_found(lam):
    name = unique_name()
    create_function(lam, name, echo("gone"), Publish=True)
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_not_found(lam, lam.get_function, FunctionName=name)
    assert_not_found(lam, lam.get_function_configuration, FunctionName=name, Qualifier="1")
    assert_not_found(lam, lam.invoke, FunctionName=name, Payload=b"{}")
    assert_not_found(lam, lam.delete_function, FunctionName=name)
    listed = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert name not in listed


# ---------------------------------------------------------------- versions, aliases


def test_publish_version_preconditions_and_list_versions(lam):
    name = unique_name()
    code1 = handler_zip(echo("v1"))
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code1})
    with pytest.raises(lam.exceptions.PreconditionFailedException) as info:
        lam.publish_version(FunctionName=name, CodeSha256=b64sha256(b"something else"))
    assert lambda_err(info.value) == ("PreconditionFailedException", 412)
    with pytest.raises(lam.exceptions.PreconditionFailedException) as info:
        lam.publish_version(FunctionName=name, RevisionId="00000000-0000-0000-0000-000000000000")
    assert lambda_err(info.value) == ("PreconditionFailedException", 412)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]

    v1 = lam.publish_version(FunctionName=name, CodeSha256=b64sha256(code1), Description="first")
    assert v1["Version"] == "1" and v1["Description"] == "first"
    code2 = handler_zip(echo("v2"))
    rev = lam.update_function_code(FunctionName=name, ZipFile=code2)["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"] or rev
    v2 = lam.publish_version(FunctionName=name, RevisionId=rev)
    assert v2["Version"] == "2" and v2["CodeSha256"] == b64sha256(code2)
    # nothing changed since version 2: Lambda returns the existing version
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[1]["FunctionArn"] == function_arn(name, "1")
    assert invoke_json(lam, name, Qualifier="1")[0]["tag"] == "v1"
    assert invoke_json(lam, name, Qualifier="2")[0]["tag"] == "v2"


@pytest.fixture(scope="module")
def two_versions(lam):
    """A function with version 1 (tag one) and version 2 (tag two)."""
    name = unique_name("two")
    create_function(lam, name, echo("one"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=handler_zip(echo("two")), Publish=True)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    return name


def test_alias_crud(lam, two_versions):
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == function_arn(name, "live")
    assert (created["Name"], created["FunctionVersion"], created["Description"]) == ("live", "1", "prod")
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert lambda_err(info.value) == ("ResourceConflictException", 409)
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="2")

    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["FunctionVersion"] == "1" and got["RevisionId"] == created["RevisionId"]
    result, meta = invoke_json(lam, name, Qualifier="live")
    assert result["tag"] == "one" and meta["ExecutedVersion"] == "1"

    updated = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", Description="promoted")
    assert updated["FunctionVersion"] == "2" and updated["Description"] == "promoted"
    assert updated["RevisionId"] != created["RevisionId"]
    result, meta = invoke_json(lam, name, Qualifier="live")
    assert result["tag"] == "two" and meta["ExecutedVersion"] == "2"

    aliases = lam.list_aliases(FunctionName=name)["Aliases"]
    assert sorted((a["Name"], a["FunctionVersion"]) for a in aliases) == [("beta", "2"), ("live", "2")]
    only_v2 = lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]
    assert len(only_v2) == 2

    assert lam.delete_alias(FunctionName=name, Name="beta")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_not_found(lam, lam.get_alias, FunctionName=name, Name="beta")
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    # an alias to a version that does not exist
    with pytest.raises(ClientError) as info:
        lam.create_alias(FunctionName=name, Name="ghost", FunctionVersion="99")
    assert lambda_err(info.value)[1] in (400, 404)


def test_alias_weighted_routing_90_10(lam, two_versions):
    name = two_versions
    lam.create_alias(
        FunctionName=name, Name="canary", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    got = lam.get_alias(FunctionName=name, Name="canary")
    assert got["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    n = 1000
    counts: Counter[str] = Counter()
    for _ in range(n):
        resp = lam.invoke(FunctionName=name, Qualifier="canary", Payload=b"{}")
        body = json.loads(resp["Payload"].read())
        executed = resp["ExecutedVersion"]
        assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == executed
        assert body["version"] == executed, "the version reported is not the one that ran"
        assert body["tag"] == {"1": "one", "2": "two"}[executed]
        counts[executed] += 1
    assert set(counts) <= {"1", "2"}
    p = 0.1
    sigma = math.sqrt(p * (1 - p) / n)
    share = counts["2"] / n
    assert abs(share - p) <= 4 * sigma, (counts, share, 4 * sigma)


# ---------------------------------------------------------------- settings


def test_function_concurrency(lam):
    name = unique_name()
    create_function(lam, name, echo("c"))
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert put["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 5
    resp = lam.delete_function_concurrency(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before


def test_provisioned_concurrency_config(lam):
    name = unique_name()
    create_function(lam, name, echo("pc"), Publish=True)
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2

    def ready():
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        return cfg if cfg["Status"] == "READY" else None

    cfg = wait_for(ready, timeout=30)
    assert cfg["RequestedProvisionedConcurrentExecutions"] == 2
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [function_arn(name, "1")]
    assert invoke_json(lam, name, Qualifier="1")[0]["tag"] == "pc"
    with pytest.raises(ClientError) as info:  # $LATEST cannot be provisioned
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert lambda_err(info.value) == ("InvalidParameterValueException", 400)
    resp = lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException) as info:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert lambda_err(info.value) == ("ProvisionedConcurrencyConfigNotFoundException", 404)


def test_event_invoke_config(lam):
    name = unique_name()
    create_function(lam, name, echo("eic"))
    dest = function_arn(unique_name("dest"))
    put = lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": dest}},
    )
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 120)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (1, 120)
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == dest
    # Update merges, Put replaces
    upd = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert (upd["MaximumRetryAttempts"], upd["MaximumEventAgeInSeconds"]) == (0, 120)
    assert upd["DestinationConfig"]["OnFailure"]["Destination"] == dest
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    assert replaced["MaximumRetryAttempts"] == 2
    assert "MaximumEventAgeInSeconds" not in replaced or replaced["MaximumEventAgeInSeconds"] != 120
    assert not replaced.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    with pytest.raises(ClientError) as info:
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3)
    assert lambda_err(info.value) == ("InvalidParameterValueException", 400)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert len(listed) == 1
    assert lam.delete_function_event_invoke_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_not_found(lam, lam.get_function_event_invoke_config, FunctionName=name)
    # Lambda names the unqualified config by its $LATEST ARN
    assert put["FunctionArn"] == function_arn(name, "$LATEST")
    assert listed[0]["FunctionArn"] == function_arn(name, "$LATEST")


def test_event_invoke_config_latest_qualifier_is_the_unqualified_config(lam):
    """Lambda keys the unqualified config as $LATEST: either spelling reads and deletes the same one."""
    name = unique_name()
    create_function(lam, name, echo("eic2"))
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    got = lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")
    assert got["MaximumRetryAttempts"] == 1
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST", MaximumRetryAttempts=0)
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 0
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1


def test_update_with_stale_revision_id_is_rejected(lam):
    name = unique_name()
    first = create_function(lam, name, echo("rev"))
    current = lam.update_function_configuration(FunctionName=name, Description="one")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    assert revision != first["RevisionId"]
    with pytest.raises(lam.exceptions.PreconditionFailedException) as info:
        lam.update_function_configuration(FunctionName=name, Description="two", RevisionId=first["RevisionId"])
    assert lambda_err(info.value) == ("PreconditionFailedException", 412)
    with pytest.raises(lam.exceptions.PreconditionFailedException) as info:
        lam.update_function_code(FunctionName=name, ZipFile=handler_zip(echo("x")), RevisionId=first["RevisionId"])
    assert lambda_err(info.value) == ("PreconditionFailedException", 412)
    assert lam.get_function_configuration(FunctionName=name)["Description"] == current["Description"] == "one"
    ok = lam.update_function_configuration(FunctionName=name, Description="three", RevisionId=revision)
    assert ok["Description"] == "three"


def test_permissions_policy(lam):
    name = unique_name()
    create_function(lam, name, echo("perm"))
    assert_not_found(lam, lam.get_policy, FunctionName=name)
    source = "arn:aws:s3:::some-bucket"
    added = lam.add_permission(
        FunctionName=name, StatementId="s3-invoke", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn=source,
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement["Sid"] == "s3-invoke"
    lam.add_permission(FunctionName=name, StatementId="other", Action="lambda:GetFunction",
                       Principal="events.amazonaws.com")
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.add_permission(FunctionName=name, StatementId="s3-invoke", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
    assert lambda_err(info.value) == ("ResourceConflictException", 409)
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert set(sids) == {"s3-invoke", "other"}
    assert sids["s3-invoke"]["Action"] == "lambda:InvokeFunction"
    assert sids["s3-invoke"]["Resource"] == function_arn(name)
    assert json.dumps(sids["s3-invoke"]["Condition"]).count(source) == 1
    lam.remove_permission(FunctionName=name, StatementId="s3-invoke")
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["other"]
    assert_not_found(lam, lam.remove_permission, FunctionName=name, StatementId="s3-invoke")
    lam.remove_permission(FunctionName=name, StatementId="other")
    assert_not_found(lam, lam.get_policy, FunctionName=name)


def test_function_url_config(lam):
    name = unique_name()
    create_function(lam, name, echo("url"))
    assert_not_found(lam, lam.get_function_url_config, FunctionName=name)
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AuthType"] == "NONE"
    assert created["FunctionUrl"].startswith("http")
    assert created["FunctionArn"] == function_arn(name)
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert lambda_err(info.value) == ("ResourceConflictException", 409)
    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"] and got["AuthType"] == "NONE"
    upd = lam.update_function_url_config(
        FunctionName=name, AuthType="AWS_IAM", Cors={"AllowOrigins": ["https://example.com"], "MaxAge": 60}
    )
    assert upd["AuthType"] == "AWS_IAM"
    assert upd["Cors"]["AllowOrigins"] == ["https://example.com"] and upd["Cors"]["MaxAge"] == 60
    got = lam.get_function_url_config(FunctionName=name)
    assert got["AuthType"] == "AWS_IAM" and got["Cors"]["MaxAge"] == 60
    urls = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [u["FunctionUrl"] for u in urls] == [created["FunctionUrl"]]
    assert lam.delete_function_url_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_not_found(lam, lam.get_function_url_config, FunctionName=name)


def test_account_settings(lam):
    before = lam.get_account_settings()
    name = unique_name()
    code = handler_zip(echo("acct") + "\n# " + "x" * 1000 + "\n")
    create_function(lam, name, code)
    after = lam.get_account_settings()
    limit = after["AccountLimit"]
    assert limit["ConcurrentExecutions"] >= 1000
    assert limit["CodeSizeZipped"] == 52_428_800 and limit["CodeSizeUnzipped"] == 262_144_000
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] == before["AccountUsage"]["TotalCodeSize"] + len(code)


def test_tags(lam):
    name = unique_name()
    create_function(lam, name, echo("tags"), Tags={"a": "1"})
    arn = function_arn(name)
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1"}
    lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
    lam.tag_resource(Resource=arn, Tags={"a": "one"})
    lam.untag_resource(Resource=arn, TagKeys=["b", "not-there"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "one", "c": "3"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"a": "one", "c": "3"}
    assert_not_found(lam, lam.list_tags, Resource=function_arn(unique_name("nobody")))


# ---------------------------------------------------------------- bad input at CreateFunction


def zip_bomb() -> bytes:
    """1 GiB of zeros, deflated (about 1 MiB)."""
    buf = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        with zf.open("zeros.bin", "w", force_zip64=True) as f:
            for _ in range(1024):
                f.write(chunk)
    return buf.getvalue()


def zip_with_entry(entry: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr(zipfile.ZipInfo(entry), "print('escaped')\n")
    names = zipfile.ZipFile(io.BytesIO(buf.getvalue())).namelist()
    assert entry in names, names  # the hostile name really is in the archive
    return buf.getvalue()


def assert_create_rejected(lam_raw, lam, name: str, **kw) -> None:
    params = {"FunctionName": name, "Runtime": RUNTIME, "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": handler_zip(echo("bad"))}} | kw
    with pytest.raises(ClientError) as info:
        lam_raw.create_function(**params)
    assert lambda_err(info.value) == ("InvalidParameterValueException", 400), info.value.response
    assert info.value.response["Error"].get("Message")
    if len(name) <= 64 and name.replace("-", "").replace("_", "").isalnum():
        assert_not_found(lam, lam.get_function, FunctionName=name)


def test_create_control_is_accepted(lam_raw, lam):
    """The rejected requests below differ from this accepted one only in the field under test."""
    name = unique_name()
    lam_raw.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": handler_zip(echo("ok"))}, Timeout=900, MemorySize=10240)
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 10240


def test_create_zip_bomb_rejected(lam_raw, lam):
    bomb = zip_bomb()
    assert len(bomb) < 8 * 1024 * 1024
    assert_create_rejected(lam_raw, lam, unique_name(), Code={"ZipFile": bomb})


def test_create_zip_with_parent_dir_entry_rejected(lam_raw, lam):
    assert_create_rejected(lam_raw, lam, unique_name(), Code={"ZipFile": zip_with_entry("../evil.py")})


def test_create_zip_with_absolute_entry_rejected(lam_raw, lam):
    assert_create_rejected(lam_raw, lam, unique_name(), Code={"ZipFile": zip_with_entry("/tmp/bayou-evil.py")})


def test_create_bad_function_name_rejected(lam_raw, lam):
    assert_create_rejected(lam_raw, lam, "bad name!")


def test_create_65_char_name_rejected(lam_raw, lam):
    name = "f" * 65
    assert_create_rejected(lam_raw, lam, name)
    assert_create_rejected(lam_raw, lam, "g" * 64 + "-")
    ok = "h" * 63 + unique_name()[-1]
    lam_raw.create_function(FunctionName=ok, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": handler_zip(echo("64"))})
    assert lam.get_function(FunctionName=ok)["Configuration"]["FunctionName"] == ok


@pytest.mark.parametrize("timeout", [0, 901])
def test_create_bad_timeout_rejected(lam_raw, lam, timeout):
    assert_create_rejected(lam_raw, lam, unique_name(), Timeout=timeout)


@pytest.mark.parametrize("memory", [64, 20000])
def test_create_bad_memory_rejected(lam_raw, lam, memory):
    assert_create_rejected(lam_raw, lam, unique_name(), MemorySize=memory)


def test_create_twice_conflict(lam):
    name = unique_name()
    create_function(lam, name, echo("first"))
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": handler_zip(echo("second"))})
    assert lambda_err(info.value) == ("ResourceConflictException", 409)
    assert invoke_json(lam, name)[0]["tag"] == "first"


# ---------------------------------------------------------------- restart


def test_everything_survives_restart(tmp_path):
    srv = BayouServer(tmp_path / "data")
    srv.start()
    try:
        lam = lambda_client(srv)
        name = unique_name("durable")
        create_function(lam, name, echo("one"), Publish=True, Timeout=9, MemorySize=192,
                        Environment={"Variables": {"GREETING": "persist"}}, Description="d", Tags={"k": "v"})
        lam.update_function_code(FunctionName=name, ZipFile=handler_zip(echo("two")), Publish=True)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=300)
        lam.add_permission(FunctionName=name, StatementId="sid1", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
        url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        before_cfg = lam.get_function_configuration(FunctionName=name)
        before_v1 = lam.get_function_configuration(FunctionName=name, Qualifier="1")

        srv.restart()
        lam = lambda_client(srv)

        cfg = lam.get_function_configuration(FunctionName=name)
        for key in ("CodeSha256", "RevisionId", "Timeout", "MemorySize", "Environment", "Description", "Handler"):
            assert cfg[key] == before_cfg[key], key
        assert cfg["State"] == "Active"
        v1 = lam.get_function_configuration(FunctionName=name, Qualifier="1")
        assert v1["CodeSha256"] == before_v1["CodeSha256"] != cfg["CodeSha256"]
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        assert versions == ["$LATEST", "1", "2"]
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1"
        assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
        pc = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
        assert pc["RequestedProvisionedConcurrentExecutions"] == 1
        eic = lam.get_function_event_invoke_config(FunctionName=name)
        assert (eic["MaximumRetryAttempts"], eic["MaximumEventAgeInSeconds"]) == (0, 300)
        assert [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]] == ["sid1"]
        assert lam.get_function_url_config(FunctionName=name)["FunctionUrl"] == url
        assert lam.list_tags(Resource=function_arn(name))["Tags"] == {"k": "v"}
        # and the code itself is still there and runs
        assert invoke_json(lam, name, Qualifier="1")[0] == {
            "tag": "one", "event": {}, "greeting": "persist", "version": "1"}
        assert invoke_json(lam, name)[0]["tag"] == "two"
        seen = {invoke_json(lam, name, Qualifier="live")[1]["ExecutedVersion"] for _ in range(40)}
        assert seen == {"1", "2"}  # P(miss one) < 1e-5 at 25 %
    finally:
        srv.stop()
