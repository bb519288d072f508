"""Conditional request evaluation (RFC 9110 section 13 as S3 applies it), pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from bayou import errors
from bayou.errors import NoSuchKey, NotModified, PreconditionFailed
from bayou.meta.records import ObjectRecord


@dataclass(frozen=True, slots=True)
class Preconditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


def _etags(header: str) -> list[str]:
    return [part.strip().removeprefix("W/").strip('"') for part in header.split(",")]


def etag_matches(header: str, etag: str) -> bool:
    tags = _etags(header)
    return "*" in tags or etag in tags


def _http_time(value: str | None) -> float | None:
    """Seconds since the epoch, or None for a missing or unparseable date (which S3 ignores)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def check_read(pre: Preconditions, record: ObjectRecord) -> None:
    """GET/HEAD: 412 PreconditionFailed or 304 NotModified, in S3's order of precedence."""
    modified = int(record.last_modified)
    if pre.if_match is not None:
        if not etag_matches(pre.if_match, record.etag):
            raise PreconditionFailed(Condition="If-Match")
    else:
        since = _http_time(pre.if_unmodified_since)
        if since is not None and modified > since:
            raise PreconditionFailed(Condition="If-Unmodified-Since")
    if pre.if_none_match is not None:
        if etag_matches(pre.if_none_match, record.etag):
            raise NotModified(headers={"ETag": f'"{record.etag}"'})
    else:
        since = _http_time(pre.if_modified_since)
        if since is not None and modified <= since:
            raise NotModified(headers={"ETag": f'"{record.etag}"'})


def check_copy_source(pre: Preconditions, record: ObjectRecord) -> None:
    """x-amz-copy-source-if-*: like check_read, but every failure is a 412."""
    try:
        check_read(pre, record)
    except NotModified as exc:
        raise PreconditionFailed(Condition="x-amz-copy-source-If-None-Match / If-Modified-Since") from exc


def check_write(if_match: str | None, if_none_match: str | None, current: ObjectRecord | None) -> None:
    """Conditional PutObject: evaluated inside the commit's transaction, so it is atomic."""
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise errors.NotImplemented("If-None-Match on writes supports only '*'.")
        if current is not None:
            raise PreconditionFailed(Condition="If-None-Match")
    if if_match is not None:
        if current is None:
            raise NoSuchKey()
        if not etag_matches(if_match, current.etag):
            raise PreconditionFailed(Condition="If-Match")
