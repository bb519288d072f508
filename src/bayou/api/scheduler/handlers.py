"""EventBridge Scheduler operations: request JSON → ScheduleSpec → Schedules → response JSON.

Shape checks (required members, lengths, patterns, enums) are done here, as AWS's front end does
them, with its ValidationException; what needs the world (the expression, the time zone, the
target function) is checked by functions/schedules.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from bayou import errors
from bayou.api.http import Response
from bayou.api.lambda_.render import json_response
from bayou.api.scheduler import router as r
from bayou.errors import ValidationException
from bayou.functions.schedules import DEFAULT_GROUP, Schedules, ScheduleSpec

_NAME = re.compile(r"[0-9a-zA-Z\-_.]{1,64}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_CONTEXT_ATTRIBUTE = re.compile(r"<aws\.scheduler\.[a-z-]+>")
_STATES = ("ENABLED", "DISABLED")
_ACTIONS = ("NONE", "DELETE")
_MODES = ("OFF", "FLEXIBLE")
_INPUT_LIMIT = 256 * 1024
#: Target members for other AWS services' templated targets; Bayou targets are functions.
_FOREIGN_TARGET_PARAMETERS = (
    "EcsParameters", "EventBridgeParameters", "EventBridgePutEventsV2Parameters",
    "EventBridgePutRawEventsParameters", "KinesisParameters", "SageMakerPipelineParameters", "SqsParameters",
)


async def handle(endpoint: r.Endpoint, body: dict[str, Any], schedules: Schedules) -> Response:
    match endpoint:
        case r.CreateSchedule(name):
            return json_response(200, {"ScheduleArn": await schedules.create(spec_from(name, body))})
        case r.UpdateSchedule(name):
            return json_response(200, {"ScheduleArn": await schedules.update(spec_from(name, body))})
        case r.GetSchedule(name, group):
            return json_response(200, await schedules.get(_group(group), _name(name, "Name")))
        case r.DeleteSchedule(name, group):
            await schedules.delete(_group(group), _name(name, "Name"))
            return json_response(200, {})
        case r.ListSchedules():
            return await _list(endpoint, schedules)
        case r.GetScheduleGroup(name):
            return json_response(200, schedules.group(_name(name, "Name")))
        case r.ListScheduleGroups(prefix):
            groups = [] if prefix and not DEFAULT_GROUP.startswith(prefix) else [schedules.group(DEFAULT_GROUP)]
            return json_response(200, {"ScheduleGroups": groups})
        case r.Unsupported(operation):
            raise errors.NotImplemented(f"{operation} is not implemented by Bayou yet.")
    raise AssertionError(endpoint)


async def _list(endpoint: r.ListSchedules, schedules: Schedules) -> Response:
    if endpoint.state is not None and endpoint.state not in _STATES:
        raise ValidationException(f"Invalid State {endpoint.state!r}: expected ENABLED or DISABLED.")
    if endpoint.name_prefix is not None:
        _name(endpoint.name_prefix, "NamePrefix")
    items, token = await schedules.list(
        None if endpoint.group is None else _group(endpoint.group), endpoint.name_prefix, endpoint.state,
        endpoint.next_token, endpoint.max_results or 100,
    )
    out: dict[str, Any] = {"Schedules": items}
    if token:
        out["NextToken"] = token
    return json_response(200, out)


def spec_from(name: str, body: dict[str, Any]) -> ScheduleSpec:
    """CreateSchedule / UpdateSchedule's input, checked for shape."""
    for member in ("ScheduleExpression", "Target", "FlexibleTimeWindow"):
        if body.get(member) is None:
            raise ValidationException(f"1 validation error detected: Value null at '{member}' failed to satisfy "
                                      "constraint: Member must not be null")
    return ScheduleSpec(
        name=_name(name, "Name"),
        group=_group(body.get("GroupName")),
        expression=_string(body, "ScheduleExpression", 1, 256) or "",
        target=_target(body["Target"]),
        flexible_time_window=_window(body["FlexibleTimeWindow"]),
        timezone=_string(body, "ScheduleExpressionTimezone", 1, 50),
        start_date=_timestamp(body, "StartDate"),
        end_date=_timestamp(body, "EndDate"),
        description=_string(body, "Description", 0, 512),
        state=_enum(body, "State", _STATES) or "ENABLED",
        kms_key_arn=_string(body, "KmsKeyArn", 1, 2048),
        action_after_completion=_enum(body, "ActionAfterCompletion", _ACTIONS) or "NONE",
        client_token=_string(body, "ClientToken", 1, 64),
    )


