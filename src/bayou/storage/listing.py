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

_FIRST_BATCH = 2

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
    def from_marker(marker: str, prefix: str, delimiter: str) -> Cursor:
        """A client's marker/start-after; it stands for a common prefix already listed only if it is one."""
        return Cursor(marker.encode(), common_prefix(marker, prefix, delimiter) == marker)


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
    """One page of at most `max_keys` entries (keys and common prefixes together).

    Batches start small and double while they yield plain keys; on a common prefix the scan
    seeks past it and the batch size starts over. Rows read stay within a small multiple of
    the entries returned, however many keys hide under each prefix.
    """
    page = Page()
    if max_keys <= 0:
        return page
    prefix_b = prefix.encode()
    end = successor(prefix_b) if prefix_b else None
    start, inclusive = _start(prefix_b, after)
    count = 0
    first_batch = _FIRST_BATCH if delimiter else max_keys + 1
    batch_size = first_batch
    while True:
        limit = min(batch_size, max_keys - count + 1)
        batch = await fetch(start, inclusive, end, limit)
        for record in batch:
            if count == max_keys:
                page.is_truncated = True
                return page
            common = common_prefix(record.key, prefix, delimiter)
            count += 1
            if common is not None:
                page.common_prefixes.append(common)
                page.last = Cursor(common.encode(), True)
                break
            page.objects.append(record)
            page.last = Cursor(record.key.encode(), False)
        else:
            if len(batch) < limit:
                return page
            batch_size *= 2
            start, inclusive = _start(prefix_b, page.last)
            continue
        batch_size = first_batch
        assert page.last is not None
        start, inclusive = _start(prefix_b, page.last)


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The CommonPrefixes entry `key` rolls up into, or None if it is listed as itself."""
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    if index < 0:
        return None
    return key[: index + len(delimiter)]
