"""Golden shapes: FunctionConfiguration, AliasConfiguration and friends, as Lambda names them."""

from __future__ import annotations

import base64
import hashlib

from bayou.api.lambda_.shapes import (
    alias_configuration,
    code_location,
    function_configuration,
    function_url,
    get_function_response,
    iso_timestamp,
    lambda_timestamp,
    listing,
    page,
)
from bayou.functions.models import Alias, CodeRef, FunctionVersion

SHA = hashlib.sha256(b"zip").hexdigest()
CODE = CodeRef("blob-1", SHA, 321)
T0 = 1704067200.0  # 2024-01-01T00:00:00Z


def version(**overrides: object) -> FunctionVersion:
    values: dict[str, object] = {
        "name": "fn", "version": "$LATEST", "runtime": "python3.11", "handler": "app.handler", "code": CODE,
        "role": "arn:aws:iam::000000000000:role/r", "description": "d", "timeout": 3, "memory_size": 128,
        "environment": {"A": "1"}, "revision_id": "rev-1", "last_modified": T0 + 0.25,
    }
    values.update(overrides)
    return FunctionVersion(**values)  # type: ignore[arg-type]


def test_timestamps() -> None:
    assert lambda_timestamp(T0) == "2024-01-01T00:00:00.000+0000"
    assert lambda_timestamp(T0 + 1.2345) == "2024-01-01T00:00:01.234+0000"
    assert lambda_timestamp(T0 + 0.9999) == "2024-01-01T00:00:01.000+0000"
    assert iso_timestamp(T0 + 0.5) == "2024-01-01T00:00:00.500000Z"


def test_function_configuration_golden() -> None:
    assert function_configuration(version(), "us-east-1", arn_qualifier=None) == {
        "FunctionName": "fn",
        "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler",
        "CodeSize": 321,
        "Description": "d",
        "Timeout": 3,
        "MemorySize": 128,
        "LastModified": "2024-01-01T00:00:00.250+0000",
        "CodeSha256": CODE.sha256_b64,
        "Version": "$LATEST",
        "Environment": {"Variables": {"A": "1"}},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": "rev-1",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"},
    }


def test_published_version_and_extras() -> None:
    extra = {
        "Architectures": ["arm64"], "TracingConfig": {"Mode": "Active"}, "EphemeralStorage": {"Size": 1024},
        "LoggingConfig": {"LogFormat": "JSON"}, "Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"],
        "KMSKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k", "SnapStart": {"ApplyOn": "PublishedVersions"},
    }
    shape = function_configuration(version(version="3", extra=extra), "eu-west-1", arn_qualifier="3")
    assert shape["FunctionArn"] == "arn:aws:lambda:eu-west-1:000000000000:function:fn:3"
    assert shape["Version"] == "3"
    assert shape["Architectures"] == ["arm64"]
    assert shape["TracingConfig"] == {"Mode": "Active"}
    assert shape["EphemeralStorage"] == {"Size": 1024}
    assert shape["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/fn"}
    assert shape["Layers"] == [{"Arn": "arn:aws:lambda:us-east-1:000000000000:layer:l:1", "CodeSize": 0}]
    assert shape["KMSKeyArn"] == "arn:aws:kms:us-east-1:000000000000:key/k"
    assert shape["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}


def test_code_sha256_is_base64_of_the_digest() -> None:
    shape = function_configuration(version(), "us-east-1", arn_qualifier=None)
    assert shape["CodeSha256"] == base64.b64encode(hashlib.sha256(b"zip").digest()).decode()


def test_alias_golden() -> None:
    alias = Alias("fn", "live", "2", "d", {"3": 0.25}, "rev")
    assert alias_configuration(alias, "us-east-1") == {
        "AliasArn": "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
        "Name": "live",
        "FunctionVersion": "2",
        "Description": "d",
        "RevisionId": "rev",
        "RoutingConfig": {"AdditionalVersionWeights": {"3": 0.25}},
    }
    assert "RoutingConfig" not in alias_configuration(Alias("fn", "live", "2"), "us-east-1")


def test_get_function_response_and_code_location() -> None:
    config = {"FunctionName": "fn"}
    code = code_location("http://localhost:9000", version(version="4"))
    assert code == {
        "RepositoryType": "S3",
        "Location": f"http://localhost:9000/_bayou/fn-code/fn?Qualifier=4&CodeSha256={SHA}",
    }
    assert get_function_response(config, code, None, None) == {"Configuration": config, "Code": code}
    full = get_function_response(config, code, {"k": "v"}, {"ReservedConcurrentExecutions": 2})
    assert full["Tags"] == {"k": "v"} and full["Concurrency"] == {"ReservedConcurrentExecutions": 2}


def test_function_url() -> None:
    assert function_url("http://h:9000", "fn", None) == "http://h:9000/_bayou/fn-url/fn/"
    assert function_url("http://h:9000", "fn", "live") == "http://h:9000/_bayou/fn-url/fn:live/"


def test_listing_and_page() -> None:
    assert listing("Functions", [], None) == {"Functions": []}
    assert listing("Functions", [1], "m") == {"Functions": [1], "NextMarker": "m"}
    items = ["c", "a", "b", "d"]
    assert page(items, str, None, 2) == (["a", "b"], "b")
    assert page(items, str, "b", 2) == (["c", "d"], None)
    assert page(items, str, "d", 2) == ([], None)
