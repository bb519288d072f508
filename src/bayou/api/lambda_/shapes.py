"""Lambda's response shapes (service-2.json names), rendered from the registry's records.

One function per shape, each a plain dict ready for `json_response`. What Bayou does not model
(State, LastUpdateStatus, SnapStart, ...) is rendered with the value Lambda shows for a ready Zip
function, so botocore's waiters (function_active_v2, function_updated_v2, function_exists,
published_version_active) succeed at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from bayou.functions.models import LATEST, Alias, FunctionVersion, function_arn

T = TypeVar("T")

#: Echoed from `FunctionVersion.extra` as given (already type-checked on the way in).
_ECHOED = ("VpcConfig", "DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfigResponse")


def lambda_timestamp(epoch: float) -> str:
    """FunctionConfiguration.LastModified: `2024-01-01T00:00:00.000+0000`."""
    millis = int(round(epoch * 1000))
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}+0000"


def iso_timestamp(epoch: float) -> str:
    """Function URL times: ISO 8601 with microseconds, `2024-01-01T00:00:00.000000Z`."""
    micros = int(round(epoch * 1_000_000))
    seconds, us = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{us:06d}Z"


def function_configuration(version: FunctionVersion, region: str, *, arn_qualifier: str | None) -> dict[str, Any]:
    """FunctionConfiguration; `arn_qualifier` is what FunctionArn carries after the name (or nothing)."""
    extra = version.extra
    logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{version.name}", **(extra.get("LoggingConfig") or {})}
    snap_start = extra.get("SnapStart") or {}
    shape: dict[str, Any] = {
        "FunctionName": version.name,
        "FunctionArn": function_arn(region, version.name, arn_qualifier),
        "Runtime": version.runtime,
        "Role": version.role,
        "Handler": version.handler,
        "CodeSize": version.code.size,
        "Description": version.description,
        "Timeout": version.timeout,
        "MemorySize": version.memory_size,
        "LastModified": lambda_timestamp(version.last_modified),
        "CodeSha256": version.code.sha256_b64,
        "Version": version.version,
        "Environment": {"Variables": dict(version.environment)},
        "TracingConfig": extra.get("TracingConfig") or {"Mode": "PassThrough"},
        "RevisionId": version.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(extra.get("Architectures") or ["x86_64"]),
        "EphemeralStorage": extra.get("EphemeralStorage") or {"Size": version.ephemeral_storage},
        "SnapStart": {"ApplyOn": snap_start.get("ApplyOn", "None"), "OptimizationStatus": "Off"},
        "LoggingConfig": logging,
    }
    for name in _ECHOED:
        if extra.get(name) is not None:
            shape[name] = extra[name]
    if extra.get("Layers"):
        shape["Layers"] = [{"Arn": arn, "CodeSize": 0} for arn in extra["Layers"]]
    return shape


def published_arn_qualifier(version: FunctionVersion) -> str | None:
    """The ARN qualifier CreateFunction / UpdateFunctionCode show: the version if one was published."""
    return None if version.version == LATEST else version.version


def code_location(public_url: str, version: FunctionVersion) -> dict[str, str]:
    """GetFunction's Code. The `/_bayou/fn-code/` endpoint that serves the zip belongs to the app."""
    location = (
        f"{public_url}/_bayou/fn-code/{quote(version.name, safe='')}"
        f"?Qualifier={quote(version.version, safe='')}&CodeSha256={version.code.sha256_hex}"
    )
    return {"RepositoryType": "S3", "Location": location}


def get_function_response(
    config: dict[str, Any], code: dict[str, str], tags: dict[str, str] | None, concurrency: dict[str, Any] | None
) -> dict[str, Any]:
    shape: dict[str, Any] = {"Configuration": config, "Code": code}
    if tags:
        shape["Tags"] = dict(tags)
    if concurrency:
        shape["Concurrency"] = dict(concurrency)
    return shape


def alias_configuration(alias: Alias, region: str) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "AliasArn": function_arn(region, alias.function, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_weights:
        shape["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.additional_weights)}
    return shape


def function_url(public_url: str, name: str, qualifier: str | None) -> str:
    target = f"{name}:{qualifier}" if qualifier else name
    return f"{public_url}/_bayou/fn-url/{quote(target, safe=':')}/"


def listing(key: str, items: list[dict[str, Any]], next_marker: str | None) -> dict[str, Any]:
    """`{key: [...], "NextMarker": ...}`, NextMarker only when there is a next page."""
    shape: dict[str, Any] = {key: items}
    if next_marker:
        shape["NextMarker"] = next_marker
    return shape


def page(items: Sequence[T], key: Callable[[T], str], marker: str | None, limit: int) -> tuple[list[T], str | None]:
    """One page of `items` ordered by `key`, after `marker`; the marker of the next page or None."""
    ordered = sorted(items, key=key)
    if marker is not None:
        ordered = [item for item in ordered if key(item) > marker]
    chunk = ordered[:limit]
    return chunk, (key(chunk[-1]) if len(ordered) > limit else None)
