"""Lambda handlers at the unit level: boto3's own client (request building, response parsing, waiters)
talks to router → dispatch → handlers in process, over an in-memory fake registry.

The fake implements the registry interface just enough for the API's mapping to be checked; the
real registry has its own tests, and end-to-end tests drive a real server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from bayou.api.http import Request, Response
from bayou.api.lambda_ import dispatch
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.render import error_response
from bayou.api.lambda_.router import parse_function_ref, route
from bayou.api.lambda_.shapes import page
from bayou.errors import (
    BayouError,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from bayou.functions.models import LATEST, Alias, CodeRef, FunctionVersion, Resolved, function_arn
from bayou.functions.registry import CodeSource, FunctionRegistry, FunctionSpec

REGION = "us-east-1"
PUBLIC = "http://localhost:9000"
ROLE = "arn:aws:iam::000000000000:role/r"
T0 = 1704067200.0


class FakeRegistry(FunctionRegistry):
    """In-memory functions, versions, aliases and settings; no validation beyond existence and revisions."""

    def __init__(self) -> None:
        self.latest: dict[str, FunctionVersion] = {}
        self.versions: dict[str, list[FunctionVersion]] = {}
        self.aliases: dict[tuple[str, str], Alias] = {}
        self.settings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.sources: list[CodeSource] = []

    def _missing(self, name: str, qualifier: str | None = None) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {function_arn(REGION, name, qualifier)}")

    def _code(self, code: CodeSource) -> CodeRef:
        self.sources.append(code)
        data = code.zip_bytes if code.zip_bytes is not None else f"{code.s3_bucket}/{code.s3_key}".encode()
        return CodeRef(uuid.uuid4().hex, hashlib.sha256(data).hexdigest(), len(data))

    async def create_function(self, spec: FunctionSpec, code: CodeSource) -> FunctionVersion:
        if spec.name in self.latest:
            raise ResourceConflictException(f"Function already exist: {spec.name}")
        self.latest[spec.name] = FunctionVersion(
            spec.name, LATEST, spec.runtime, spec.handler, self._code(code), spec.role, spec.description,
            spec.timeout, spec.memory_size, dict(spec.environment or {}), uuid.uuid4().hex, T0, 512,
            dict(spec.extra or {}),
        )
        self.versions[spec.name] = []
        if spec.tags:
            self.settings[(spec.name, "tags", "")] = dict(spec.tags)
        return await self.publish_version(spec.name) if spec.publish else self.latest[spec.name]

    async def get_function(self, name: str, qualifier: str | None = None) -> FunctionVersion:
        if name not in self.latest:
            raise self._missing(name)
        if qualifier in (None, LATEST):
            return self.latest[name]
        if (name, qualifier) in self.aliases:
            qualifier = self.aliases[(name, qualifier)].function_version
            return await self.get_function(name, qualifier)
        for version in self.versions[name]:
            if version.version == qualifier:
                return version
        raise self._missing(name, qualifier)

    async def list_functions(self, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        return page(list(self.latest.values()), lambda v: v.name, marker, limit)

    def _check_revision(self, name: str, revision_id: str | None) -> FunctionVersion:
        if name not in self.latest:
            raise self._missing(name)
        latest = self.latest[name]
        if revision_id is not None and revision_id != latest.revision_id:
            raise PreconditionFailedException()
        return latest

    async def update_code(
        self, name: str, code: CodeSource, *, publish: bool = False, revision_id: str | None = None
    ) -> FunctionVersion:
        latest = self._check_revision(name, revision_id)
        self.latest[name] = replace(latest, code=self._code(code), revision_id=uuid.uuid4().hex)
        return await self.publish_version(name) if publish else self.latest[name]

    async def update_configuration(
        self, name: str, changes: dict[str, Any], *, revision_id: str | None = None
    ) -> FunctionVersion:
        latest = self._check_revision(name, revision_id)
        values = dict(changes)
        if "extra" in values:
            values["extra"] = {**latest.extra, **values["extra"]}
        self.latest[name] = replace(latest, revision_id=uuid.uuid4().hex, **values)
        return self.latest[name]

    async def delete_function(self, name: str, qualifier: str | None = None) -> None:
        await self.get_function(name, qualifier)
        if qualifier is None:
            del self.latest[name], self.versions[name]
            return
        self.versions[name] = [v for v in self.versions[name] if v.version != qualifier]

    async def publish_version(
        self, name: str, *, code_sha256: str | None = None, revision_id: str | None = None, description: str = ""
    ) -> FunctionVersion:
        latest = self._check_revision(name, revision_id)
        if code_sha256 is not None and code_sha256 != latest.code.sha256_b64:
            raise PreconditionFailedException("CodeSha256 does not match")
        previous = self.versions[name]
        if previous and previous[-1].code == latest.code:
            return previous[-1]
        number = str(len(previous) + 1)
        version = replace(latest, version=number, description=description or latest.description)
        previous.append(version)
        return version

    async def list_versions(self, name: str, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        if name not in self.latest:
            raise self._missing(name)
        everything = [self.latest[name], *self.versions[name]]
        return page(everything, lambda v: "$" if v.version == LATEST else f"{int(v.version):010d}", marker, limit)

    async def create_alias(self, alias: Alias) -> Alias:
        await self.get_function(alias.function, alias.function_version)
        if (alias.function, alias.name) in self.aliases:
            raise ResourceConflictException(f"Alias already exists: {alias.name}")
        stored = replace(alias, revision_id=uuid.uuid4().hex)
        self.aliases[(alias.function, alias.name)] = stored
        return stored

    async def get_alias(self, function: str, name: str) -> Alias:
        await self.get_function(function)
        if (function, name) not in self.aliases:
            raise ResourceNotFoundException(f"Alias not found: {function_arn(REGION, function, name)}")
        return self.aliases[(function, name)]

    async def update_alias(
        self, function: str, name: str, changes: dict[str, Any], *, revision_id: str | None = None
    ) -> Alias:
        alias = await self.get_alias(function, name)
        if revision_id is not None and revision_id != alias.revision_id:
            raise PreconditionFailedException()
        updated = replace(alias, revision_id=uuid.uuid4().hex, **changes)
        self.aliases[(function, name)] = updated
        return updated

    async def delete_alias(self, function: str, name: str) -> None:
        await self.get_alias(function, name)
        del self.aliases[(function, name)]

    async def list_aliases(
        self, function: str, version: str | None, marker: str | None, limit: int
    ) -> tuple[list[Alias], str | None]:
        await self.get_function(function)
        found = [a for (fn, _), a in self.aliases.items() if fn == function]
        found = [a for a in found if version is None or a.function_version == version]
        return page(found, lambda a: a.name, marker, limit)

    async def resolve(self, ref: str, qualifier: str | None) -> Resolved:
        raise NotImplementedError

    async def get_setting(self, function: str, kind: str, qualifier: str = "") -> dict[str, Any] | None:
        await self.get_function(function)
        return self.settings.get((function, kind, qualifier))

    async def put_setting(self, function: str, kind: str, value: dict[str, Any], qualifier: str = "") -> None:
        await self.get_function(function, qualifier or None)
        self.settings[(function, kind, qualifier)] = dict(value)

    async def delete_setting(self, function: str, kind: str, qualifier: str = "") -> None:
        await self.get_function(function)
        self.settings.pop((function, kind, qualifier), None)

    async def list_settings(self, kind: str, function: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        return [(fn, q, v) for (fn, k, q), v in sorted(self.settings.items()) if k == kind and function in (None, fn)]


# --- the in-process bridge ------------------------------------------------------------------------


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def make_request(method: str, path: str, pairs: list[tuple[str, str]], body: bytes, headers: dict[str, str]) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    query = "&".join(f"{k}={v}" for k, v in pairs)
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered.setdefault("content-length", str(len(body)))
    return Request(method, path, unquote(path), query, dict(pairs), lowered, "127.0.0.1", receive, "REQ", tuple(pairs))


class NoHost:
    """The invoker's control-plane side without a function host: retiring environments is a no-op."""

    def __init__(self) -> None:
        self.dropped: list[tuple[str, str | None]] = []
        self.warmed = 0

    async def drop(self, function: str, version: str | None = None) -> None:
        self.dropped.append((function, version))

    def warm_soon(self) -> None:
        self.warmed += 1


