"""The Lambda router as a table: request lines built by botocore itself, so paths are exactly boto3's."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest

from bayou.api.lambda_ import router as r
from bayou.api.lambda_.router import parse_function_ref, route
from bayou.errors import InvalidParameterValueException, ResourceNotFoundException

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


class Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _client() -> Any:
    session = botocore.session.get_session()
    client = session.create_client(
        "lambda", region_name="us-east-1", endpoint_url="http://localhost:9000",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
    )

    def capture(request: Any, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send.lambda", capture)
    return client


CLIENT = _client()


def request_line(operation: str, params: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
    """(method, raw path, query pairs) of the request botocore sends for `operation`."""
    method = getattr(CLIENT, botocore.xform_name(operation))
    with pytest.raises(Captured) as info:
        method(**params)
    request = info.value.request
    parts = urlsplit(request.url)
    return request.method, parts.path, parse_qsl(parts.query, keep_blank_values=True)


ZIP = {"ZipFile": b"PK"}
TABLE: list[tuple[str, dict[str, Any], r.Endpoint]] = [
    ("CreateFunction", {"FunctionName": "fn", "Role": "arn:aws:iam::000000000000:role/r", "Code": ZIP}, r.CreateFunction()),
    ("GetFunction", {"FunctionName": "fn"}, r.GetFunction("fn", None)),
    ("GetFunction", {"FunctionName": "fn", "Qualifier": "3"}, r.GetFunction("fn", "3")),
    ("GetFunction", {"FunctionName": ARN + ":live"}, r.GetFunction("fn", "live")),
    ("GetFunction", {"FunctionName": "000000000000:function:fn"}, r.GetFunction("fn", None)),
    ("GetFunction", {"FunctionName": "fn:$LATEST"}, r.GetFunction("fn", "$LATEST")),
    ("GetFunctionConfiguration", {"FunctionName": "fn", "Qualifier": "live"}, r.GetFunctionConfiguration("fn", "live")),
    ("ListFunctions", {}, r.ListFunctions(None, 50, None, None)),
    ("ListFunctions", {"Marker": "m", "MaxItems": 7, "FunctionVersion": "ALL"}, r.ListFunctions("m", 7, "ALL", None)),
    ("UpdateFunctionCode", {"FunctionName": "fn", "ZipFile": b"PK"}, r.UpdateFunctionCode("fn")),
    ("UpdateFunctionConfiguration", {"FunctionName": ARN, "Timeout": 5}, r.UpdateFunctionConfiguration("fn")),
    ("DeleteFunction", {"FunctionName": "fn"}, r.DeleteFunction("fn", None)),
    ("DeleteFunction", {"FunctionName": "fn", "Qualifier": "2"}, r.DeleteFunction("fn", "2")),
    ("PublishVersion", {"FunctionName": "fn"}, r.PublishVersion("fn")),
    ("ListVersionsByFunction", {"FunctionName": "fn", "MaxItems": 2, "Marker": "1"}, r.ListVersionsByFunction("fn", "1", 2)),
    ("CreateAlias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "1"}, r.CreateAlias("fn")),
    ("GetAlias", {"FunctionName": "fn", "Name": "live"}, r.GetAlias("fn", "live")),
    ("UpdateAlias", {"FunctionName": "fn", "Name": "live"}, r.UpdateAlias("fn", "live")),
    ("DeleteAlias", {"FunctionName": "fn", "Name": "live"}, r.DeleteAlias("fn", "live")),
    ("ListAliases", {"FunctionName": "fn"}, r.ListAliases("fn", None, None, 50)),
    ("ListAliases", {"FunctionName": "fn", "FunctionVersion": "2", "MaxItems": 3}, r.ListAliases("fn", "2", None, 3)),
    ("PutFunctionConcurrency", {"FunctionName": "fn", "ReservedConcurrentExecutions": 5}, r.PutFunctionConcurrency("fn")),
    ("GetFunctionConcurrency", {"FunctionName": "fn"}, r.GetFunctionConcurrency("fn")),
    ("DeleteFunctionConcurrency", {"FunctionName": "fn"}, r.DeleteFunctionConcurrency("fn")),
    ("PutProvisionedConcurrencyConfig", {"FunctionName": "fn", "Qualifier": "live", "ProvisionedConcurrentExecutions": 2},
     r.PutProvisionedConcurrencyConfig("fn", "live")),
    ("GetProvisionedConcurrencyConfig", {"FunctionName": "fn", "Qualifier": "live"}, r.GetProvisionedConcurrencyConfig("fn", "live")),
    ("DeleteProvisionedConcurrencyConfig", {"FunctionName": "fn", "Qualifier": "1"},
     r.DeleteProvisionedConcurrencyConfig("fn", "1")),
    ("ListProvisionedConcurrencyConfigs", {"FunctionName": "fn"}, r.ListProvisionedConcurrencyConfigs("fn", None, 50)),
    ("PutFunctionEventInvokeConfig", {"FunctionName": "fn", "MaximumRetryAttempts": 0}, r.PutFunctionEventInvokeConfig("fn", None)),
    ("GetFunctionEventInvokeConfig", {"FunctionName": "fn", "Qualifier": "live"}, r.GetFunctionEventInvokeConfig("fn", "live")),
    ("UpdateFunctionEventInvokeConfig", {"FunctionName": "fn"}, r.UpdateFunctionEventInvokeConfig("fn", None)),
    ("DeleteFunctionEventInvokeConfig", {"FunctionName": "fn"}, r.DeleteFunctionEventInvokeConfig("fn", None)),
    ("ListFunctionEventInvokeConfigs", {"FunctionName": "fn", "MaxItems": 10}, r.ListFunctionEventInvokeConfigs("fn", None, 10)),
    ("AddPermission", {"FunctionName": "fn", "StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"},
     r.AddPermission("fn", None)),
    ("GetPolicy", {"FunctionName": "fn", "Qualifier": "live"}, r.GetPolicy("fn", "live")),
    ("RemovePermission", {"FunctionName": "fn", "StatementId": "s-1", "RevisionId": "rev"},
     r.RemovePermission("fn", "s-1", None, "rev")),
    ("CreateFunctionUrlConfig", {"FunctionName": "fn", "AuthType": "NONE"}, r.CreateFunctionUrlConfig("fn", None)),
    ("GetFunctionUrlConfig", {"FunctionName": "fn", "Qualifier": "live"}, r.GetFunctionUrlConfig("fn", "live")),
    ("UpdateFunctionUrlConfig", {"FunctionName": "fn"}, r.UpdateFunctionUrlConfig("fn", None)),
    ("DeleteFunctionUrlConfig", {"FunctionName": "fn"}, r.DeleteFunctionUrlConfig("fn", None)),
    ("ListFunctionUrlConfigs", {"FunctionName": "fn"}, r.ListFunctionUrlConfigs("fn", None, 50)),
    ("GetAccountSettings", {}, r.GetAccountSettings()),
    ("TagResource", {"Resource": ARN, "Tags": {"a": "b"}}, r.TagResource("fn")),
    ("UntagResource", {"Resource": ARN, "TagKeys": ["a", "b c"]}, r.UntagResource("fn", ("a", "b c"))),
    ("ListTags", {"Resource": ARN}, r.ListTags("fn")),
    ("Invoke", {"FunctionName": "fn"}, r.Invoke("fn", None)),
    ("Invoke", {"FunctionName": "fn", "Qualifier": "live", "Payload": b"{}"}, r.Invoke("fn", "live")),
    ("Invoke", {"FunctionName": ARN + ":3"}, r.Invoke("fn", "3")),
    ("InvokeAsync", {"FunctionName": "fn", "InvokeArgs": b"{}"}, r.InvokeAsync("fn")),
    ("CreateEventSourceMapping", {"EventSourceArn": "arn:aws:s3:::b", "FunctionName": "fn"}, r.CreateEventSourceMapping()),
    ("GetEventSourceMapping", {"UUID": "6f2c3a4e-0000-4000-8000-000000000001"}, r.GetEventSourceMapping("6f2c3a4e-0000-4000-8000-000000000001")),
    ("UpdateEventSourceMapping", {"UUID": "6f2c3a4e-0000-4000-8000-000000000001", "BatchSize": 5}, r.UpdateEventSourceMapping("6f2c3a4e-0000-4000-8000-000000000001")),
    ("DeleteEventSourceMapping", {"UUID": "6f2c3a4e-0000-4000-8000-000000000001"}, r.DeleteEventSourceMapping("6f2c3a4e-0000-4000-8000-000000000001")),
    ("ListEventSourceMappings", {}, r.ListEventSourceMappings(None, None, None, 100)),
    ("ListEventSourceMappings", {"EventSourceArn": "arn:aws:s3:::b/p", "FunctionName": "fn", "Marker": "m", "MaxItems": 5},
     r.ListEventSourceMappings("arn:aws:s3:::b/p", "fn", "m", 5)),
]


@pytest.mark.parametrize(("operation", "params", "expected"), TABLE, ids=[f"{i}-{row[0]}" for i, row in enumerate(TABLE)])
def test_botocore_request_lines(operation: str, params: dict[str, Any], expected: r.Endpoint) -> None:
    method, path, pairs = request_line(operation, params)
    assert route(method, path, pairs) == expected


def test_every_implemented_operation_is_in_the_table() -> None:
    covered = {type(expected).__name__ for _, _, expected in TABLE}
    endpoints = {name for name, value in vars(r).items() if isinstance(value, type) and hasattr(value, "__dataclass_fields__")}
    assert endpoints - covered == {"Unsupported", "GetFunctionLogs"}


def test_decoded_paths_route_the_same() -> None:
    """The app may pass Request.path (decoded) or raw_path (encoded): both give the same endpoint."""
    encoded = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn%3Alive/configuration"
    decoded = "/2015-03-31/functions/" + ARN + ":live/configuration"
    assert route("GET", encoded, {}) == route("GET", decoded, {}) == r.GetFunctionConfiguration("fn", "live")


def test_query_mapping_is_accepted() -> None:
    assert route("GET", "/2015-03-31/functions/fn", {"Qualifier": "1"}) == r.GetFunction("fn", "1")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/2015-03-31/nothing"),
        ("PATCH", "/2015-03-31/functions/fn"),
        ("POST", "/2016-08-19/account-settings"),
        ("GET", "/2015-03-31/functions/fn/aliases/a/b"),
    ],
)
def test_unknown_request_lines_are_lambda_not_found(method: str, path: str) -> None:
    with pytest.raises(ResourceNotFoundException) as info:
        route(method, path, {})
    assert method in info.value.message


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("ListLayers", {}, "Layers"),
        ("ListCodeSigningConfigs", {}, "CodeSigningConfigs"),
        ("GetFunctionCodeSigningConfig", {"FunctionName": "fn"}, "FunctionCodeSigningConfig"),
        ("InvokeWithResponseStream", {"FunctionName": "fn"}, "InvokeWithResponseStream"),
    ],
)
def test_unimplemented_operations_route_to_unsupported(operation: str, params: dict[str, Any], expected: str) -> None:
    method, path, pairs = request_line(operation, params)
    assert route(method, path, pairs) == r.Unsupported(expected)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/2015-03-31/functions/fn:live", {"Qualifier": "other"}),  # name and Qualifier disagree
        ("/2015-03-31/functions/fn", {"Qualifier": "bad qualifier"}),
        ("/2015-03-31/functions/bad%20name", {}),
        ("/2015-03-31/functions/" + "x" * 65, {}),
        ("/2015-03-31/functions", {"MaxItems": "0"}),
        ("/2015-03-31/functions", {"MaxItems": "ten"}),
        ("/2015-03-31/functions", {"FunctionVersion": "3"}),
        ("/2015-03-31/functions/fn/versions", {"MaxItems": "10001"}),
        ("/2021-10-31/functions/fn/urls", {"MaxItems": "51"}),
    ],
)
def test_invalid_parameters(path: str, query: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValueException):
        route("GET", path, query)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/2015-03-31/functions/fn:live/configuration"),  # UpdateFunctionConfiguration takes no qualifier
        ("POST", "/2015-03-31/functions/fn:1/versions"),
        ("POST", "/2017-03-31/tags/fn"),  # tags want an ARN
        ("GET", "/2017-03-31/tags/" + ARN + ":live"),
        ("GET", "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:event-source-mapping:x"),
    ],
)
def test_qualified_or_foreign_references_are_rejected_where_lambda_rejects_them(method: str, path: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        route(method, path, {})


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("fn", ("fn", None)),
        ("fn:live", ("fn", "live")),
        ("fn:$LATEST", ("fn", "$LATEST")),
        ("fn:7", ("fn", "7")),
        ("123456789012:function:fn", ("fn", None)),
        ("123456789012:function:fn:2", ("fn", "2")),
        ("us-east-1:123456789012:function:fn", ("fn", None)),
        (ARN, ("fn", None)),
        (ARN + ":live", ("fn", "live")),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:a-b_c", ("a-b_c", None)),
        ("123456789012", ("123456789012", None)),  # a name made of digits, not an account
        ("123456789012:prod", ("123456789012", "prod")),
    ],
)
def test_parse_function_ref(ref: str, expected: tuple[str, str | None]) -> None:
    assert parse_function_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "fn:", "fn:a:b", "arn:aws:lambda:us-east-1:000000000000:function:", "a b", "fn/x"])
def test_parse_function_ref_rejects(ref: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        parse_function_ref(ref)
