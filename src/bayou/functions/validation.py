"""Lambda's rules for names, references and configuration values, as pure functions.

Every violation raises `InvalidParameterValueException` with a message close to Lambda's, so the
API and the CLI reject the same things the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bayou.errors import InvalidParameterValueException
from bayou.functions.models import LATEST

PYTHON_RUNTIMES = frozenset(f"python3.{minor}" for minor in range(8, 14))
CUSTOM_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
RUNTIMES = PYTHON_RUNTIMES | CUSTOM_RUNTIMES

RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
MAX_ENV_BYTES = 4096
MAX_DESCRIPTION = 256

_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
_QUALIFIER = r"\$LATEST|[a-zA-Z0-9-_]{1,128}"
_ALIAS = re.compile(r"^(?!^[0-9]+$)([a-zA-Z0-9-_]{1,128})$")
_VERSION = re.compile(r"^[0-9]{1,10}$")
_HANDLER = re.compile(r"^[^\s]{1,128}$")
_ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")


_FUNCTION_REF = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d:)?"
    r"(?P<account>\d{12}:)?(?P<kind>function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?"
)
_PLAIN_REF = re.compile(r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?")
_MAX_NAME = 64


def parse_function_ref(ref: str) -> tuple[str, str | None]:
    """(name, qualifier or None) of a FunctionName in any of Lambda's forms: a name, `name:qualifier`,
    a partial ARN (`<account>:function:<name>[:<qualifier>]`) or a full ARN (the one parser of them)."""
    match = (_FUNCTION_REF if "function:" in ref else _PLAIN_REF).fullmatch(ref)
    if match is None or len(ref) > 256:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{ref}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
            r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
            r"([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    if len(match["name"]) > _MAX_NAME:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{ref}' at 'functionName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {_MAX_NAME}"
        )
    return match["name"], match["qualifier"]




def merge_qualifier(ref: str, qualifier: str | None) -> tuple[str, str | None]:
    """Parse `ref` and reconcile its qualifier with an explicit one (Lambda: they must agree)."""
    name, derived = parse_function_ref(ref)
    if qualifier is not None and qualifier != "":
        check_qualifier(qualifier)
        if derived is not None and derived != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return name, qualifier
    return name, derived


def check_qualifier(qualifier: str) -> None:
    if not re.fullmatch(_QUALIFIER, qualifier):
        raise InvalidParameterValueException(f"Invalid qualifier: {qualifier}")


def is_version_number(qualifier: str) -> bool:
    return bool(_VERSION.match(qualifier))


def check_function_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterValueException(f"Invalid function name: {name}. It must match [a-zA-Z0-9-_]{{1,64}}.")


def check_alias_name(name: str) -> None:
    if not isinstance(name, str) or not _ALIAS.match(name):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )


def check_description(description: str) -> None:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidParameterValueException(f"Description must be a string of at most {MAX_DESCRIPTION} characters.")


def check_int_range(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low} and less than or equal to {high}"
        )
    return value


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is not supported by Bayou. Supported runtimes: "
            f"{', '.join(sorted(RUNTIMES))}."
        )


def check_handler(runtime: str, handler: str) -> None:
    if not handler:
        if runtime in PYTHON_RUNTIMES:
            raise InvalidParameterValueException("The Handler parameter is required for runtime " + runtime + ".")
        return
    if not isinstance(handler, str) or not _HANDLER.match(handler):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{handler}' at 'handler' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^\\s]+ and have length less than or equal to 128"
        )


def check_environment(variables: dict[str, str]) -> None:
    if not isinstance(variables, dict):
        raise InvalidParameterValueException("Environment.Variables must be a map of strings.")
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    for key, value in variables.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key) or not isinstance(value, str):
            raise InvalidParameterValueException(
                f"Lambda was unable to configure your environment variables because the environment variables "
                f"you have provided contains an invalid key or value: {key!r}."
            )
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the 4KB limit. String measured: {measured}"
        )


def check_routing(primary: str, weights: dict[str, float]) -> None:
    """AdditionalVersionWeights: at most one other published version, weight in [0, 1]."""
    if not isinstance(weights, dict):
        raise InvalidParameterValueException("AdditionalVersionWeights must be a map of version to weight.")
    if len(weights) > 1:
        raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
    for version, weight in weights.items():
        if version == LATEST or primary == LATEST:
            raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 version")
        if not is_version_number(version):
            raise InvalidParameterValueException(f"Invalid function version {version}. Function version {version} does not exist.")
        if version == primary:
            raise InvalidParameterValueException(
                f"Invalid function version {version}. Function version {version} is already included in routing configuration."
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to "
                "satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal "
                "to 1.0, Member must have value greater than or equal to 0.0]"
            )


def check_tags(tags: dict[str, str]) -> None:
    if not isinstance(tags, dict) or len(tags) > 50:
        raise InvalidParameterValueException("Tags must be a map of at most 50 entries.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.startswith("aws:"):
            raise InvalidParameterValueException(f"Invalid tag key: {key!r}")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidParameterValueException(f"Invalid value for tag {key!r}")


def check_setting(kind: str, value: dict[str, Any], qualifier: str, account_concurrency: int) -> None:
    """Light checks of a per-function setting document, by kind."""
    if not isinstance(value, dict):
        raise InvalidParameterValueException(f"The {kind} setting must be a JSON object.")
    if kind == "concurrency":
        if qualifier:
            raise InvalidParameterValueException("Reserved concurrency applies to the function, not to a qualifier.")
        check_int_range("reservedConcurrentExecutions", value.get("ReservedConcurrentExecutions"), 0, account_concurrency)
    elif kind == "provisioned":
        if not qualifier or qualifier == LATEST:
            raise InvalidParameterValueException("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        check_int_range("provisionedConcurrentExecutions", value.get("ProvisionedConcurrentExecutions"), 1, account_concurrency)
    elif kind == "event-invoke":
        if "MaximumRetryAttempts" in value:
            check_int_range("maximumRetryAttempts", value["MaximumRetryAttempts"], 0, 2)
        if "MaximumEventAgeInSeconds" in value:
            check_int_range("maximumEventAgeInSeconds", value["MaximumEventAgeInSeconds"], 60, 21600)
    elif kind == "tags":
        check_tags(value)