async def serve(registry: FakeRegistry, request: Request) -> Response:
    try:
        endpoint = route(request.method, request.raw_path, request.query_pairs)
        ctx = LambdaContext(request, registry, NoHost(), REGION, PUBLIC, lambda: T0 + 10)
        return await dispatch.handle(ctx, endpoint)
    except BayouError as exc:
        return error_response(exc)


def call(
    registry: FakeRegistry, method: str, path: str, body: bytes | dict[str, Any] = b"",
    pairs: list[tuple[str, str]] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    response = asyncio.run(serve(registry, make_request(method, path, pairs or [], data, {})))
    assert isinstance(response.body, bytes)
    return response.status, json.loads(response.body) if response.body else None, dict(response.headers)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def client(registry: FakeRegistry) -> Any:
    session = botocore.session.get_session()
    lam = session.create_client(
        "lambda", region_name=REGION, endpoint_url=PUBLIC, aws_access_key_id="AKID", aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        parts = urlsplit(request.url)
        from urllib.parse import parse_qsl

        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif hasattr(body, "read"):
            body = body.read()
        req = make_request(request.method, parts.path, parse_qsl(parts.query, keep_blank_values=True), body,
                           dict(request.headers))
        response = asyncio.run(serve(registry, req))
        assert isinstance(response.body, bytes)
        return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))

    lam.meta.events.register("before-send.lambda", send)
    return lam


