"""PublishVersion and ListVersionsByFunction."""

from __future__ import annotations

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import function_configuration, listing


async def publish_version(ctx: LambdaContext, ep: router.PublishVersion) -> Response:
    doc = Doc(await ctx.read_json())
    version = await ctx.registry.publish_version(
        ep.name,
        code_sha256=doc.string("CodeSha256"),
        revision_id=doc.string("RevisionId"),
        description=doc.string("Description") or "",
    )
    return json_response(201, function_configuration(version, ctx.region, arn_qualifier=version.version))


async def list_versions_by_function(ctx: LambdaContext, ep: router.ListVersionsByFunction) -> Response:
    versions, next_marker = await ctx.registry.list_versions(ep.name, ep.marker, ep.max_items)
    # Lambda qualifies every entry's ARN here, $LATEST included.
    items = [function_configuration(v, ctx.region, arn_qualifier=v.version) for v in versions]
    return json_response(200, listing("Versions", items, next_marker))
