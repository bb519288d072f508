"""AddPermission, GetPolicy, RemovePermission: a function's resource-based policy.

Stored per qualifier ("" = the unqualified function) as {"Version", "Id", "Statement": [...],
"RevisionId"}; the RevisionId is the policy's own and changes on every AddPermission/RemovePermission.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from bayou.api.http import Response
from bayou.api.lambda_ import router
from bayou.api.lambda_.context import LambdaContext
from bayou.api.lambda_.fields import Doc
from bayou.api.lambda_.render import json_response
from bayou.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from bayou.functions.models import function_arn

KIND = "policy"
_STATEMENT_ID = re.compile(r"[a-zA-Z0-9_-]{1,100}")
_ACTION = re.compile(r"lambda:[*]|lambda:[a-zA-Z]+|[*]")
_ACCOUNT = re.compile(r"\d{12}")


def principal(value: str) -> Any:
    """Lambda's rendering of AddPermission's Principal in the statement."""
    if value == "*":
        return "*"
    if _ACCOUNT.fullmatch(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    return {"Service": value}


def _conditions(doc: Doc) -> dict[str, dict[str, str]]:
    conditions: dict[str, dict[str, str]] = {}
    source_arn = doc.string("SourceArn")
    if source_arn:
        conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = source_arn
    for member, key in (
        ("SourceAccount", "AWS:SourceAccount"),
        ("PrincipalOrgID", "aws:PrincipalOrgID"),
        ("EventSourceToken", "lambda:EventSourceToken"),
        ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ):
        value = doc.string(member)
        if value:
            conditions.setdefault("StringEquals", {})[key] = value
    return conditions


def statement(doc: Doc, resource: str) -> dict[str, Any]:
    sid = doc.string("StatementId", required=True) or ""
    action = doc.string("Action", required=True) or ""
    who = doc.string("Principal", required=True) or ""
    if not _STATEMENT_ID.fullmatch(sid):
        raise InvalidParameterValueException(f"Invalid StatementId: {sid!r}.")
    if not _ACTION.fullmatch(action):
        raise InvalidParameterValueException(f"Invalid Action: {action!r}.")
    if not who or any(c.isspace() for c in who):
        raise InvalidParameterValueException(f"Invalid Principal: {who!r}.")
    shaped: dict[str, Any] = {
        "Sid": sid, "Effect": "Allow", "Principal": principal(who), "Action": action, "Resource": resource,
    }
    conditions = _conditions(doc)
    if conditions:
        shaped["Condition"] = conditions
    return shaped


def _check_revision(policy: dict[str, Any] | None, revision_id: str | None) -> None:
    if revision_id is not None and (policy or {}).get("RevisionId") != revision_id:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve "
            "the latest Revision Id"
        )


async def add_permission(ctx: LambdaContext, ep: router.AddPermission) -> Response:
    doc = Doc(await ctx.read_json())
    await ctx.registry.get_function(ep.name, ep.qualifier)
    new = statement(doc, function_arn(ctx.region, ep.name, ep.qualifier))
    policy = await ctx.registry.get_setting(ep.name, KIND, ep.qualifier or "")
    _check_revision(policy, doc.string("RevisionId"))
    statements = list((policy or {}).get("Statement", []))
    if any(s.get("Sid") == new["Sid"] for s in statements):
        raise ResourceConflictException(
            f"The statement id ({new['Sid']}) provided already exists. Please provide a new statement id, "
            "or remove the existing statement."
        )
    statements.append(new)
    await _save(ctx, ep.name, ep.qualifier, statements)
    return json_response(201, {"Statement": json.dumps(new, separators=(",", ":"))})


async def _save(ctx: LambdaContext, name: str, qualifier: str | None, statements: list[dict[str, Any]]) -> None:
    if not statements:
        await ctx.registry.delete_setting(name, KIND, qualifier or "")
        return
    value = {"Version": "2012-10-17", "Id": "default", "Statement": statements, "RevisionId": str(uuid.uuid4())}
    await ctx.registry.put_setting(name, KIND, value, qualifier or "")


async def _policy(ctx: LambdaContext, name: str, qualifier: str | None) -> dict[str, Any]:
    await ctx.registry.get_function(name, qualifier)
    policy = await ctx.registry.get_setting(name, KIND, qualifier or "")
    if not policy or not policy.get("Statement"):
        raise ResourceNotFoundException("The resource you requested does not exist.")
    return policy


async def get_policy(ctx: LambdaContext, ep: router.GetPolicy) -> Response:
    policy = await _policy(ctx, ep.name, ep.qualifier)
    document = {k: v for k, v in policy.items() if k != "RevisionId"}
    return json_response(200, {"Policy": json.dumps(document, separators=(",", ":")), "RevisionId": policy["RevisionId"]})


async def remove_permission(ctx: LambdaContext, ep: router.RemovePermission) -> Response:
    policy = await _policy(ctx, ep.name, ep.qualifier)
    _check_revision(policy, ep.revision_id)
    statements = [s for s in policy["Statement"] if s.get("Sid") != ep.statement_id]
    if len(statements) == len(policy["Statement"]):
        raise ResourceNotFoundException(f"Statement {ep.statement_id} is not found in resource policy.")
    await _save(ctx, ep.name, ep.qualifier, statements)
    return Response(204, [], b"")