def zip_bytes(source: str = "def handler(e, c):\n    return e\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def create(client: Any, name: str = "fn", **extra: Any) -> dict[str, Any]:
    params = {"FunctionName": name, "Runtime": "python3.11", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": zip_bytes()}, **extra}
    return client.create_function(**params)  # type: ignore[no-any-return]


def code_of(client: Any, exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


# --- functions ------------------------------------------------------------------------------------


def test_create_function_round_trip(client: Any, registry: FakeRegistry) -> None:
    created = create(client, Environment={"Variables": {"A": "1"}}, Timeout=10, MemorySize=256,
                     Tags={"team": "ml"}, Architectures=["arm64"], EphemeralStorage={"Size": 1024})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert created["Version"] == "$LATEST" and created["State"] == "Active"
    assert created["Environment"] == {"Variables": {"A": "1"}}
    assert (created["Timeout"], created["MemorySize"]) == (10, 256)
    assert created["Architectures"] == ["arm64"] and created["EphemeralStorage"] == {"Size": 1024}
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes()).digest()).decode()
    assert registry.sources[0].zip_bytes == zip_bytes()
    assert registry.settings[("fn", "tags", "")] == {"team": "ml"}

    got = client.get_function(FunctionName="fn")
    assert got["Configuration"]["FunctionArn"] == created["FunctionArn"]
    assert got["Code"]["RepositoryType"] == "S3"
    assert got["Code"]["Location"].startswith(f"{PUBLIC}/_bayou/fn-code/fn?Qualifier=%24LATEST&CodeSha256=")
    assert got["Tags"] == {"team": "ml"}
    assert "Concurrency" not in got


def test_create_from_s3_and_publish(client: Any, registry: FakeRegistry) -> None:
    created = create(client, Code={"S3Bucket": "code", "S3Key": "fn.zip", "S3ObjectVersion": "v1"}, Publish=True)
    assert created["Version"] == "1"
    assert created["FunctionArn"].endswith(":function:fn:1")
    assert registry.sources[0] == CodeSource(s3_bucket="code", s3_key="fn.zip", s3_version="v1")


def test_waiters_pass_at_once(client: Any) -> None:
    create(client)
    fast = {"Delay": 1, "MaxAttempts": 1}
    client.get_waiter("function_exists").wait(FunctionName="fn", WaiterConfig=fast)
    client.get_waiter("function_active_v2").wait(FunctionName="fn", WaiterConfig=fast)
    client.get_waiter("function_updated_v2").wait(FunctionName="fn", WaiterConfig=fast)
    client.get_waiter("function_active").wait(FunctionName="fn", WaiterConfig=fast)
    version = client.publish_version(FunctionName="fn")["Version"]
    client.get_waiter("published_version_active").wait(FunctionName="fn", Qualifier=version, WaiterConfig=fast)


def test_missing_function_is_404_resource_not_found(client: Any) -> None:
    with pytest.raises(ClientError) as info:
        client.get_function(FunctionName="nope")
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)
    assert info.value.response["Error"]["Message"].startswith("Function not found")


