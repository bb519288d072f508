"""FunctionEventInvokeConfig: retries, maximum event age and destinations of asynchronous invocations.

Stored per qualifier ("" = unqualified) in Lambda's own shape, so the asynchronous invoker reads
MaximumRetryAttempts, MaximumEventAgeInSeconds and DestinationConfig by their API names.
"""

from __future__ import annotations

from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import listing, page
from bayou.errors import InvalidParameterValueException, ResourceNotFoundException
from bayou.functions.models import LATEST, function_arn

KIND = "event-invoke"


def _members(doc: Doc) -> dict[str, Any]:
    """The members present in the request, type- and range-checked."""
    members: dict[str, Any] = {}
    retries = doc.integer("MaximumRetryAttempts")
    if retries is not None:
        if not 0 <= retries <= 2:
            raise InvalidParameterValueException("MaximumRetryAttempts must be between 0 and 2.")
        members["MaximumRetryAttempts"] = retries
    age = doc.integer("MaximumEventAgeInSeconds")
    if age is not None:
        if not 60 <= age <= 21600:
            raise InvalidParameterValueException("MaximumEventAgeInSeconds must be between 60 and 21600.")
        members["MaximumEventAgeInSeconds"] = age
    destinations = doc.object("DestinationConfig")
    if destinations is not None:
        members["DestinationConfig"] = {key: _destination(destinations, key) for key in ("OnSuccess", "OnFailure")}
    return members


def _destination(doc: Doc, key: str) -> dict[str, str]:
    sub = doc.object(key)
    destination = sub.string("Destination") if sub is not None else None
    if destination and not destination.startswith("arn:"):
        raise InvalidParameterValueException(f"The destination ARN {destination!r} is invalid.")
    return {"Destination": destination} if destination else {}


async def _target(ctx: LambdaContext, name: str, qualifier: str | None) -> str:
    await ctx.registry.get_function(name, qualifier)
    return function_arn(ctx.region, name, qualifier)


def _key(qualifier: str | None) -> str:
    """Lambda treats no qualifier and $LATEST as one config: stored under ""."""
    return "" if qualifier in (None, "", LATEST) else str(qualifier)


async def _existing(ctx: LambdaContext, name: str, qualifier: str | None) -> dict[str, Any]:
    arn = await _target(ctx, name, qualifier)
    value = await ctx.registry.get_setting(name, KIND, _key(qualifier))
    if value is None:
        raise ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")
    return value


async def _store(ctx: LambdaContext, name: str, qualifier: str | None, members: dict[str, Any]) -> Response:
    value = {
        "LastModified": ctx.now(),
        "FunctionArn": function_arn(ctx.region, name, qualifier or LATEST),
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
        **members,
    }
    await ctx.registry.put_setting(name, KIND, value, _key(qualifier))
    return json_response(200, value)


async def put_function_event_invoke_config(ctx: LambdaContext, ep: router.PutFunctionEventInvokeConfig) -> Response:
    members = _members(Doc(await ctx.read_json()))
    await _target(ctx, ep.name, ep.qualifier)
    return await _store(ctx, ep.name, ep.qualifier, members)


async def update_function_event_invoke_config(
    ctx: LambdaContext, ep: router.UpdateFunctionEventInvokeConfig
) -> Response:
    members = _members(Doc(await ctx.read_json()))
    current = await _existing(ctx, ep.name, ep.qualifier)
    kept = {k: v for k, v in current.items() if k not in ("LastModified", "FunctionArn")}
    return await _store(ctx, ep.name, ep.qualifier, {**kept, **members})


async def get_function_event_invoke_config(ctx: LambdaContext, ep: router.GetFunctionEventInvokeConfig) -> Response:
    return json_response(200, await _existing(ctx, ep.name, ep.qualifier))


async def delete_function_event_invoke_config(
    ctx: LambdaContext, ep: router.DeleteFunctionEventInvokeConfig
) -> Response:
    await _existing(ctx, ep.name, ep.qualifier)
    await ctx.registry.delete_setting(ep.name, KIND, _key(ep.qualifier))
    return Response(204, [], b"")


async def list_function_event_invoke_configs(
    ctx: LambdaContext, ep: router.ListFunctionEventInvokeConfigs
) -> Response:
    await ctx.registry.get_function(ep.name)
    settings = await ctx.registry.list_settings(KIND, ep.name)
    # "" (unqualified) would be a marker that reads as none: it pages as "$", before "$LATEST".
    chunk, next_marker = page(settings, lambda s: s[1] or "$", ep.marker, ep.max_items)
    return json_response(200, listing("FunctionEventInvokeConfigs", [value for _, _, value in chunk], next_marker))
