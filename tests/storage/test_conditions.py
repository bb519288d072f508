"""Conditional requests (storage/conditions.py), RFC 9110 section 13 as S3 applies it.

S3 (GetObject docs): If-Match true + If-Unmodified-Since false -> 200; If-None-Match false +
If-Modified-Since true -> 304. If-Match is evaluated first, then If-None-Match.
"""

from __future__ import annotations

from email.utils import formatdate

import pytest

from bayou import errors
from bayou.errors import NoSuchKey, NotModified, PreconditionFailed
from bayou.meta.records import ObjectRecord
from bayou.storage.conditions import Preconditions, check_copy_source, check_read, check_write, etag_matches

MODIFIED = 1_700_000_000.75  # sub-second: HTTP dates have whole seconds
ETAG = "9bb58f26192e4ba00f01e2e7b136bbd8"
RECORD = ObjectRecord("b", "k", 5, ETAG, MODIFIED, "blob", True)

BEFORE = formatdate(MODIFIED - 3600, usegmt=True)
SAME_SECOND = formatdate(int(MODIFIED), usegmt=True)
AFTER = formatdate(MODIFIED + 3600, usegmt=True)
Q = f'"{ETAG}"'
OTHER = '"0123456789abcdef0123456789abcdef"'


def outcome(pre: Preconditions, check=check_read) -> str:
    try:
        check(pre, RECORD)
    except PreconditionFailed:
        return "412"
    except NotModified as exc:
        assert exc.headers["ETag"] == Q
        return "304"
    return "200"


@pytest.mark.parametrize(
    ("pre", "expected"),
    [
        (Preconditions(), "200"),
        # If-Match
        (Preconditions(if_match=Q), "200"),
        (Preconditions(if_match=ETAG), "200"),
        (Preconditions(if_match="*"), "200"),
        (Preconditions(if_match=f"{OTHER}, {Q}"), "200"),
        (Preconditions(if_match=f"{OTHER},{Q}"), "200"),
        (Preconditions(if_match=OTHER), "412"),
        # If-Unmodified-Since
        (Preconditions(if_unmodified_since=AFTER), "200"),
        (Preconditions(if_unmodified_since=SAME_SECOND), "200"),
        (Preconditions(if_unmodified_since=BEFORE), "412"),
        (Preconditions(if_unmodified_since="not a date"), "200"),
        # If-Match true wins over If-Unmodified-Since false
        (Preconditions(if_match=Q, if_unmodified_since=BEFORE), "200"),
        (Preconditions(if_match=OTHER, if_unmodified_since=AFTER), "412"),
        # If-None-Match
        (Preconditions(if_none_match=Q), "304"),
        (Preconditions(if_none_match=f'W/{Q}'), "304"),  # weak comparison for If-None-Match
        (Preconditions(if_none_match="*"), "304"),
        (Preconditions(if_none_match=f"{OTHER}, {Q}"), "304"),
        (Preconditions(if_none_match=OTHER), "200"),
        # If-Modified-Since
        (Preconditions(if_modified_since=BEFORE), "200"),
        (Preconditions(if_modified_since=SAME_SECOND), "304"),
        (Preconditions(if_modified_since=AFTER), "304"),
        (Preconditions(if_modified_since="garbage"), "200"),
        # If-None-Match false + If-Modified-Since true -> 304
        (Preconditions(if_none_match=Q, if_modified_since=BEFORE), "304"),
        # If-None-Match true + If-Modified-Since false -> 200 (If-None-Match decides)
        (Preconditions(if_none_match=OTHER, if_modified_since=AFTER), "200"),
        # 412 conditions are evaluated before 304 ones
        (Preconditions(if_match=OTHER, if_none_match=Q), "412"),
        (Preconditions(if_unmodified_since=BEFORE, if_modified_since=AFTER), "412"),
        (Preconditions(if_match=Q, if_none_match=Q), "304"),
    ],
)
def test_check_read(pre: Preconditions, expected: str) -> None:
    assert outcome(pre) == expected


@pytest.mark.parametrize(
    ("pre", "expected"),
    [
        (Preconditions(), "200"),
        (Preconditions(if_match=Q), "200"),
        (Preconditions(if_match=OTHER), "412"),
        (Preconditions(if_none_match=Q), "412"),
        (Preconditions(if_modified_since=AFTER), "412"),
        (Preconditions(if_none_match=OTHER), "200"),
        (Preconditions(if_modified_since=BEFORE), "200"),
        (Preconditions(if_unmodified_since=BEFORE), "412"),
        (Preconditions(if_match=Q, if_unmodified_since=BEFORE), "200"),
    ],
)
def test_check_copy_source_never_answers_304(pre: Preconditions, expected: str) -> None:
    assert outcome(pre, check_copy_source) == expected


def test_etag_matches_forms() -> None:
    assert etag_matches(Q, ETAG)
    assert etag_matches(ETAG, ETAG)
    assert etag_matches(f" {Q} ", ETAG)
    assert etag_matches("*", ETAG)
    assert not etag_matches(OTHER, ETAG)
    assert not etag_matches(f'"{ETAG[:-1]}"', ETAG)
    assert not etag_matches("", ETAG)


def test_check_write_if_none_match_star() -> None:
    check_write(None, "*", None)
    check_write(None, " * ", None)
    with pytest.raises(PreconditionFailed):
        check_write(None, "*", RECORD)


@pytest.mark.parametrize("value", [Q, OTHER, "W/*", "abc"])
def test_check_write_if_none_match_other_values_not_implemented(value: str) -> None:
    with pytest.raises(errors.NotImplemented) as info:
        check_write(None, value, None)
    assert info.value.status == 501


def test_check_write_if_match() -> None:
    check_write(None, None, None)
    check_write(None, None, RECORD)
    check_write(Q, None, RECORD)
    check_write(ETAG, None, RECORD)
    with pytest.raises(NoSuchKey):
        check_write(Q, None, None)
    with pytest.raises(PreconditionFailed) as info:
        check_write(OTHER, None, RECORD)
    assert info.value.status == 412
