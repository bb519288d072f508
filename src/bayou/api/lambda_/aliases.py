"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import alias_configuration, listing
from bayou.functions.models import Alias


def _weights(doc: Doc) -> dict[str, float] | None:
    routing = doc.object("RoutingConfig")
    if routing is None:
        return None
    return routing.number_map("AdditionalVersionWeights") or {}


async def create_alias(ctx: LambdaContext, ep: router.CreateAlias) -> Response:
    doc = Doc(await ctx.read_json())
    alias = Alias(
        function=ep.name,
        name=doc.string("Name", required=True) or "",
        function_version=doc.string("FunctionVersion", required=True) or "",
        description=doc.string("Description") or "",
        additional_weights=_weights(doc) or {},
    )
    created = await ctx.registry.create_alias(alias)
    return json_response(201, alias_configuration(created, ctx.region))


async def get_alias(ctx: LambdaContext, ep: router.GetAlias) -> Response:
    alias = await ctx.registry.get_alias(ep.name, ep.alias)
    return json_response(200, alias_configuration(alias, ctx.region))


def alias_changes(doc: Doc) -> dict[str, Any]:
    """UpdateAlias members → `update_alias` changes, keyed by `Alias` field names."""
    changes: dict[str, Any] = {}
    version = doc.string("FunctionVersion")
    if version is not None:
        changes["function_version"] = version
    description = doc.string("Description")
    if description is not None:
        changes["description"] = description
    weights = _weights(doc)
    if weights is not None:
        changes["additional_weights"] = weights
    return changes


async def update_alias(ctx: LambdaContext, ep: router.UpdateAlias) -> Response:
    doc = Doc(await ctx.read_json())
    alias = await ctx.registry.update_alias(ep.name, ep.alias, alias_changes(doc), revision_id=doc.string("RevisionId"))
    return json_response(200, alias_configuration(alias, ctx.region))


async def delete_alias(ctx: LambdaContext, ep: router.DeleteAlias) -> Response:
    await ctx.registry.delete_alias(ep.name, ep.alias)
    return Response(204, [], b"")


async def list_aliases(ctx: LambdaContext, ep: router.ListAliases) -> Response:
    aliases, next_marker = await ctx.registry.list_aliases(ep.name, ep.function_version, ep.marker, ep.max_items)
    items = [alias_configuration(alias, ctx.region) for alias in aliases]
    return json_response(200, listing("Aliases", items, next_marker))