def test_duplicate_create_is_conflict(client: Any) -> None:
    create(client)
    with pytest.raises(ClientError) as info:
        create(client)
    assert code_of(client, info.value) == ("ResourceConflictException", 409)


def test_get_function_configuration_qualified_arn(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    assert client.get_function_configuration(FunctionName="fn", Qualifier="1")["FunctionArn"].endswith(":fn:1")
    by_alias = client.get_function_configuration(FunctionName="fn:live")
    assert by_alias["FunctionArn"].endswith(":fn:live") and by_alias["Version"] == "1"


def test_list_functions_pages(client: Any) -> None:
    for name in ("c", "a", "b"):
        create(client, name)
    first = client.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in first["Functions"]] == ["a", "b"]
    second = client.list_functions(MaxItems=2, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in second["Functions"]] == ["c"]
    assert "NextMarker" not in second
    paginated = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
    assert [f["FunctionName"] for p in paginated for f in p["Functions"]] == ["a", "b", "c"]


def test_list_functions_all_versions(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    arns = [f["FunctionArn"] for f in client.list_functions(FunctionVersion="ALL")["Functions"]]
    assert [a.rsplit(":", 1)[1] for a in arns] == ["$LATEST", "1"]


def test_update_code_and_configuration(client: Any, registry: FakeRegistry) -> None:
    created = create(client)
    updated = client.update_function_code(FunctionName="fn", ZipFile=zip_bytes("x = 1\n"), Publish=True)
    assert updated["Version"] == "1" and updated["FunctionArn"].endswith(":fn:1")
    assert updated["CodeSha256"] != created["CodeSha256"]
    config = client.update_function_configuration(
        FunctionName="fn", Timeout=30, Environment={"Variables": {"B": "2"}}, TracingConfig={"Mode": "Active"},
        Description="new",
    )
    assert (config["Timeout"], config["Description"], config["Environment"]) == (30, "new", {"Variables": {"B": "2"}})
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["RevisionId"] == registry.latest["fn"].revision_id
    with pytest.raises(ClientError) as info:
        client.update_function_configuration(FunctionName="fn", Timeout=5, RevisionId="stale")
    assert code_of(client, info.value) == ("PreconditionFailedException", 412)


def test_delete_function_204(client: Any, registry: FakeRegistry) -> None:
    create(client)
    response = client.delete_function(FunctionName="fn")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "fn" not in registry.latest


def test_delete_latest_qualifier_rejected(registry: FakeRegistry, client: Any) -> None:
    create(client)
    status, body, headers = call(registry, "DELETE", "/2015-03-31/functions/fn", pairs=[("Qualifier", "$LATEST")])
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidParameterValueException"


# --- body validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidRequestContentException"),
        (b"[1, 2]", "InvalidRequestContentException"),
        (b"\xff\xfe", "InvalidRequestContentException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b", "Timeout": "3",
          "Code": {"ZipFile": "UEs="}}, "InvalidRequestContentException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b", "Code": "zip"},
         "InvalidRequestContentException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b",
          "Code": {"ZipFile": "not base64!"}}, "InvalidRequestContentException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Handler": "a.b", "Code": {"ZipFile": "UEs="}},
         "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Role": ROLE, "Code": {"ZipFile": "UEs="}}, "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b"},
         "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b", "Code": {}},
         "InvalidParameterValueException"),
        ({"FunctionName": "fn:1", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b",
          "Code": {"ZipFile": "UEs="}}, "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b", "PackageType": "Image",
          "Code": {"ImageUri": "x"}}, "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b",
          "Architectures": ["sparc"], "Code": {"ZipFile": "UEs="}}, "InvalidParameterValueException"),
        ({"FunctionName": "fn", "Runtime": "python3.11", "Role": ROLE, "Handler": "a.b",
          "Environment": {"Variables": {"A": 1}}, "Code": {"ZipFile": "UEs="}}, "InvalidRequestContentException"),
    ],
)
def test_create_function_rejects(registry: FakeRegistry, body: bytes | dict[str, Any], code: str) -> None:
    status, error, headers = call(registry, "POST", "/2015-03-31/functions", body)
    assert (status, headers["x-amzn-ErrorType"]) == (400, code)
    assert error["Type"] == "User" and error["message"]
    assert registry.latest == {}


