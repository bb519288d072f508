"""Parse, then handle: turn a Lambda REST request line into a typed endpoint (endpoints.py).

Paths and methods are those of botocore's Lambda model (service-2.json, API version 2015-03-31,
whose operations carry their own date prefixes). Path parameters are percent-decoded here, and a
FunctionName in any of Lambda's forms (name, `name:qualifier`, partial ARN `123456789012:function:name`,
full ARN) becomes a plain name plus a qualifier, so handlers never parse ARNs.

Routing failures, decided once here:
- a request line that is no Lambda operation → 404 `ResourceNotFoundException` naming the request
  line. (Lambda's front end answers `UnknownOperationException` there; errors.py has no such class,
  and 404 with a Lambda error type is what boto3 handles best.)
- a real Lambda operation Bayou does not implement (layers, code signing, ...) →
  `Unsupported(operation)`, rendered as 501 `NotImplemented`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote

from bayou.api.lambda_.endpoints import (
    AddPermission,
    CreateAlias,
    CreateEventSourceMapping,
    CreateFunction,
    CreateFunctionUrlConfig,
    DeleteAlias,
    DeleteEventSourceMapping,
    DeleteFunction,
    DeleteFunctionConcurrency,
    DeleteFunctionEventInvokeConfig,
    DeleteFunctionUrlConfig,
    DeleteProvisionedConcurrencyConfig,
    Endpoint,
    GetAccountSettings,
    GetAlias,
    GetEventSourceMapping,
    GetFunction,
    GetFunctionConcurrency,
    GetFunctionConfiguration,
    GetFunctionEventInvokeConfig,
    GetFunctionLogs,
    GetFunctionUrlConfig,
    GetPolicy,
    GetProvisionedConcurrencyConfig,
    Invoke,
    InvokeAsync,
    ListAliases,
    ListEventSourceMappings,
    ListFunctionEventInvokeConfigs,
    ListFunctions,
    ListFunctionUrlConfigs,
    ListProvisionedConcurrencyConfigs,
    ListTags,
    ListVersionsByFunction,
    PublishVersion,
    PutFunctionConcurrency,
    PutFunctionEventInvokeConfig,
    PutProvisionedConcurrencyConfig,
    RemovePermission,
    TagResource,
    Unsupported,
    UntagResource,
    UpdateAlias,
    UpdateEventSourceMapping,
    UpdateFunctionCode,
    UpdateFunctionConfiguration,
    UpdateFunctionEventInvokeConfig,
    UpdateFunctionUrlConfig,
)
from bayou.errors import InvalidParameterValueException, ResourceNotFoundException
from bayou.functions import validation

__all__ = [
    "AddPermission",
    "CreateAlias",
    "CreateEventSourceMapping",
    "CreateFunction",
    "CreateFunctionUrlConfig",
    "DeleteAlias",
    "DeleteEventSourceMapping",
    "DeleteFunction",
    "DeleteFunctionConcurrency",
    "DeleteFunctionEventInvokeConfig",
    "DeleteFunctionUrlConfig",
    "DeleteProvisionedConcurrencyConfig",
    "Endpoint",
    "GetAccountSettings",
    "GetAlias",
    "GetEventSourceMapping",
    "GetFunction",
    "GetFunctionConcurrency",
    "GetFunctionConfiguration",
    "GetFunctionEventInvokeConfig",
    "GetFunctionLogs",
    "GetFunctionUrlConfig",
    "GetPolicy",
    "GetProvisionedConcurrencyConfig",
    "Invoke",
    "InvokeAsync",
    "ListAliases",
    "ListEventSourceMappings",
    "ListFunctionEventInvokeConfigs",
    "ListFunctionUrlConfigs",
    "ListFunctions",
    "ListProvisionedConcurrencyConfigs",
    "ListTags",
    "ListVersionsByFunction",
    "PublishVersion",
    "PutFunctionConcurrency",
    "PutFunctionEventInvokeConfig",
    "PutProvisionedConcurrencyConfig",
    "RemovePermission",
    "TagResource",
    "Unsupported",
    "UntagResource",
    "UpdateAlias",
    "UpdateEventSourceMapping",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "UpdateFunctionEventInvokeConfig",
    "UpdateFunctionUrlConfig",
    "parse_function_ref",
    "route",
]

# --- function references ------------------------------------------------------------------------

_QUALIFIER = re.compile(r"[a-zA-Z0-9$_-]{1,128}")
#: One parser for every FunctionName form, shared with the registry (functions/validation.py).
parse_function_ref = validation.parse_function_ref


def _merge_qualifier(ref_qualifier: str | None, query_qualifier: str | None) -> str | None:
    if query_qualifier is not None and not _QUALIFIER.fullmatch(query_qualifier):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{query_qualifier}' at 'qualifier' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
        )
    if ref_qualifier and query_qualifier and ref_qualifier != query_qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return ref_qualifier or query_qualifier


# --- query parameters ---------------------------------------------------------------------------


class Query:
    """The query string as (name, value) pairs; repeated names (UntagResource's tagKeys) survive."""

    def __init__(self, query: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = query.items() if isinstance(query, Mapping) else query
        self.pairs = [(str(k), str(v)) for k, v in items]

    def get(self, name: str) -> str | None:
        values = self.getall(name)
        return values[-1] if values else None

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def max_items(self, upper: int, default: int = 50) -> int:
        raw = self.get("MaxItems")
        if raw is None or raw == "":
            return min(default, upper)
        try:
            value = int(raw)
        except ValueError:
            raise InvalidParameterValueException(f"Invalid MaxItems: {raw!r} is not an integer.") from None
        if not 1 <= value <= upper:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: "
                f"Member must have value between 1 and {upper}"
            )
        return value


# --- the table ----------------------------------------------------------------------------------

Builder = Callable[[dict[str, str], Query], Endpoint]


def _ref(params: dict[str, str], query: Query, *, qualified: bool) -> tuple[str, str | None]:
    name, qualifier = parse_function_ref(params["FunctionName"])
    if not qualified:
        if qualifier is not None:
            raise InvalidParameterValueException(
                f"Unqualified function name expected: {params['FunctionName']!r} carries a qualifier."
            )
        return name, None
    return name, _merge_qualifier(qualifier, query.get("Qualifier"))


def _name(params: dict[str, str], query: Query) -> str:
    return _ref(params, query, qualified=False)[0]


def _qualified(cls: Callable[[str, str | None], Endpoint]) -> Builder:
    return lambda p, q: cls(*_ref(p, q, qualified=True))


def _unqualified(cls: Callable[[str], Endpoint]) -> Builder:
    return lambda p, q: cls(_name(p, q))


def _listing(cls: Callable[..., Endpoint], upper: int) -> Builder:
    return lambda p, q: cls(_name(p, q), marker=q.get("Marker") or None, max_items=q.max_items(upper))


def _tag_target(params: dict[str, str]) -> str:
    resource = params["Resource"]
    if not resource.startswith("arn:") or ":function:" not in resource:
        raise InvalidParameterValueException(f"Tagging is supported on functions only; got resource {resource!r}.")
    name, qualifier = parse_function_ref(resource)
    if qualifier is not None:
        raise InvalidParameterValueException("Tags apply to a function, not to a version or an alias; use the unqualified ARN.")
    return name


def _list_functions(p: dict[str, str], q: Query) -> Endpoint:
    version = q.get("FunctionVersion") or None
    if version is not None and version != "ALL":
        raise InvalidParameterValueException("FunctionVersion must be ALL.")
    return ListFunctions(q.get("Marker") or None, q.max_items(10000), version, q.get("MasterRegion") or None)


def _list_aliases(p: dict[str, str], q: Query) -> Endpoint:
    return ListAliases(_name(p, q), q.get("FunctionVersion") or None, q.get("Marker") or None, q.max_items(10000))


def _remove_permission(p: dict[str, str], q: Query) -> Endpoint:
    name, qualifier = _ref(p, q, qualified=True)
    return RemovePermission(name, p["StatementId"], qualifier, q.get("RevisionId") or None)


def _provisioned(p: dict[str, str], q: Query) -> Endpoint:
    if q.get("List") == "ALL":
        return _listing(ListProvisionedConcurrencyConfigs, 50)(p, q)
    return GetProvisionedConcurrencyConfig(*_ref(p, q, qualified=True))


def _function_logs(p: dict[str, str], q: Query) -> Endpoint:
    raw = q.get("offset") or "0"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidParameterValueException(f"offset must be a non-negative integer; got {raw!r}.")
    return GetFunctionLogs(_name(p, q), int(raw))


def _list_event_source_mappings(p: dict[str, str], q: Query) -> Endpoint:
    return ListEventSourceMappings(q.get("EventSourceArn") or None, q.get("FunctionName") or None,
                                   q.get("Marker") or None, q.max_items(10000, 100))


_FN = "/2015-03-31/functions/{FunctionName}"
_ESM = "/2015-03-31/event-source-mappings"
_TABLE: list[tuple[str, str, Builder]] = [
    ("POST", "/2015-03-31/functions", lambda p, q: CreateFunction()),
    ("GET", "/2015-03-31/functions", _list_functions),
    ("GET", _FN, _qualified(GetFunction)),
    ("DELETE", _FN, _qualified(DeleteFunction)),
    ("GET", _FN + "/configuration", _qualified(GetFunctionConfiguration)),
    ("PUT", _FN + "/configuration", _unqualified(UpdateFunctionConfiguration)),
    ("PUT", _FN + "/code", _unqualified(UpdateFunctionCode)),
    ("POST", _FN + "/versions", _unqualified(PublishVersion)),
    ("GET", _FN + "/versions", _listing(ListVersionsByFunction, 10000)),
    ("POST", _FN + "/aliases", _unqualified(CreateAlias)),
    ("GET", _FN + "/aliases", _list_aliases),
    ("GET", _FN + "/aliases/{Name}", lambda p, q: GetAlias(_name(p, q), p["Name"])),
    ("PUT", _FN + "/aliases/{Name}", lambda p, q: UpdateAlias(_name(p, q), p["Name"])),
    ("DELETE", _FN + "/aliases/{Name}", lambda p, q: DeleteAlias(_name(p, q), p["Name"])),
    ("POST", _FN + "/invocations", _qualified(Invoke)),
    ("POST", _FN + "/policy", _qualified(AddPermission)),
    ("GET", _FN + "/policy", _qualified(GetPolicy)),
    ("DELETE", _FN + "/policy/{StatementId}", _remove_permission),
    ("GET", _FN + "/logs", _function_logs),  # Bayou's extension, not a Lambda operation
    ("POST", _ESM, lambda p, q: CreateEventSourceMapping()),
    ("GET", _ESM, _list_event_source_mappings),
    ("GET", _ESM + "/{UUID}", lambda p, q: GetEventSourceMapping(p["UUID"])),
    ("PUT", _ESM + "/{UUID}", lambda p, q: UpdateEventSourceMapping(p["UUID"])),
    ("DELETE", _ESM + "/{UUID}", lambda p, q: DeleteEventSourceMapping(p["UUID"])),
    ("POST", "/2014-11-13/functions/{FunctionName}/invoke-async", _unqualified(InvokeAsync)),
    ("GET", "/2016-08-19/account-settings", lambda p, q: GetAccountSettings()),
    ("POST", "/2017-03-31/tags/{Resource}", lambda p, q: TagResource(_tag_target(p))),
    ("DELETE", "/2017-03-31/tags/{Resource}", lambda p, q: UntagResource(_tag_target(p), tuple(q.getall("tagKeys")))),
    ("GET", "/2017-03-31/tags/{Resource}", lambda p, q: ListTags(_tag_target(p))),
    ("PUT", "/2017-10-31/functions/{FunctionName}/concurrency", _unqualified(PutFunctionConcurrency)),
    ("DELETE", "/2017-10-31/functions/{FunctionName}/concurrency", _unqualified(DeleteFunctionConcurrency)),
    ("GET", "/2019-09-30/functions/{FunctionName}/concurrency", _unqualified(GetFunctionConcurrency)),
    ("PUT", "/2019-09-30/functions/{FunctionName}/provisioned-concurrency", _qualified(PutProvisionedConcurrencyConfig)),
    ("GET", "/2019-09-30/functions/{FunctionName}/provisioned-concurrency", _provisioned),
    ("DELETE", "/2019-09-30/functions/{FunctionName}/provisioned-concurrency",
     _qualified(DeleteProvisionedConcurrencyConfig)),
    ("PUT", "/2019-09-25/functions/{FunctionName}/event-invoke-config", _qualified(PutFunctionEventInvokeConfig)),
    ("POST", "/2019-09-25/functions/{FunctionName}/event-invoke-config", _qualified(UpdateFunctionEventInvokeConfig)),
    ("GET", "/2019-09-25/functions/{FunctionName}/event-invoke-config", _qualified(GetFunctionEventInvokeConfig)),
    ("DELETE", "/2019-09-25/functions/{FunctionName}/event-invoke-config",
     _qualified(DeleteFunctionEventInvokeConfig)),
    ("GET", "/2019-09-25/functions/{FunctionName}/event-invoke-config/list",
     _listing(ListFunctionEventInvokeConfigs, 50)),
    ("POST", "/2021-10-31/functions/{FunctionName}/url", _qualified(CreateFunctionUrlConfig)),
    ("GET", "/2021-10-31/functions/{FunctionName}/url", _qualified(GetFunctionUrlConfig)),
    ("PUT", "/2021-10-31/functions/{FunctionName}/url", _qualified(UpdateFunctionUrlConfig)),
    ("DELETE", "/2021-10-31/functions/{FunctionName}/url", _qualified(DeleteFunctionUrlConfig)),
    ("GET", "/2021-10-31/functions/{FunctionName}/urls", _listing(ListFunctionUrlConfigs, 50)),
]

#: Lambda operations outside Bayou's scope, by path shape (any method): 501, not 404.
_UNSUPPORTED: list[tuple[str, str]] = [
    ("Layers", "/2018-10-31/layers"),
    ("Layers", "/2018-10-31/layers/{LayerName}/versions"),
    ("Layers", "/2018-10-31/layers/{LayerName}/versions/{VersionNumber}"),
    ("Layers", "/2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy"),
    ("Layers", "/2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy/{StatementId}"),
    ("CodeSigningConfigs", "/2020-04-22/code-signing-configs"),
    ("CodeSigningConfigs", "/2020-04-22/code-signing-configs/{Arn}"),
    ("FunctionCodeSigningConfig", "/2020-06-30/functions/{FunctionName}/code-signing-config"),
    ("FunctionRecursionConfig", "/2024-08-31/functions/{FunctionName}/recursion-config"),
    ("RuntimeManagementConfig", "/2021-07-20/functions/{FunctionName}/runtime-management-config"),
    ("FunctionScalingConfig", "/2025-11-30/functions/{FunctionName}/function-scaling-config"),
    ("InvokeWithResponseStream", "/2021-11-15/functions/{FunctionName}/response-streaming-invocations"),
    ("ListFunctionsByCodeSigningConfig", "/2020-04-22/code-signing-configs/{Arn}/functions"),
]


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ..., literal
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern + "/?")


_ROUTES = [(method, _compile(template), build) for method, template, build in _TABLE]
_UNSUPPORTED_ROUTES = [(operation, _compile(template)) for operation, template in _UNSUPPORTED]


def route(method: str, path: str, query: Mapping[str, str] | Iterable[tuple[str, str]]) -> Endpoint:
    """The endpoint of a request line.

    `path` is the raw (percent-encoded) path; each parameter is decoded once here. `query` is the
    parsed query string; pass the (name, value) pairs (`Request.query_pairs`) so that UntagResource's
    repeated `tagKeys` survive.
    """
    parsed = Query(query)
    path_matched = False
    for route_method, pattern, build in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        path_matched = True
        if route_method == method:
            return build({k: unquote(v) for k, v in match.groupdict().items()}, parsed)
    for operation, pattern in _UNSUPPORTED_ROUTES:
        if pattern.fullmatch(path):
            return Unsupported(operation)
    detail = "method not allowed on this resource" if path_matched else "unknown operation"
    raise ResourceNotFoundException(f"No Lambda operation for {method} {path} ({detail}).")
