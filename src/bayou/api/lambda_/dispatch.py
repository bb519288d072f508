"""Endpoint → handler table for the Lambda API.

Handlers raise `bayou.errors` exceptions; the caller renders them with
`api.lambda_.render.error_response` (routing errors from `router.route` included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bayou import errors
from bayou.api.http import Response
from bayou.api.lambda_ import (
    aliases,
    event_invoke,
    event_sources,
    functions,
    permissions,
    router,
    settings,
    urls,
    versions,
)
from bayou.api.lambda_.context import BODY_LIMIT, CODE_BODY_LIMIT, INVOKE_BODY_LIMIT, LambdaContext
from bayou.api.lambda_.logs import get_function_logs

Handler = Callable[[LambdaContext, Any], Awaitable[Response]]


async def _invoke(ctx: LambdaContext, endpoint: router.Invoke) -> Response:
    from bayou.api.lambda_.invoke import handle_invoke  # written separately; imported on first use

    return await handle_invoke(ctx, endpoint)


async def _invoke_async(ctx: LambdaContext, endpoint: router.InvokeAsync) -> Response:
    from bayou.api.lambda_.invoke import handle_invoke_async

    return await handle_invoke_async(ctx, endpoint)


HANDLERS: dict[type, Handler] = {
    router.CreateFunction: functions.create_function,
    router.GetFunction: functions.get_function,
    router.GetFunctionConfiguration: functions.get_function_configuration,
    router.ListFunctions: functions.list_functions,
    router.UpdateFunctionCode: functions.update_function_code,
    router.UpdateFunctionConfiguration: functions.update_function_configuration,
    router.DeleteFunction: functions.delete_function,
    router.PublishVersion: versions.publish_version,
    router.ListVersionsByFunction: versions.list_versions_by_function,
    router.CreateAlias: aliases.create_alias,
    router.GetAlias: aliases.get_alias,
    router.UpdateAlias: aliases.update_alias,
    router.DeleteAlias: aliases.delete_alias,
    router.ListAliases: aliases.list_aliases,
    router.PutFunctionConcurrency: settings.put_function_concurrency,
    router.GetFunctionConcurrency: settings.get_function_concurrency,
    router.DeleteFunctionConcurrency: settings.delete_function_concurrency,
    router.PutProvisionedConcurrencyConfig: settings.put_provisioned_concurrency_config,
    router.GetProvisionedConcurrencyConfig: settings.get_provisioned_concurrency_config,
    router.DeleteProvisionedConcurrencyConfig: settings.delete_provisioned_concurrency_config,
    router.ListProvisionedConcurrencyConfigs: settings.list_provisioned_concurrency_configs,
    router.PutFunctionEventInvokeConfig: event_invoke.put_function_event_invoke_config,
    router.GetFunctionEventInvokeConfig: event_invoke.get_function_event_invoke_config,
    router.UpdateFunctionEventInvokeConfig: event_invoke.update_function_event_invoke_config,
    router.DeleteFunctionEventInvokeConfig: event_invoke.delete_function_event_invoke_config,
    router.ListFunctionEventInvokeConfigs: event_invoke.list_function_event_invoke_configs,
    router.AddPermission: permissions.add_permission,
    router.GetPolicy: permissions.get_policy,
    router.RemovePermission: permissions.remove_permission,
    router.CreateFunctionUrlConfig: urls.create_function_url_config,
    router.GetFunctionUrlConfig: urls.get_function_url_config,
    router.UpdateFunctionUrlConfig: urls.update_function_url_config,
    router.DeleteFunctionUrlConfig: urls.delete_function_url_config,
    router.ListFunctionUrlConfigs: urls.list_function_url_configs,
    router.GetAccountSettings: settings.get_account_settings,
    router.TagResource: settings.tag_resource,
    router.UntagResource: settings.untag_resource,
    router.ListTags: settings.list_tags,
    router.Invoke: _invoke,
    router.InvokeAsync: _invoke_async,
    router.GetFunctionLogs: get_function_logs,
    router.CreateEventSourceMapping: event_sources.create_event_source_mapping,
    router.GetEventSourceMapping: event_sources.get_event_source_mapping,
    router.UpdateEventSourceMapping: event_sources.update_event_source_mapping,
    router.DeleteEventSourceMapping: event_sources.delete_event_source_mapping,
    router.ListEventSourceMappings: event_sources.list_event_source_mappings,
}


def body_limit(endpoint: router.Endpoint) -> int:
    """How many body bytes the app may read for this endpoint before authenticating it."""
    if isinstance(endpoint, router.CreateFunction | router.UpdateFunctionCode):
        return CODE_BODY_LIMIT
    if isinstance(endpoint, router.Invoke | router.InvokeAsync):
        return INVOKE_BODY_LIMIT
    return BODY_LIMIT


async def handle(ctx: LambdaContext, endpoint: router.Endpoint) -> Response:
    handler = HANDLERS.get(type(endpoint))
    if handler is None:
        operation = endpoint.operation if isinstance(endpoint, router.Unsupported) else type(endpoint).__name__
        raise errors.NotImplemented(f"{operation} is not implemented by Bayou yet.")
    return await handler(ctx, endpoint)
