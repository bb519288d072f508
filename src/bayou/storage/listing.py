"""Listing with prefix and delimiter, as pure logic over an ordered `fetch`.

Work is proportional to the page, not to the keys hidden under its CommonPrefixes: when a
common prefix is found the scan seeks past it (to the prefix's byte successor) instead of
reading the keys below it. Keys compare as UTF-8 bytes, S3's order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bayou.errors import InvalidArgument
from bayou.meta.records import ObjectRecord

#: fetch(start, inclusive, end, limit) -> records with start <(=) key < end, in key order.
Fetch = Callable[[bytes, bool, "bytes | None", int], Awaitable[list[ObjectRecord]]]


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with `prefix` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page resumes: after a key, or after everything under a common prefix."""

    value: bytes
    is_prefix: bool

    def encode_token(self) -> str:
        return base64.urlsafe_b64encode((b"P" if self.is_prefix else b"K") + self.value).decode("ascii")

    @staticmethod
    def decode_token(token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token") from exc
        if raw[:1] not in (b"P", b"K"):
            raise InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token")
        return Cursor(raw[1:], raw[:1] == b"P")

    @staticmethod
    def from_marker(marker: str, delimiter: str) -> Cursor:
        """A client's marker/start-after: a marker ending in the delimiter stands for a prefix already listed."""
        is_prefix = bool(delimiter) and marker.endswith(delimiter)
        return Cursor(marker.encode(), is_prefix)


@dataclass(slots=True)
class Page:
    objects: list[ObjectRecord] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    #: The last entry returned (a key or a common prefix), for NextMarker / continuation tokens.
    last: Cursor | None = None


def _start(prefix: bytes, after: Cursor | None) -> tuple[bytes, bool]:
    if after is None or after.value < prefix:
        return prefix, True
    if after.is_prefix:
        nxt = successor(after.value)
        return (nxt, True) if nxt is not None else (b"\xff" * 4, False)
    return after.value, False


async def list_page(fetch: Fetch, *, prefix: str, delimiter: str, after: Cursor | None, max_keys: int) -> Page:
    page = Page()
    if max_keys <= 0:
        return page
    prefix_b = prefix.encode()
    end = successor(prefix_b) if prefix_b else None
    start, inclusive = _start(prefix_b, after)
    count = 0
    while True:
        limit = max_keys - count + 1
        batch = await fetch(start, inclusive, end, limit)
        if not batch:
            return page
        last_prefix: str | None = None
        for record in batch:
            common = _common_prefix(record.key, prefix, delimiter)
            if common is not None and common == last_prefix:
                continue
            if count == max_keys:
                page.is_truncated = True
                return page
            if common is not None:
                page.common_prefixes.append(common)
                page.last = Cursor(common.encode(), True)
                last_prefix = common
            else:
                page.objects.append(record)
                page.last = Cursor(record.key.encode(), False)
            count += 1
        assert page.last is not None
        if len(batch) < limit:
            return page
        start, inclusive = _start(prefix_b, page.last)


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    if index < 0:
        return None
    return key[: index + len(delimiter)]