def test_malformed_json_message(registry: FakeRegistry) -> None:
    _, error, _ = call(registry, "POST", "/2015-03-31/functions", b"{")
    assert error["message"].startswith("Could not parse request body into json:")


def test_body_size_cap(registry: FakeRegistry, client: Any) -> None:
    create(client)
    big = json.dumps({"Description": "x" * (1024 * 1024)}).encode()
    status, _, headers = call(registry, "PUT", "/2015-03-31/functions/fn/configuration", big)
    assert (status, headers["x-amzn-ErrorType"]) == (413, "RequestTooLargeException")


def test_empty_body_is_an_empty_document(registry: FakeRegistry, client: Any) -> None:
    create(client)
    status, body, _ = call(registry, "POST", "/2015-03-31/functions/fn/versions", b"")
    assert status == 201 and body["Version"] == "1"


def test_unknown_route_and_unsupported(registry: FakeRegistry) -> None:
    status, _, headers = call(registry, "GET", "/2015-03-31/bogus")
    assert (status, headers["x-amzn-ErrorType"]) == (404, "ResourceNotFoundException")
    status, _, headers = call(registry, "GET", "/2018-10-31/layers")
    assert (status, headers["x-amzn-ErrorType"]) == (501, "NotImplemented")


# --- versions and aliases -------------------------------------------------------------------------


def test_publish_and_list_versions(client: Any) -> None:
    create(client)
    published = client.publish_version(FunctionName="fn", Description="first")
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["FunctionArn"].endswith(":fn:1") and published["Description"] == "first"
    versions = client.list_versions_by_function(FunctionName="fn")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert versions[0]["FunctionArn"].endswith(":fn:$LATEST")
    page1 = client.list_versions_by_function(FunctionName="fn", MaxItems=1)
    assert len(page1["Versions"]) == 1 and page1["NextMarker"]


def test_alias_lifecycle(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    client.update_function_code(FunctionName="fn", ZipFile=zip_bytes("y = 2\n"), Publish=True)
    alias = client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1",
                                RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert alias["AliasArn"].endswith(":function:fn:live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    updated = client.update_alias(FunctionName="fn", Name="live", FunctionVersion="2", RoutingConfig={},
                                  RevisionId=alias["RevisionId"])
    assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated
    assert client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "2"
    assert [a["Name"] for a in client.list_aliases(FunctionName="fn")["Aliases"]] == ["live"]
    assert client.list_aliases(FunctionName="fn", FunctionVersion="1")["Aliases"] == []
    assert client.delete_alias(FunctionName="fn", Name="live")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        client.get_alias(FunctionName="fn", Name="live")
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)


