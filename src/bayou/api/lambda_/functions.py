"""CreateFunction, GetFunction(Configuration), ListFunctions, UpdateFunctionCode/Configuration, DeleteFunction."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import code_download, router
from bayou.api.lambda_.context import CODE_BODY_LIMIT, LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import (
    function_configuration,
    get_function_response,
    listing,
    published_arn_qualifier,
)
from bayou.errors import InvalidParameterValueException, InvalidRequestContentException
from bayou.functions.models import LATEST, FunctionVersion
from bayou.functions.registry import CodeSource, FunctionSpec

#: Request members kept in `FunctionVersion.extra` and echoed (see shapes.function_configuration).
EXTRA_OBJECTS = ("VpcConfig", "DeadLetterConfig", "TracingConfig", "EphemeralStorage", "SnapStart", "LoggingConfig")
EXTRA_STRINGS = ("KMSKeyArn", "CodeSigningConfigArn")
EXTRA_LISTS = ("Layers", "Architectures")


def code_source(doc: Doc) -> CodeSource:
    """FunctionCode (CreateFunction's Code, or UpdateFunctionCode's body): a base64 zip or an S3 object."""
    if "ImageUri" in doc:
        raise InvalidParameterValueException("Container images are not supported by Bayou; use a .zip package.")
    zip_b64 = doc.string("ZipFile")
    bucket, key, version = doc.string("S3Bucket"), doc.string("S3Key"), doc.string("S3ObjectVersion")
    if zip_b64 is not None:
        if bucket or key:
            raise InvalidParameterValueException(
                "Please do not provide other FunctionCode parameters when providing a ZipFile."
            )
        try:
            data = base64.b64decode(zip_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestContentException(
                "Could not parse request body into json: ZipFile is not valid base64"
            ) from exc
        return CodeSource(zip_bytes=data)
    if bucket and key:
        return CodeSource(s3_bucket=bucket, s3_key=key, s3_version=version)
    if bucket or key:
        raise InvalidParameterValueException("Please provide both S3Bucket and S3Key.")
    raise InvalidParameterValueException("Please provide a source for function code: ZipFile, or S3Bucket and S3Key.")


def _environment(doc: Doc) -> dict[str, str] | None:
    env = doc.object("Environment")
    if env is None:
        return None
    return env.str_map("Variables") or {}


def _extras(doc: Doc) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name in EXTRA_OBJECTS:
        sub = doc.object(name)
        if sub is not None:
            extra[name] = sub.data
    for name in EXTRA_STRINGS:
        value = doc.string(name)
        if value is not None:
            extra[name] = value
    for name in EXTRA_LISTS:
        values = doc.str_list(name)
        if values is not None:
            extra[name] = values
    _check_extras(extra)
    return extra


def _check_extras(extra: dict[str, Any]) -> None:
    architectures = extra.get("Architectures")
    if architectures is not None and (len(architectures) != 1 or architectures[0] not in ("x86_64", "arm64")):
        raise InvalidParameterValueException("Architectures must be one of [x86_64] or [arm64].")
    mode = (extra.get("TracingConfig") or {}).get("Mode", "PassThrough")
    if mode not in ("Active", "PassThrough"):
        raise InvalidParameterValueException(f"Invalid TracingConfig Mode: {mode!r}.")
    size = (extra.get("EphemeralStorage") or {}).get("Size", 512)
    if isinstance(size, bool) or not isinstance(size, int) or not 512 <= size <= 10240:
        raise InvalidParameterValueException("EphemeralStorage.Size must be an integer between 512 and 10240.")
    log_format = (extra.get("LoggingConfig") or {}).get("LogFormat", "Text")
    if log_format not in ("Text", "JSON"):
        raise InvalidParameterValueException(f"Invalid LoggingConfig LogFormat: {log_format!r}.")


def _plain_name(ref: str) -> str:
    name, qualifier = router.parse_function_ref(ref)
    if qualifier is not None:
        raise InvalidParameterValueException("FunctionName must not carry a qualifier when creating a function.")
    return name


def function_spec(doc: Doc) -> FunctionSpec:
    name = _plain_name(doc.string("FunctionName", required=True) or "")
    if (doc.string("PackageType") or "Zip") != "Zip":
        raise InvalidParameterValueException("Bayou supports PackageType Zip only.")
    runtime, handler = doc.string("Runtime"), doc.string("Handler")
    if not runtime or not handler:
        raise InvalidParameterValueException(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages."
        )
    timeout, memory = doc.integer("Timeout"), doc.integer("MemorySize")
    return FunctionSpec(
        name=name,
        runtime=runtime,
        handler=handler,
        role=doc.string("Role", required=True) or "",
        description=doc.string("Description") or "",
        timeout=3 if timeout is None else timeout,
        memory_size=128 if memory is None else memory,
        environment=_environment(doc),
        tags=doc.str_map("Tags"),
        publish=bool(doc.boolean("Publish")),
        extra=_extras(doc),
    )


async def create_function(ctx: LambdaContext, ep: router.CreateFunction) -> Response:
    doc = Doc(await ctx.read_json(CODE_BODY_LIMIT))
    spec = function_spec(doc)
    code = code_source(doc.object("Code", required=True) or Doc({}))
    version = await ctx.registry.create_function(spec, code)
    ctx.invoker.warm_soon()
    return json_response(201, function_configuration(version, ctx.region, arn_qualifier=published_arn_qualifier(version)))


def configuration_for(ctx: LambdaContext, version: FunctionVersion, qualifier: str | None) -> dict[str, Any]:
    """The ARN names what the caller asked for: unqualified, or with their version / alias."""
    return function_configuration(version, ctx.region, arn_qualifier=qualifier)


async def get_function(ctx: LambdaContext, ep: router.GetFunction) -> Response:
    version = await ctx.registry.get_function(ep.name, ep.qualifier)
    tags = await ctx.registry.get_setting(ep.name, "tags")
    concurrency = await ctx.registry.get_setting(ep.name, "concurrency")
    code = code_download.code_location(ctx.public_url, code_download.context_key(ctx), version, ctx.now())
    body = get_function_response(configuration_for(ctx, version, ep.qualifier), code, tags, concurrency)
    return json_response(200, body)


async def get_function_configuration(ctx: LambdaContext, ep: router.GetFunctionConfiguration) -> Response:
    version = await ctx.registry.get_function(ep.name, ep.qualifier)
    return json_response(200, configuration_for(ctx, version, ep.qualifier))


async def list_functions(ctx: LambdaContext, ep: router.ListFunctions) -> Response:
    latest, next_marker = await ctx.registry.list_functions(ep.marker, ep.max_items)
    if ep.function_version != "ALL":
        items = [function_configuration(v, ctx.region, arn_qualifier=None) for v in latest]
        return json_response(200, listing("Functions", items, next_marker))
    # Every version of the functions of this page: a page may hold more than MaxItems entries.
    items = []
    for function in latest:
        async for version in _all_versions(ctx, function.name):
            items.append(function_configuration(version, ctx.region, arn_qualifier=version.version))
    return json_response(200, listing("Functions", items, next_marker))


async def _all_versions(ctx: LambdaContext, name: str) -> AsyncIterator[FunctionVersion]:
    marker: str | None = None
    while True:
        versions, marker = await ctx.registry.list_versions(name, marker, 1000)
        for version in versions:
            yield version
        if not marker:
            return


async def update_function_code(ctx: LambdaContext, ep: router.UpdateFunctionCode) -> Response:
    doc = Doc(await ctx.read_json(CODE_BODY_LIMIT))
    code = code_source(doc)
    publish = bool(doc.boolean("Publish"))
    revision_id = doc.string("RevisionId")
    if doc.str_list("Architectures") is not None:
        _check_extras({"Architectures": doc.str_list("Architectures")})
    if doc.boolean("DryRun"):
        version = await ctx.registry.get_function(ep.name)
        return json_response(200, function_configuration(version, ctx.region, arn_qualifier=None))
    version = await ctx.registry.update_code(ep.name, code, publish=publish, revision_id=revision_id)
    await ctx.invoker.drop(version.name, LATEST)
    return json_response(200, function_configuration(version, ctx.region, arn_qualifier=published_arn_qualifier(version)))


#: UpdateFunctionConfiguration members → registry change keys.
_CONFIG_STRINGS = {"Role": "role", "Handler": "handler", "Description": "description", "Runtime": "runtime"}
_CONFIG_INTS = {"Timeout": "timeout", "MemorySize": "memory_size"}


def configuration_changes(doc: Doc) -> dict[str, Any]:
    """The registry's `changes` for UpdateFunctionConfiguration, without `extra` (merged by the caller)."""
    changes: dict[str, Any] = {}
    for member, key in _CONFIG_STRINGS.items():
        text = doc.string(member)
        if text is not None:
            changes[key] = text
    for member, key in _CONFIG_INTS.items():
        number = doc.integer(member)
        if number is not None:
            changes[key] = number
    environment = _environment(doc)
    if environment is not None:
        changes["environment"] = environment
    return changes


async def update_function_configuration(ctx: LambdaContext, ep: router.UpdateFunctionConfiguration) -> Response:
    doc = Doc(await ctx.read_json())
    changes = configuration_changes(doc)
    extra = _extras(doc)
    revision_id = doc.string("RevisionId")
    if extra:
        current = await ctx.registry.get_function(ep.name)
        changes["extra"] = {**current.extra, **extra}
    version = await ctx.registry.update_configuration(ep.name, changes, revision_id=revision_id)
    await ctx.invoker.drop(version.name, LATEST)
    return json_response(200, function_configuration(version, ctx.region, arn_qualifier=None))


async def delete_function(ctx: LambdaContext, ep: router.DeleteFunction) -> Response:
    if ep.qualifier == LATEST:
        raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
    await ctx.registry.delete_function(ep.name, ep.qualifier)
    await ctx.invoker.drop(router.parse_function_ref(ep.name)[0], ep.qualifier)
    return Response(204, [], b"")
