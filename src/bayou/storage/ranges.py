"""HTTP Range parsing for GetObject: one range, as S3 supports it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bayou.errors import InvalidRange

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The satisfiable range, None to serve the whole object, or InvalidRange (416).

    Syntax S3 does not understand (several ranges, other units, garbage) is ignored and the whole
    object is served, as RFC 9110 allows; a well-formed range outside the object is a 416.
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(size: int) -> InvalidRange:
    return InvalidRange(headers={"Content-Range": f"bytes */{size}"}, ActualObjectSize=str(size))
