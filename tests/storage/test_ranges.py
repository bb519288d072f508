"""HTTP Range parsing for GetObject (storage/ranges.py)."""

from __future__ import annotations

import pytest

from bayou.errors import InvalidRange
from bayou.storage.ranges import ByteRange, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=0-0", 1, ByteRange(0, 0)),
        ("bytes=10-19", 100, ByteRange(10, 19)),
        ("bytes=99-99", 100, ByteRange(99, 99)),
        ("bytes=10-", 100, ByteRange(10, 99)),
        ("bytes=0-", 100, ByteRange(0, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-100", 100, ByteRange(0, 99)),
        ("bytes=-1000", 100, ByteRange(0, 99)),  # a suffix longer than the object is the whole object
        ("bytes=50-5000", 100, ByteRange(50, 99)),  # the end is clamped to the last byte
        ("bytes=0-99999999999999999999", 100, ByteRange(0, 99)),
        (" bytes=1-2 ", 100, ByteRange(1, 2)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=1000-", 100),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-1", 0),
        ("bytes=-0", 100),
    ],
)
def test_unsatisfiable_ranges_are_416_with_content_range(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, size)
    assert info.value.status == 416
    assert info.value.headers["Content-Range"] == f"bytes */{size}"
    assert info.value.fields["ActualObjectSize"] == str(size)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=5-2",  # last < first: syntactically invalid, ignored (RFC 9110 14.1.1)
        "bytes=0-1,3-4",  # several ranges: S3 serves the whole object
        "bytes=0-1, 5-6",
        "items=0-1",
        "bytes 0-1",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=0x1-2",
    ],
)
def test_ignored_ranges_serve_the_whole_object(header: str | None) -> None:
    assert parse_range(header, 100) is None


def test_byte_range_length_and_content_range() -> None:
    rng = parse_range("bytes=10-", 25)
    assert rng is not None
    assert rng.length == 15
    assert rng.content_range(25) == "bytes 10-24/25"
    assert ByteRange(0, 0).length == 1
