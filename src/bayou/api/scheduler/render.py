"""Scheduler's JSON error body: {"Message": ...} with the code in x-amzn-ErrorType.

The Scheduler model's error shapes have one member, `Message`; boto3 reads the code from the
header. Errors raised below in Lambda's vocabulary (a bad JSON body, an internal error) are
mapped onto Scheduler's codes here, once.
"""

from __future__ import annotations

from bayou.api.http import Response
from bayou.api.lambda_.render import json_response
from bayou.errors import BayouError

SCHEDULER_CODES = frozenset({
    "ValidationException", "ResourceNotFoundException", "ConflictException", "InternalServerException",
    "ThrottlingException", "ServiceQuotaExceededException", "NotImplemented",
    # signature failures keep their own codes, as on AWS
    "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "RequestTimeTooSkewed",
})


def scheduler_code(error: BayouError) -> str:
    if error.code in SCHEDULER_CODES:
        return error.code
    if error.status == 429:
        return "ThrottlingException"
    if error.status >= 500:
        return "InternalServerException"
    return "ValidationException"


def error_response(error: BayouError) -> Response:
    status = 500 if scheduler_code(error) == "InternalServerException" else error.status
    headers = [(name, value) for name, value in error.headers.items()]
    headers.append(("x-amzn-ErrorType", scheduler_code(error)))
    return json_response(status, {"Message": error.message}, headers)
