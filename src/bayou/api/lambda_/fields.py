"""Typed reads of a request's JSON document.

A value of the wrong JSON type is a body Lambda cannot deserialise (InvalidRequestContentException,
as Lambda's Jackson front end answers); a missing required member is a validation error
(InvalidParameterValueException). Ranges and patterns are the registry's to check.
"""

from __future__ import annotations

from typing import Any

from bayou.errors import InvalidParameterValueException, InvalidRequestContentException


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class Doc:
    """One JSON object of the request; `where` names it in messages (e.g. "Code.")."""

    def __init__(self, data: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def __contains__(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _type_error(self, name: str, expected: str) -> InvalidRequestContentException:
        got = type(self.data[name]).__name__
        return InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: "
            f"{self.where}{name} must be {expected}, not {got}"
        )

    def _missing(self, name: str) -> InvalidParameterValueException:
        return InvalidParameterValueException(
            f"1 validation error detected: Value null at '{_camel(self.where + name)}' failed to satisfy "
            "constraint: Member must not be null"
        )

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise self._missing(name)
        return value

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise self._type_error(name, "a string")
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._get(name, required)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._type_error(name, "an integer")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, bool):
            raise self._type_error(name, "a boolean")
        return value

    def number(self, name: str) -> float | None:
        value = self._get(name, False)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise self._type_error(name, "a number")
        return None if value is None else float(value)

    def object(self, name: str, *, required: bool = False) -> Doc | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._type_error(name, "an object")
        return Doc(value, f"{self.where}{name}.")

    def str_map(self, name: str, *, required: bool = False) -> dict[str, str] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._type_error(name, "an object of strings")
        return dict(value)

    def number_map(self, name: str) -> dict[str, float] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise self._type_error(name, "an object of numbers")
        return {k: float(v) for k, v in value.items()}

    def str_list(self, name: str, *, required: bool = False) -> list[str] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._type_error(name, "a list of strings")
        return list(value)

    def raw(self, name: str) -> Any:
        return self.data.get(name)
