"""The typed endpoints of the Lambda API: one frozen dataclass per operation (router.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CreateFunction:
    pass


@dataclass(frozen=True, slots=True)
class GetFunction:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class GetFunctionConfiguration:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class ListFunctions:
    marker: str | None = None
    max_items: int = 50
    function_version: str | None = None  # "ALL": every version, not only $LATEST
    master_region: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateFunctionCode:
    name: str


@dataclass(frozen=True, slots=True)
class UpdateFunctionConfiguration:
    name: str


@dataclass(frozen=True, slots=True)
class DeleteFunction:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class PublishVersion:
    name: str


@dataclass(frozen=True, slots=True)
class ListVersionsByFunction:
    name: str
    marker: str | None = None
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class CreateAlias:
    name: str


@dataclass(frozen=True, slots=True)
class GetAlias:
    name: str
    alias: str


@dataclass(frozen=True, slots=True)
class UpdateAlias:
    name: str
    alias: str


@dataclass(frozen=True, slots=True)
class DeleteAlias:
    name: str
    alias: str


@dataclass(frozen=True, slots=True)
class ListAliases:
    name: str
    function_version: str | None = None
    marker: str | None = None
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class PutFunctionConcurrency:
    name: str


@dataclass(frozen=True, slots=True)
class GetFunctionConcurrency:
    name: str


@dataclass(frozen=True, slots=True)
class DeleteFunctionConcurrency:
    name: str


@dataclass(frozen=True, slots=True)
class PutProvisionedConcurrencyConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class GetProvisionedConcurrencyConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteProvisionedConcurrencyConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class ListProvisionedConcurrencyConfigs:
    name: str
    marker: str | None = None
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class PutFunctionEventInvokeConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class GetFunctionEventInvokeConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateFunctionEventInvokeConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteFunctionEventInvokeConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class ListFunctionEventInvokeConfigs:
    name: str
    marker: str | None = None
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class AddPermission:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class GetPolicy:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class RemovePermission:
    name: str
    statement_id: str
    qualifier: str | None = None
    revision_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateFunctionUrlConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class GetFunctionUrlConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateFunctionUrlConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteFunctionUrlConfig:
    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class ListFunctionUrlConfigs:
    name: str
    marker: str | None = None
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class GetAccountSettings:
    pass


@dataclass(frozen=True, slots=True)
class TagResource:
    name: str  # the function named by the Resource ARN


@dataclass(frozen=True, slots=True)
class UntagResource:
    name: str
    tag_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ListTags:
    name: str


@dataclass(frozen=True, slots=True)
class Invoke:
    """Handled by api/lambda_/invoke.py; `qualifier` merges the name's `:qualifier` and ?Qualifier."""

    name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class InvokeAsync:
    name: str


@dataclass(frozen=True, slots=True)
class GetFunctionLogs:
    """Bayou's extension (api/lambda_/logs.py): the function's log file from byte `offset`."""

    name: str
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CreateEventSourceMapping:
    pass


@dataclass(frozen=True, slots=True)
class GetEventSourceMapping:
    uuid: str


@dataclass(frozen=True, slots=True)
class UpdateEventSourceMapping:
    uuid: str


@dataclass(frozen=True, slots=True)
class DeleteEventSourceMapping:
    uuid: str


@dataclass(frozen=True, slots=True)
class ListEventSourceMappings:
    event_source_arn: str | None = None
    function_name: str | None = None
    marker: str | None = None
    max_items: int = 100


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A Lambda operation Bayou does not implement (501 NotImplemented)."""

    operation: str


Endpoint = (
    CreateFunction | GetFunction | GetFunctionConfiguration | ListFunctions | UpdateFunctionCode
    | UpdateFunctionConfiguration | DeleteFunction | PublishVersion | ListVersionsByFunction | CreateAlias
    | GetAlias | UpdateAlias | DeleteAlias | ListAliases | PutFunctionConcurrency | GetFunctionConcurrency
    | DeleteFunctionConcurrency | PutProvisionedConcurrencyConfig | GetProvisionedConcurrencyConfig
    | DeleteProvisionedConcurrencyConfig | ListProvisionedConcurrencyConfigs | PutFunctionEventInvokeConfig
    | GetFunctionEventInvokeConfig | UpdateFunctionEventInvokeConfig | DeleteFunctionEventInvokeConfig
    | ListFunctionEventInvokeConfigs | AddPermission | GetPolicy | RemovePermission | CreateFunctionUrlConfig
    | GetFunctionUrlConfig | UpdateFunctionUrlConfig | DeleteFunctionUrlConfig | ListFunctionUrlConfigs
    | GetAccountSettings | TagResource | UntagResource | ListTags | Invoke | InvokeAsync | Unsupported
    | GetFunctionLogs | CreateEventSourceMapping | GetEventSourceMapping | UpdateEventSourceMapping
    | DeleteEventSourceMapping | ListEventSourceMappings
)
