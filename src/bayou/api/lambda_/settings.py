"""Reserved and provisioned concurrency, account settings, and tags: per-function settings documents."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import lambda_timestamp, listing, page
from bayou.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
)
from bayou.functions.models import LATEST, function_arn

ACCOUNT_CONCURRENCY = 1000
#: Lambda keeps this much of the account's concurrency unreserved.
MIN_UNRESERVED = 100
CODE_SIZE_UNZIPPED = 262_144_000
CODE_SIZE_ZIPPED = 52_428_800
TOTAL_CODE_SIZE = 80_530_636_800
MAX_TAGS = 50


def no_content() -> Response:
    return Response(204, [], b"")


# --- reserved concurrency -----------------------------------------------------------------------

async def reserved_total(ctx: LambdaContext, *, excluding: str | None = None) -> int:
    settings = await ctx.registry.list_settings("concurrency")
    return sum(int(value.get("ReservedConcurrentExecutions", 0)) for fn, _, value in settings if fn != excluding)


async def put_function_concurrency(ctx: LambdaContext, ep: router.PutFunctionConcurrency) -> Response:
    doc = Doc(await ctx.read_json())
    reserved = doc.integer("ReservedConcurrentExecutions", required=True) or 0
    if reserved < 0:
        raise InvalidParameterValueException("ReservedConcurrentExecutions must be at least 0.")
    await ctx.registry.get_function(ep.name)
    if ACCOUNT_CONCURRENCY - reserved - await reserved_total(ctx, excluding=ep.name) < MIN_UNRESERVED:
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
        )
    value = {"ReservedConcurrentExecutions": reserved}
    await ctx.registry.put_setting(ep.name, "concurrency", value)
    return json_response(200, value)


async def get_function_concurrency(ctx: LambdaContext, ep: router.GetFunctionConcurrency) -> Response:
    await ctx.registry.get_function(ep.name)
    return json_response(200, await ctx.registry.get_setting(ep.name, "concurrency") or {})


async def delete_function_concurrency(ctx: LambdaContext, ep: router.DeleteFunctionConcurrency) -> Response:
    await ctx.registry.get_function(ep.name)
    await ctx.registry.delete_setting(ep.name, "concurrency")
    return no_content()


# --- provisioned concurrency --------------------------------------------------------------------

async def _provisioned_target(ctx: LambdaContext, name: str, qualifier: str | None) -> str:
    if not qualifier:
        raise InvalidParameterValueException("Qualifier is required: a published version or an alias.")
    if qualifier == LATEST:
        raise InvalidParameterValueException(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
        )
    await ctx.registry.get_function(name, qualifier)
    return qualifier


async def put_provisioned_concurrency_config(ctx: LambdaContext, ep: router.PutProvisionedConcurrencyConfig) -> Response:
    doc = Doc(await ctx.read_json())
    count = doc.integer("ProvisionedConcurrentExecutions", required=True) or 0
    if count < 1:
        raise InvalidParameterValueException("ProvisionedConcurrentExecutions must be at least 1.")
    qualifier = await _provisioned_target(ctx, ep.name, ep.qualifier)
    value = {
        "ProvisionedConcurrentExecutions": count,  # the request's name, which the registry checks
        "RequestedProvisionedConcurrentExecutions": count,
        "AvailableProvisionedConcurrentExecutions": count,
        "AllocatedProvisionedConcurrentExecutions": count,
        "Status": "READY",
        "LastModified": lambda_timestamp(ctx.now()),
    }
    await ctx.registry.put_setting(ep.name, "provisioned", value, qualifier)
    return json_response(202, provisioned_shape(value))


def provisioned_shape(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "ProvisionedConcurrentExecutions"}


async def _provisioned(ctx: LambdaContext, name: str, qualifier: str | None) -> tuple[str, dict[str, Any]]:
    target = await _provisioned_target(ctx, name, qualifier)
    value = await ctx.registry.get_setting(name, "provisioned", target)
    if value is None:
        # Lambda's code here is ProvisionedConcurrencyConfigNotFoundException (404), not in errors.py yet.
        raise ProvisionedConcurrencyConfigNotFoundException("No Provisioned Concurrency Config found for this function")
    return target, value


async def get_provisioned_concurrency_config(ctx: LambdaContext, ep: router.GetProvisionedConcurrencyConfig) -> Response:
    _, value = await _provisioned(ctx, ep.name, ep.qualifier)
    return json_response(200, provisioned_shape(value))


async def delete_provisioned_concurrency_config(
    ctx: LambdaContext, ep: router.DeleteProvisionedConcurrencyConfig
) -> Response:
    target, _ = await _provisioned(ctx, ep.name, ep.qualifier)
    await ctx.registry.delete_setting(ep.name, "provisioned", target)
    return no_content()


async def list_provisioned_concurrency_configs(
    ctx: LambdaContext, ep: router.ListProvisionedConcurrencyConfigs
) -> Response:
    await ctx.registry.get_function(ep.name)
    settings = await ctx.registry.list_settings("provisioned", ep.name)
    chunk, next_marker = page(settings, lambda s: s[1], ep.marker, ep.max_items)
    items = [{"FunctionArn": function_arn(ctx.region, ep.name, q), **provisioned_shape(v)} for _, q, v in chunk]
    return json_response(200, listing("ProvisionedConcurrencyConfigs", items, next_marker))


# --- account --------------------------------------------------------------------------------------

async def get_account_settings(ctx: LambdaContext, ep: router.GetAccountSettings) -> Response:
    count, total = 0, 0
    marker: str | None = None
    while True:
        functions, marker = await ctx.registry.list_functions(marker, 1000)
        for function in functions:
            count += 1
            total += await _code_size(ctx, function.name)
        if not marker:
            break
    unreserved = ACCOUNT_CONCURRENCY - await reserved_total(ctx)
    return json_response(200, {
        "AccountLimit": {
            "TotalCodeSize": TOTAL_CODE_SIZE,
            "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
            "CodeSizeZipped": CODE_SIZE_ZIPPED,
            "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
    })


async def _code_size(ctx: LambdaContext, name: str) -> int:
    """Code of every version of a function, each distinct package counted once (zips are shared)."""
    sizes: dict[str, int] = {}
    marker: str | None = None
    while True:
        versions, marker = await ctx.registry.list_versions(name, marker, 1000)
        sizes.update((v.code.sha256_hex, v.code.size) for v in versions)
        if not marker:
            return sum(sizes.values())


# --- tags -----------------------------------------------------------------------------------------

async def tag_resource(ctx: LambdaContext, ep: router.TagResource) -> Response:
    doc = Doc(await ctx.read_json())
    new = doc.str_map("Tags", required=True) or {}
    await ctx.registry.get_function(ep.name)
    tags = {**(await ctx.registry.get_setting(ep.name, "tags") or {}), **new}
    for key, value in new.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or len(value) > 256:
            raise InvalidParameterValueException(f"Invalid tag: {key!r}.")
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(f"A function can have at most {MAX_TAGS} tags.")
    await ctx.registry.put_setting(ep.name, "tags", tags)
    return no_content()


async def untag_resource(ctx: LambdaContext, ep: router.UntagResource) -> Response:
    if not ep.tag_keys:
        raise InvalidParameterValueException("TagKeys must not be empty.")
    await ctx.registry.get_function(ep.name)
    tags = await ctx.registry.get_setting(ep.name, "tags") or {}
    remaining = {k: v for k, v in tags.items() if k not in ep.tag_keys}
    if remaining != tags:
        await ctx.registry.put_setting(ep.name, "tags", remaining)
    return no_content()


async def list_tags(ctx: LambdaContext, ep: router.ListTags) -> Response:
    await ctx.registry.get_function(ep.name)
    return json_response(200, {"Tags": await ctx.registry.get_setting(ep.name, "tags") or {}})