def _name(value: Any, member: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationException(
            f"1 validation error detected: Value {value!r} at '{member}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ and have length between 1 and 64"
        )
    return value


def _group(value: Any) -> str:
    return DEFAULT_GROUP if value is None else _name(value, "GroupName")


def _string(body: dict[str, Any], member: str, low: int, high: int) -> str | None:
    value = body.get(member)
    if value is None:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise ValidationException(f"{member} must be a string of {low} to {high} characters.")
    return value


def _enum(body: dict[str, Any], member: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(member)
    if value is not None and value not in allowed:
        raise ValidationException(f"Invalid {member} {value!r}: expected one of {', '.join(allowed)}.")
    return value


def _timestamp(body: dict[str, Any], member: str) -> float | None:
    value = body.get(member)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    raise ValidationException(f"Invalid {member}: expected a timestamp.")


def _integer(body: dict[str, Any], member: str, low: int, high: int) -> None:
    value = body.get(member)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
        raise ValidationException(f"{member} must be an integer between {low} and {high}.")


def _target(target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        raise ValidationException("Target must be an object.")
    arn = _string(target, "Arn", 1, 1600)
    role = _string(target, "RoleArn", 1, 1600)
    if arn is None or role is None:
        raise ValidationException("Target.Arn and Target.RoleArn are required.")
    if not _ROLE_ARN.fullmatch(role):
        raise ValidationException(f"Invalid RoleArn {role!r}: expected arn:aws:iam::<account>:role/<name>.")
    for member in _FOREIGN_TARGET_PARAMETERS:
        if target.get(member) is not None:
            raise ValidationException(f"Target.{member} is not supported: Bayou schedules invoke Lambda functions.")
    if target.get("DeadLetterConfig") is not None:
        raise ValidationException("Target.DeadLetterConfig is not supported by Bayou (there is no SQS).")
    text = target.get("Input")
    if text is not None:
        if not isinstance(text, str) or not 1 <= len(text.encode()) <= _INPUT_LIMIT:
            raise ValidationException("Target.Input must be a string of 1 byte to 256 KB.")
        try:
            json.loads(_CONTEXT_ATTRIBUTE.sub("0", text))
        except ValueError as exc:
            raise ValidationException(f"Target.Input must be well-formed JSON for a Lambda target: {exc}") from exc
    policy = target.get("RetryPolicy")
    if policy is not None:
        if not isinstance(policy, dict):
            raise ValidationException("Target.RetryPolicy must be an object.")
        _integer(policy, "MaximumEventAgeInSeconds", 60, 86400)
        _integer(policy, "MaximumRetryAttempts", 0, 185)
    keep = ("Arn", "RoleArn", "Input", "RetryPolicy")
    return {key: target[key] for key in keep if target.get(key) is not None}


def _window(window: Any) -> dict[str, Any]:
    if not isinstance(window, dict) or window.get("Mode") not in _MODES:
        raise ValidationException("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE.")
    _integer(window, "MaximumWindowInMinutes", 1, 1440)
    if window["Mode"] == "FLEXIBLE" and window.get("MaximumWindowInMinutes") is None:
        raise ValidationException("FlexibleTimeWindow.MaximumWindowInMinutes is required when Mode is FLEXIBLE.")
    if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
        raise ValidationException("FlexibleTimeWindow.MaximumWindowInMinutes must not be set when Mode is OFF.")
    return {key: window[key] for key in ("Mode", "MaximumWindowInMinutes") if window.get(key) is not None}
