"""Function URL configs. The URL is `<public_url>/_bayou/fn-url/<name>[:<alias>]/`; the app serves it."""

from __future__ import annotations

import re
from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import function_url, iso_timestamp, listing, page
from bayou.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from bayou.functions.models import function_arn

KIND = "url"
AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
_URL_QUALIFIER = re.compile(r"(?!\d+$)[0-9a-zA-Z_-]{1,128}")
_CORS_LISTS = ("AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders")


def _cors(doc: Doc) -> dict[str, Any] | None:
    cors = doc.object("Cors")
    if cors is None:
        return None
    shaped: dict[str, Any] = {}
    credentials = cors.boolean("AllowCredentials")
    if credentials is not None:
        shaped["AllowCredentials"] = credentials
    for name in _CORS_LISTS:
        values = cors.str_list(name)
        if values is not None:
            shaped[name] = values
    max_age = cors.integer("MaxAge")
    if max_age is not None:
        if not 0 <= max_age <= 86400:
            raise InvalidParameterValueException("Cors.MaxAge must be between 0 and 86400.")
        shaped["MaxAge"] = max_age
    return shaped


def _members(doc: Doc, *, create: bool) -> dict[str, Any]:
    members: dict[str, Any] = {}
    auth = doc.string("AuthType", required=create)
    if auth is not None:
        if auth not in AUTH_TYPES:
            raise InvalidParameterValueException(f"AuthType must be one of {', '.join(AUTH_TYPES)}.")
        members["AuthType"] = auth
    mode = doc.string("InvokeMode")
    if mode is not None:
        if mode not in INVOKE_MODES:
            raise InvalidParameterValueException(f"InvokeMode must be one of {', '.join(INVOKE_MODES)}.")
        members["InvokeMode"] = mode
    cors = _cors(doc)
    if cors is not None:
        members["Cors"] = cors
    return members


async def _target(ctx: LambdaContext, name: str, qualifier: str | None) -> None:
    if qualifier is not None and not _URL_QUALIFIER.fullmatch(qualifier):
        raise InvalidParameterValueException("A function URL's Qualifier must be an alias name.")
    await ctx.registry.get_function(name, qualifier)


async def _existing(ctx: LambdaContext, name: str, qualifier: str | None) -> dict[str, Any]:
    await _target(ctx, name, qualifier)
    value = await ctx.registry.get_setting(name, KIND, qualifier or "")
    if value is None:
        raise ResourceNotFoundException("The resource you requested does not exist.")
    return value


async def create_function_url_config(ctx: LambdaContext, ep: router.CreateFunctionUrlConfig) -> Response:
    members = _members(Doc(await ctx.read_json()), create=True)
    await _target(ctx, ep.name, ep.qualifier)
    arn = function_arn(ctx.region, ep.name, ep.qualifier)
    if await ctx.registry.get_setting(ep.name, KIND, ep.qualifier or "") is not None:
        raise ResourceConflictException(
            f"Failed to create function url config for [functionArn = {arn}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function"
        )
    now = iso_timestamp(ctx.now())
    value = {
        "FunctionUrl": function_url(ctx.public_url, ep.name, ep.qualifier),
        "FunctionArn": arn,
        "AuthType": members["AuthType"],
        "CreationTime": now,
        "LastModifiedTime": now,
        "InvokeMode": members.get("InvokeMode", "BUFFERED"),
        **({"Cors": members["Cors"]} if "Cors" in members else {}),
    }
    await ctx.registry.put_setting(ep.name, KIND, value, ep.qualifier or "")
    return json_response(201, {k: v for k, v in value.items() if k != "LastModifiedTime"})


async def get_function_url_config(ctx: LambdaContext, ep: router.GetFunctionUrlConfig) -> Response:
    return json_response(200, await _existing(ctx, ep.name, ep.qualifier))


async def update_function_url_config(ctx: LambdaContext, ep: router.UpdateFunctionUrlConfig) -> Response:
    members = _members(Doc(await ctx.read_json()), create=False)
    current = await _existing(ctx, ep.name, ep.qualifier)
    value = {**current, **members, "LastModifiedTime": iso_timestamp(ctx.now())}
    await ctx.registry.put_setting(ep.name, KIND, value, ep.qualifier or "")
    return json_response(200, value)


async def delete_function_url_config(ctx: LambdaContext, ep: router.DeleteFunctionUrlConfig) -> Response:
    await _existing(ctx, ep.name, ep.qualifier)
    await ctx.registry.delete_setting(ep.name, KIND, ep.qualifier or "")
    return Response(204, [], b"")


async def list_function_url_configs(ctx: LambdaContext, ep: router.ListFunctionUrlConfigs) -> Response:
    await ctx.registry.get_function(ep.name)
    settings = await ctx.registry.list_settings(KIND, ep.name)
    chunk, next_marker = page(settings, lambda s: s[1] or "$", ep.marker, ep.max_items)
    return json_response(200, listing("FunctionUrlConfigs", [value for _, _, value in chunk], next_marker))
