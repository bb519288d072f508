"""S3's rules for bucket names and object keys."""

from __future__ import annotations

import ipaddress
import re

from bayou.errors import InvalidBucketName, KeyTooLongError

MAX_KEY_BYTES = 1024
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket_name(name: str) -> None:
    """General-purpose bucket naming rules (AWS "Bucket naming rules")."""
    bad = (
        not _BUCKET_RE.fullmatch(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
        or _is_ip_address(name)
    )
    if bad:
        raise InvalidBucketName(BucketName=name)


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError(MaxSizeAllowed=str(MAX_KEY_BYTES), Size=str(len(key.encode("utf-8", "surrogatepass"))))
