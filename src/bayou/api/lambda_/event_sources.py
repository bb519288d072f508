"""Create/Get/Update/Delete/ListEventSourceMappings for bucket sources (functions/event_sources.py)."""

from __future__ import annotations

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.api.lambda_.shapes import listing
from bayou.errors import InvalidParameterValueException
from bayou.functions.event_sources import EventSources

#: Members Lambda accepts that have no meaning for a bucket source; accepted only when absent.
_STREAM_ONLY = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "Topics", "Queues",
                "SelfManagedEventSource", "SelfManagedKafkaEventSourceConfig", "AmazonManagedKafkaEventSourceConfig",
                "DocumentDBEventSourceConfig", "TumblingWindowInSeconds", "BisectBatchOnFunctionError",
                "FunctionResponseTypes", "FilterCriteria", "DestinationConfig", "MaximumRecordAgeInSeconds",
                "MaximumRetryAttempts")


def _reject_unsupported(doc: Doc) -> None:
    for name in _STREAM_ONLY:
        if name in doc:
            raise InvalidParameterValueException(
                f"{name} is not supported for bucket event sources; retries and destinations come from the "
                "function's event-invoke config (PutFunctionEventInvokeConfig)."
            )


async def create_event_source_mapping(ctx: LambdaContext, ep: router.CreateEventSourceMapping) -> Response:
    doc = Doc(await ctx.read_json())
    _reject_unsupported(doc)
    mapping = await EventSources(ctx.registry).create(
        doc.string("EventSourceArn", required=True) or "", doc.string("FunctionName", required=True) or "",
        batch_size=doc.integer("BatchSize"), window=doc.integer("MaximumBatchingWindowInSeconds"),
        enabled=doc.boolean("Enabled"),
    )
    return json_response(202, mapping.shape(ctx.region, "Creating"))


async def get_event_source_mapping(ctx: LambdaContext, ep: router.GetEventSourceMapping) -> Response:
    mapping = await EventSources(ctx.registry).get(ep.uuid)
    return json_response(200, mapping.shape(ctx.region))


async def update_event_source_mapping(ctx: LambdaContext, ep: router.UpdateEventSourceMapping) -> Response:
    doc = Doc(await ctx.read_json())
    _reject_unsupported(doc)
    mapping = await EventSources(ctx.registry).update(
        ep.uuid, function_ref=doc.string("FunctionName"), batch_size=doc.integer("BatchSize"),
        window=doc.integer("MaximumBatchingWindowInSeconds"), enabled=doc.boolean("Enabled"),
    )
    return json_response(202, mapping.shape(ctx.region, "Updating"))


async def delete_event_source_mapping(ctx: LambdaContext, ep: router.DeleteEventSourceMapping) -> Response:
    mapping = await EventSources(ctx.registry).delete(ep.uuid)
    return json_response(202, mapping.shape(ctx.region, "Deleting"))


async def list_event_source_mappings(ctx: LambdaContext, ep: router.ListEventSourceMappings) -> Response:
    mappings, marker = await EventSources(ctx.registry).list(ep.event_source_arn, ep.function_name, ep.marker,
                                                             ep.max_items)
    return json_response(200, listing("EventSourceMappings", [m.shape(ctx.region) for m in mappings], marker))