def test_create_alias_requires_members(registry: FakeRegistry, client: Any) -> None:
    create(client)
    status, _, headers = call(registry, "POST", "/2015-03-31/functions/fn/aliases", {"Name": "live"})
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")


# --- settings -------------------------------------------------------------------------------------


def test_reserved_concurrency(client: Any) -> None:
    create(client)
    create(client, "other")
    assert client.get_function_concurrency(FunctionName="fn").get("ReservedConcurrentExecutions") is None
    put = client.put_function_concurrency(FunctionName="fn", ReservedConcurrentExecutions=100)
    assert put["ReservedConcurrentExecutions"] == 100
    assert client.get_function(FunctionName="fn")["Concurrency"] == {"ReservedConcurrentExecutions": 100}
    with pytest.raises(ClientError) as info:
        client.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=801)
    assert code_of(client, info.value) == ("InvalidParameterValueException", 400)
    settings = client.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 900
    client.delete_function_concurrency(FunctionName="fn")
    assert client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000


def test_account_settings(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    create(client, "g")
    settings = client.get_account_settings()
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert settings["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountUsage"] == {"TotalCodeSize": 2 * len(zip_bytes()), "FunctionCount": 2}


def test_provisioned_concurrency(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    put = client.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                                   ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["Status"] == "READY" and put["RequestedProvisionedConcurrentExecutions"] == 2
    got = client.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = client.list_provisioned_concurrency_configs(FunctionName="fn")["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == ["arn:aws:lambda:us-east-1:000000000000:function:fn:live"]
    with pytest.raises(ClientError) as info:
        client.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="$LATEST",
                                                  ProvisionedConcurrentExecutions=1)
    assert code_of(client, info.value) == ("InvalidParameterValueException", 400)
    client.delete_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    with pytest.raises(ClientError) as info:
        client.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert code_of(client, info.value)[1] == 404


def test_event_invoke_config(client: Any, registry: FakeRegistry) -> None:
    create(client)
    destination = "arn:aws:sqs:us-east-1:000000000000:dlq"
    put = client.put_function_event_invoke_config(
        FunctionName="fn", MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": destination}}
    )
    assert put["MaximumRetryAttempts"] == 1
    assert put["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": destination}}
    assert put["LastModified"].timestamp() == T0 + 10
    updated = client.update_function_event_invoke_config(FunctionName="fn", MaximumEventAgeInSeconds=120)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    assert registry.settings[("fn", "event-invoke", "")]["MaximumEventAgeInSeconds"] == 120
    assert client.get_function_event_invoke_config(FunctionName="fn")["MaximumEventAgeInSeconds"] == 120
    assert len(client.list_function_event_invoke_configs(FunctionName="fn")["FunctionEventInvokeConfigs"]) == 1
    client.delete_function_event_invoke_config(FunctionName="fn")
    with pytest.raises(ClientError) as info:
        client.get_function_event_invoke_config(FunctionName="fn")
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as info:
        client.update_function_event_invoke_config(FunctionName="fn", MaximumRetryAttempts=0)
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)


def test_event_invoke_config_ranges(registry: FakeRegistry, client: Any) -> None:
    create(client)
    path = "/2019-09-25/functions/fn/event-invoke-config"
    for body in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 59},
                 {"DestinationConfig": {"OnFailure": {"Destination": "queue"}}}):
        status, _, headers = call(registry, "PUT", path, body)
        assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")


