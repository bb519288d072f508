"""Receiving a body (storage/writes.py) into a real LocalBlobStore."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.errors import BadDigest, EntityTooLarge, IncompleteBody, InvalidDigest, InvalidRequest
from bayou.storage import checksums
from bayou.storage.models import Integrity
from bayou.storage.writes import (
    DEFAULT_CHECKSUM,
    ReceivedBody,
    receive_body,
    stored_checksum,
    verify_small_body,
)

LIMIT = 1024


async def chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        yield b""  # empty chunks are legal and must be ignored


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def digest(algorithm: str, data: bytes) -> str:
    d = checksums.new_digest(algorithm)
    d.update(data)
    return checksums.encode(d.digest())


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", fsync=False)


def receive(
    blobs: LocalBlobStore,
    data: bytes,
    integrity: Integrity | None = None,
    *,
    content_length: int | None = -1,
    max_size: int = 5 * 1024**3,
    body: AsyncIterator[bytes] | None = None,
) -> ReceivedBody:
    length = len(data) if content_length == -1 else content_length
    return asyncio.run(
        receive_body(
            body if body is not None else chunks(data),
            blobs,
            integrity or Integrity(),
            inline_limit=LIMIT,
            content_length=length,
            max_size=max_size,
        )
    )


def leftovers(blobs: LocalBlobStore) -> tuple[list[str], list[str]]:
    return sorted(blobs.blob_ids()), sorted(p.name for p in blobs.tmp_dir.iterdir())


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
@pytest.mark.parametrize("declared", [True, False])
def test_small_body_stays_inline(blobs: LocalBlobStore, size: int, declared: bool) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    got = receive(blobs, data, content_length=-1 if declared else None)
    assert got.inline_data == data
    assert got.blob is None
    assert got.size == size
    assert got.md5_hex == hashlib.md5(data).hexdigest()
    assert got.checksums == {DEFAULT_CHECKSUM: digest(DEFAULT_CHECKSUM, data)}
    assert leftovers(blobs) == ([], [])


@pytest.mark.parametrize("declared", [True, False])
def test_body_over_the_limit_goes_to_a_blob(blobs: LocalBlobStore, declared: bool) -> None:
    data = bytes(range(251)) * 20  # 5020 bytes, not a multiple of the chunk size
    got = receive(blobs, data, content_length=-1 if declared else None)
    assert got.inline_data is None
    assert got.blob is not None
    assert got.size == len(data)
    assert got.md5_hex == hashlib.md5(data).hexdigest()
    assert leftovers(blobs) == ([], [got.blob.blob_id])  # not visible before commit
    asyncio.run(got.commit_blob())
    assert leftovers(blobs) == ([got.blob.blob_id], [])
    reader = blobs.open(got.blob.blob_id)
    try:
        assert reader.size == len(data)
        assert reader.read_at(0, len(data) + 10) == data
    finally:
        reader.close()


def test_discard_removes_the_uncommitted_blob(blobs: LocalBlobStore) -> None:
    got = receive(blobs, b"x" * (LIMIT + 1))
    got.discard()
    assert leftovers(blobs) == ([], [])


def test_declared_checksums_are_verified_and_returned(blobs: LocalBlobStore) -> None:
    data = b"y" * 3000
    integrity = Integrity(
        content_md5=b64(hashlib.md5(data).digest()),
        algorithms={"CRC32"},
        checksums={"CRC32": digest("CRC32", data), "SHA256": digest("SHA256", data)},
    )
    got = receive(blobs, data, integrity)
    assert got.checksums == {"CRC32": digest("CRC32", data), "SHA256": digest("SHA256", data)}
    got.discard()


def test_compute_only_algorithms(blobs: LocalBlobStore) -> None:
    got = receive(blobs, b"abc", Integrity(compute={"CRC32C"}))
    assert got.checksums == {"CRC32C": digest("CRC32C", b"abc")}


def test_trailer_checksum_added_while_streaming_is_verified(blobs: LocalBlobStore) -> None:
    """An aws-chunked trailer arrives after the last byte: the value is filled in during the stream."""
    data = b"z" * 2000
    integrity = Integrity(algorithms={"CRC32"})

    async def body() -> AsyncIterator[bytes]:
        yield data
        integrity.checksums["CRC32"] = digest("CRC32", data)

    got = receive(blobs, data, integrity, body=body())
    assert got.checksums["CRC32"] == digest("CRC32", data)
    got.discard()


@pytest.mark.parametrize("size", [10, 5000])
def test_wrong_content_md5_is_bad_digest_and_leaves_nothing(blobs: LocalBlobStore, size: int) -> None:
    data = b"q" * size
    with pytest.raises(BadDigest):
        receive(blobs, data, Integrity(content_md5=b64(hashlib.md5(b"other").digest())))
    assert leftovers(blobs) == ([], [])


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
@pytest.mark.parametrize("size", [10, 5000])
def test_wrong_checksum_is_bad_digest_and_leaves_nothing(blobs: LocalBlobStore, algorithm: str, size: int) -> None:
    data = b"q" * size
    integrity = Integrity(algorithms={algorithm}, checksums={algorithm: digest(algorithm, b"other")})
    with pytest.raises(BadDigest):
        receive(blobs, data, integrity)
    assert leftovers(blobs) == ([], [])


def test_malformed_content_md5_is_invalid_digest(blobs: LocalBlobStore) -> None:
    with pytest.raises(InvalidDigest):
        receive(blobs, b"q" * 5000, Integrity(content_md5="nope"))
    assert leftovers(blobs) == ([], [])


def test_declared_algorithm_without_value_is_invalid_request(blobs: LocalBlobStore) -> None:
    with pytest.raises(InvalidRequest):
        receive(blobs, b"q" * 5000, Integrity(algorithms={"CRC32"}))
    assert leftovers(blobs) == ([], [])


@pytest.mark.parametrize(("size", "declared"), [(10, 20), (5000, 6000), (5000, 100), (10, 5), (0, 1)])
def test_length_mismatch_is_incomplete_body_and_leaves_nothing(blobs: LocalBlobStore, size: int, declared: int) -> None:
    with pytest.raises(IncompleteBody):
        receive(blobs, b"w" * size, content_length=declared)
    assert leftovers(blobs) == ([], [])


def test_declared_length_over_max_size_is_rejected_before_reading(blobs: LocalBlobStore) -> None:
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield b"x"

    with pytest.raises(EntityTooLarge):
        receive(blobs, b"", content_length=101, max_size=100, body=body())
    assert read == []
    assert leftovers(blobs) == ([], [])


@pytest.mark.parametrize("size", [101, 5000])
def test_streamed_body_over_max_size_is_entity_too_large(blobs: LocalBlobStore, size: int) -> None:
    with pytest.raises(EntityTooLarge):
        receive(blobs, b"x" * size, content_length=None, max_size=100)
    assert leftovers(blobs) == ([], [])


def test_body_of_exactly_max_size_is_accepted(blobs: LocalBlobStore) -> None:
    got = receive(blobs, b"x" * 100, max_size=100)
    assert got.size == 100


def test_client_disconnect_mid_body_leaves_nothing(blobs: LocalBlobStore) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 5000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        receive(blobs, b"", content_length=10_000, body=body())
    assert leftovers(blobs) == ([], [])


def test_verify_small_body() -> None:
    data = b"<Delete/>"
    verify_small_body(Integrity(content_md5=b64(hashlib.md5(data).digest())), data)
    verify_small_body(Integrity(checksums={"CRC32": digest("CRC32", data)}), data)
    with pytest.raises(BadDigest):
        verify_small_body(Integrity(content_md5=b64(hashlib.md5(b"x").digest())), data)
    with pytest.raises(BadDigest):
        verify_small_body(Integrity(checksums={"SHA256": digest("SHA256", b"x")}), data)


def test_stored_checksum_prefers_the_clients_algorithm() -> None:
    computed = {"CRC32": "a", "SHA256": "b", DEFAULT_CHECKSUM: "c"}
    assert stored_checksum(Integrity(checksums={"SHA256": "b"}), computed) == ("SHA256", "b")
    assert stored_checksum(Integrity(algorithms={"CRC32"}), computed) == ("CRC32", "a")
    assert stored_checksum(Integrity(compute={"CRC32"}), computed) == ("CRC32", "a")
    assert stored_checksum(Integrity(), computed) == (DEFAULT_CHECKSUM, "c")
    assert DEFAULT_CHECKSUM == "CRC64NVME"
