"""S3's tag rules, pure: at most 10 tags per object (50 per bucket), keys up to 128 and values up
to 256 characters, no duplicate keys, no `aws:` prefix."""

from __future__ import annotations

from urllib.parse import parse_qsl

from bayou.errors import InvalidArgument, InvalidTag

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256


def validate(pairs: list[tuple[str, str]], *, limit: int = MAX_OBJECT_TAGS) -> dict[str, str]:
    if len(pairs) > limit:
        raise InvalidTag(f"Object tags cannot be greater than {limit}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > MAX_KEY:
            raise InvalidTag("The TagKey you have provided is invalid", TagKey=key)
        if len(value) > MAX_VALUE:
            raise InvalidTag("The TagValue you have provided is too long", TagKey=key)
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:", TagKey=key)
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key", TagKey=key)
        tags[key] = value
    return tags


def parse_header(value: str) -> dict[str, str]:
    """x-amz-tagging: a URL-encoded query string (`k1=v1&k2=v2`)."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value))
    except ValueError as exc:
        raise InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.", ArgumentName="x-amz-tagging") from exc
    return validate(pairs)
