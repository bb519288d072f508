"""Streaming digests (storage/checksums.py) against published check values and botocore's own."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.httpchecksum import (
    Crc32Checksum,
    CrtCrc32cChecksum,
    CrtCrc64NvmeChecksum,
    Sha1Checksum,
    Sha256Checksum,
)

from bayou.errors import BayouError, InvalidArgument, InvalidDigest
from bayou.storage import checksums
from bayou.storage.checksums import (
    ALGORITHMS,
    decode_content_md5,
    encode,
    new_digest,
    validate_checksum_value,
)

BOTOCORE = {
    "CRC32": Crc32Checksum,
    "CRC32C": CrtCrc32cChecksum,
    "CRC64NVME": CrtCrc64NvmeChecksum,
    "SHA1": Sha1Checksum,
    "SHA256": Sha256Checksum,
}
SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}
DATA = [b"", b"a", b"123456789", bytes(range(256)) * 41, b"\x00" * 70_001]


def _oneshot(algorithm: str, data: bytes) -> str:
    digest = new_digest(algorithm)
    digest.update(data)
    return encode(digest.digest())


def _chunked(algorithm: str, data: bytes, size: int) -> str:
    digest = new_digest(algorithm)
    for i in range(0, len(data), size):
        digest.update(data[i : i + size])
    return encode(digest.digest())


def test_algorithm_list() -> None:
    assert set(ALGORITHMS) == set(BOTOCORE)


@pytest.mark.parametrize(
    ("algorithm", "check_hex"),
    [
        ("CRC32", "cbf43926"),
        ("CRC32C", "e3069283"),
        ("CRC64NVME", "ae8b14860a799888"),
        ("SHA1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        ("SHA256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
    ],
)
def test_published_check_values_of_123456789(algorithm: str, check_hex: str) -> None:
    assert _oneshot(algorithm, b"123456789") == base64.b64encode(bytes.fromhex(check_hex)).decode()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("data", DATA, ids=lambda d: f"{len(d)}B")
def test_incremental_equals_oneshot_equals_botocore(algorithm: str, data: bytes) -> None:
    theirs = BOTOCORE[algorithm]()
    theirs.update(data)
    expected = theirs.b64digest()
    assert _oneshot(algorithm, data) == expected
    for size in (1, 7, 4096, 65_536):
        if size > 1 or len(data) < 10_000:
            assert _chunked(algorithm, data, size) == expected
    assert len(base64.b64decode(expected)) == SIZES[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_updates_change_nothing(algorithm: str) -> None:
    digest = new_digest(algorithm)
    digest.update(b"ab")
    digest.update(b"")
    digest.update(b"c")
    assert encode(digest.digest()) == _oneshot(algorithm, b"abc")


@pytest.mark.parametrize("name", ["crc32", "MD5", "SHA512", "XXHASH64", ""])
def test_unknown_algorithm_is_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgument):
        new_digest(name)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_validate_checksum_value_accepts_a_real_value(algorithm: str) -> None:
    validate_checksum_value(algorithm, _oneshot(algorithm, b"hello"))


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("CRC32", "not base64!"),
        ("CRC32", "AAAA"),  # 3 bytes
        ("CRC32", "AAAAAAA="),  # 5 bytes
        ("CRC32", "AAAAAA"),  # missing padding
        ("CRC32", ""),
        ("CRC32C", base64.b64encode(b"\x00" * 8).decode()),
        ("CRC64NVME", base64.b64encode(b"\x00" * 4).decode()),
        ("SHA1", base64.b64encode(hashlib.sha256(b"").digest()).decode()),
        ("SHA256", base64.b64encode(hashlib.sha1(b"").digest()).decode()),
        ("SHA256", base64.b64encode(hashlib.sha256(b"").digest()).decode() + "\n!"),
    ],
)
def test_validate_checksum_value_rejects(algorithm: str, value: str) -> None:
    with pytest.raises(BayouError) as info:
        validate_checksum_value(algorithm, value)
    assert info.value.status == 400
    assert info.value.message == f"Value for x-amz-checksum-{algorithm.lower()} header is invalid."


def test_decode_content_md5() -> None:
    raw = hashlib.md5(b"hello").digest()
    assert decode_content_md5(base64.b64encode(raw).decode()) == raw


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not base64",
        hashlib.md5(b"hello").hexdigest(),  # hex instead of base64 is a classic client mistake
        base64.b64encode(b"\x00" * 15).decode(),
        base64.b64encode(b"\x00" * 17).decode(),
        base64.b64encode(b"\x00" * 16).decode().rstrip("="),
    ],
)
def test_decode_content_md5_rejects(value: str) -> None:
    with pytest.raises(InvalidDigest) as info:
        decode_content_md5(value)
    assert info.value.status == 400


def test_encode_is_standard_base64() -> None:
    assert checksums.encode(b"\xfb\xff") == "+/8="