def test_permissions(client: Any) -> None:
    create(client)
    added = client.add_permission(FunctionName="fn", StatementId="s3", Action="lambda:InvokeFunction",
                                  Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                                  SourceAccount="000000000000")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
                      "StringEquals": {"AWS:SourceAccount": "000000000000"}},
    }
    with pytest.raises(ClientError) as info:
        client.add_permission(FunctionName="fn", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    assert code_of(client, info.value) == ("ResourceConflictException", 409)
    policy = client.get_policy(FunctionName="fn")
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and [s["Sid"] for s in document["Statement"]] == ["s3"]
    with pytest.raises(ClientError) as info:
        client.remove_permission(FunctionName="fn", StatementId="s3", RevisionId="stale")
    assert code_of(client, info.value) == ("PreconditionFailedException", 412)
    removed = client.remove_permission(FunctionName="fn", StatementId="s3", RevisionId=policy["RevisionId"])
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        client.get_policy(FunctionName="fn")
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)


def test_principal_forms(client: Any) -> None:
    create(client)
    forms = {"123456789012": {"AWS": "arn:aws:iam::123456789012:root"}, "*": "*",
             "arn:aws:iam::123456789012:role/x": {"AWS": "arn:aws:iam::123456789012:role/x"}}
    for i, (given, rendered) in enumerate(forms.items()):
        added = client.add_permission(FunctionName="fn", StatementId=f"s{i}", Action="lambda:*", Principal=given)
        assert json.loads(added["Statement"])["Principal"] == rendered


def test_function_urls(client: Any) -> None:
    create(client)
    client.publish_version(FunctionName="fn")
    client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    created = client.create_function_url_config(FunctionName="fn", AuthType="NONE",
                                                 Cors={"AllowOrigins": ["*"], "MaxAge": 60})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionUrl"] == f"{PUBLIC}/_bayou/fn-url/fn/"
    assert created["InvokeMode"] == "BUFFERED" and created["Cors"] == {"AllowOrigins": ["*"], "MaxAge": 60}
    assert created["CreationTime"] == "2024-01-01T00:00:10.000000Z"
    aliased = client.create_function_url_config(FunctionName="fn", Qualifier="live", AuthType="AWS_IAM")
    assert aliased["FunctionUrl"] == f"{PUBLIC}/_bayou/fn-url/fn:live/"
    assert aliased["FunctionArn"].endswith(":function:fn:live")
    with pytest.raises(ClientError) as info:
        client.create_function_url_config(FunctionName="fn", AuthType="NONE")
    assert code_of(client, info.value) == ("ResourceConflictException", 409)
    updated = client.update_function_url_config(FunctionName="fn", AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["Cors"] == {"AllowOrigins": ["*"], "MaxAge": 60}
    assert client.get_function_url_config(FunctionName="fn")["LastModifiedTime"]
    assert len(client.list_function_url_configs(FunctionName="fn")["FunctionUrlConfigs"]) == 2
    client.delete_function_url_config(FunctionName="fn")
    with pytest.raises(ClientError) as info:
        client.get_function_url_config(FunctionName="fn")
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)


def test_function_url_rejects_bad_auth_type(registry: FakeRegistry, client: Any) -> None:
    create(client)
    status, _, headers = call(registry, "POST", "/2021-10-31/functions/fn/url", {"AuthType": "OPEN"})
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")
    status, _, headers = call(registry, "POST", "/2021-10-31/functions/fn/url", {})
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")


def test_tags(client: Any) -> None:
    arn = create(client)["FunctionArn"]
    client.tag_resource(Resource=arn, Tags={"a": "1", "b": "2", "c": "3"})
    client.untag_resource(Resource=arn, TagKeys=["a", "c"])
    assert client.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as info:
        client.list_tags(Resource=arn.replace(":fn", ":ghost"))
    assert code_of(client, info.value) == ("ResourceNotFoundException", 404)


def test_function_ref_forms_reach_the_same_function(client: Any) -> None:
    arn = create(client)["FunctionArn"]
    for ref in ("fn", arn, "000000000000:function:fn"):
        assert client.get_function_configuration(FunctionName=ref)["FunctionName"] == "fn"
    assert parse_function_ref(arn) == ("fn", None)
