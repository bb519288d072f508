"""RequestHead.from_raw: the wire bytes the signature covers, kept exactly."""

from __future__ import annotations

from bayou.auth.request import RequestHead


def test_from_raw_lowercases_and_joins_repeats() -> None:
    head = RequestHead.from_raw(
        "get",
        b"/b/a%20b",
        b"x=1&y",
        [(b"Host", b"h:9000"), (b"X-Amz-Meta-A", b" one "), (b"x-amz-meta-a", b"two"), (b"Range", b"bytes=0-1")],
    )
    assert head == RequestHead(
        "GET", "/b/a%20b", "x=1&y", {"host": "h:9000", "x-amz-meta-a": "one,two", "range": "bytes=0-1"}
    )


def test_from_raw_keeps_undecodable_bytes() -> None:
    head = RequestHead.from_raw("PUT", b"/b/\xff\xc3\xa9", b"", [(b"x-amz-meta-a", b"\xfc")])
    assert head.raw_path.encode("utf-8", "surrogateescape") == b"/b/\xff\xc3\xa9"
    assert head.headers["x-amz-meta-a"].encode("utf-8", "surrogateescape") == b"\xfc"


def test_from_raw_accepts_text() -> None:
    assert RequestHead.from_raw("GET", "/", "", []).raw_path == "/"
