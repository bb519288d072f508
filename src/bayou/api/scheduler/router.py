"""Parse, then handle: an EventBridge Scheduler request line becomes a typed endpoint.

Paths are those of botocore's `scheduler` model (rest-json, 2021-06-30). Operations of the model
that Bayou does not serve (schedule groups other than reading "default", tags) are `Unsupported`
(501 NotImplemented); a request line that is no Scheduler operation is 404 ResourceNotFoundException.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from bayou.errors import ResourceNotFoundException, ValidationException


@dataclass(frozen=True, slots=True)
class CreateSchedule:
    name: str


@dataclass(frozen=True, slots=True)
class UpdateSchedule:
    name: str


@dataclass(frozen=True, slots=True)
class GetSchedule:
    name: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteSchedule:
    name: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ListSchedules:
    group: str | None = None
    name_prefix: str | None = None
    state: str | None = None
    next_token: str | None = None
    max_results: int | None = None


@dataclass(frozen=True, slots=True)
class GetScheduleGroup:
    name: str


@dataclass(frozen=True, slots=True)
class ListScheduleGroups:
    name_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Unsupported:
    operation: str


Endpoint = (
    CreateSchedule | UpdateSchedule | GetSchedule | DeleteSchedule | ListSchedules
    | GetScheduleGroup | ListScheduleGroups | Unsupported
)

_GROUP_UNSUPPORTED = {"POST": "CreateScheduleGroup", "DELETE": "DeleteScheduleGroup"}
_TAG_OPERATIONS = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}


def route(method: str, raw_path: str, query: Mapping[str, str]) -> Endpoint:
    parts = raw_path.split("/")
    if len(parts) == 2 and parts[1] == "schedules" and method == "GET":
        return _list_schedules(query)
    if len(parts) == 2 and parts[1] == "schedule-groups" and method == "GET":
        return ListScheduleGroups(query.get("NamePrefix") or None)
    if len(parts) == 3 and parts[2]:
        resource, name = parts[1], unquote(parts[2])
        if resource == "schedules":
            if method == "POST":
                return CreateSchedule(name)
            if method == "PUT":
                return UpdateSchedule(name)
            if method == "GET":
                return GetSchedule(name, query.get("groupName") or None)
            if method == "DELETE":
                return DeleteSchedule(name, query.get("groupName") or None)
        if resource == "schedule-groups":
            if method == "GET":
                return GetScheduleGroup(name)
            if method in _GROUP_UNSUPPORTED:
                return Unsupported(_GROUP_UNSUPPORTED[method])
    if len(parts) >= 3 and parts[1] == "tags" and method in _TAG_OPERATIONS:
        return Unsupported(_TAG_OPERATIONS[method])
    raise ResourceNotFoundException(f"No EventBridge Scheduler operation at {method} {raw_path}.")


def _list_schedules(query: Mapping[str, str]) -> ListSchedules:
    max_results = query.get("MaxResults")
    limit = None
    if max_results is not None:
        if not max_results.isdigit() or not 1 <= int(max_results) <= 100:
            raise ValidationException("MaxResults must be an integer between 1 and 100.")
        limit = int(max_results)
    return ListSchedules(
        group=query.get("ScheduleGroup") or None,
        name_prefix=query.get("NamePrefix") or None,
        state=query.get("State") or None,
        next_token=query.get("NextToken") or None,
        max_results=limit,
    )
