"""Streaming digests: MD5 for the ETag plus the S3 checksum algorithms, computed on the fly.

CRC32 comes from zlib; CRC32C and CRC64NVME from awscrt (the C implementation botocore itself
uses), so the default CRC32 trailer path and the others cost no Python loop per byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable
from typing import Protocol

from awscrt import checksums as _crt

from bayou.errors import InvalidArgument, InvalidDigest

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
_DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


class Digest(Protocol):
    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, fn: Callable[[bytes, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def new_digest(algorithm: str) -> Digest:
    """A fresh incremental digest for an S3 checksum algorithm name (upper case)."""
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(_crt.crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(_crt.crc64nvme, 8)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise InvalidArgument(f"Unsupported checksum algorithm: {algorithm}", ArgumentName="x-amz-checksum-algorithm")


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def validate_checksum_value(algorithm: str, value: str) -> None:
    """A declared checksum must be base64 of the algorithm's digest size, else InvalidDigest... as S3 says."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(
            f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.",
            ArgumentName=f"x-amz-checksum-{algorithm.lower()}",
        ) from exc
    if len(raw) != _DIGEST_SIZES[algorithm]:
        raise InvalidArgument(
            f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.",
            ArgumentName=f"x-amz-checksum-{algorithm.lower()}",
        )


def decode_content_md5(value: str) -> bytes:
    """The 16 raw bytes of a Content-MD5 header, or InvalidDigest."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigest() from exc
    if len(raw) != 16:
        raise InvalidDigest()
    return raw
