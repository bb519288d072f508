"""Receiving an object body: stream it, hash it, keep it inline or in a blob, verify it.

The body is consumed once. Small bodies stay in memory (they will be stored inline in the
metadata row, so the commit is their only write); past the inline limit the bytes go straight
to a blob writer. Nothing is visible until the caller commits the returned record.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bayou.blobs.store import BlobStore, BlobWriter
from bayou.errors import BadDigest, EntityTooLarge, IncompleteBody, InvalidRequest
from bayou.storage import checksums
from bayou.storage.models import MAX_PUT_SIZE, Integrity

DEFAULT_CHECKSUM = "CRC64NVME"


@dataclass(slots=True)
class ReceivedBody:
    size: int
    md5_hex: str
    checksums: dict[str, str]  # algorithm -> base64, every algorithm computed
    inline_data: bytes | None
    blob: BlobWriter | None

    async def commit_blob(self) -> None:
        if self.blob is not None:
            await asyncio.to_thread(self.blob.commit)

    def discard(self) -> None:
        if self.blob is not None:
            self.blob.abort()


async def receive_body(
    body: AsyncIterator[bytes],
    blobs: BlobStore,
    integrity: Integrity,
    *,
    inline_limit: int,
    content_length: int | None,
    max_size: int = MAX_PUT_SIZE,
) -> ReceivedBody:
    """Consume `body`, verify what the client declared, and return the (uncommitted) result."""
    if content_length is not None and content_length > max_size:
        raise EntityTooLarge(MaxSizeAllowed=str(max_size), ProposedSize=str(content_length))
    algorithms = integrity.algorithms | set(integrity.checksums) | integrity.compute or {DEFAULT_CHECKSUM}
    digests = {name: checksums.new_digest(name) for name in algorithms}
    md5 = hashlib.md5()
    buffered: list[bytes] = []
    size = 0
    writer: BlobWriter | None = None
    if inline_limit < 0 or (content_length is not None and content_length > inline_limit):
        writer = blobs.writer()
    try:
        async for chunk in body:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_size:
                raise EntityTooLarge(MaxSizeAllowed=str(max_size))
            md5.update(chunk)
            for digest in digests.values():
                digest.update(chunk)
            if writer is None and size > inline_limit:
                writer = blobs.writer()
                for earlier in buffered:
                    writer.write(earlier)
                buffered.clear()
            if writer is not None:
                writer.write(chunk)
            else:
                buffered.append(chunk)
        if content_length is not None and size != content_length:
            raise IncompleteBody()
        computed = {name: checksums.encode(d.digest()) for name, d in digests.items()}
        _verify(integrity, md5.digest(), computed)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    inline = b"".join(buffered) if writer is None else None
    return ReceivedBody(size, md5.hexdigest(), computed, inline, writer)


def verify_small_body(integrity: Integrity, data: bytes) -> None:
    """Check a request document (e.g. DeleteObjects XML) against its Content-MD5 / x-amz-checksum-*."""
    computed = {}
    for name in set(integrity.algorithms) | set(integrity.checksums):
        digest = checksums.new_digest(name)
        digest.update(data)
        computed[name] = checksums.encode(digest.digest())
    _verify(integrity, hashlib.md5(data).digest(), computed)


def _verify(integrity: Integrity, md5: bytes, computed: dict[str, str]) -> None:
    if integrity.content_md5 is not None:
        if not hmac.compare_digest(checksums.decode_content_md5(integrity.content_md5), md5):
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
    for algorithm in integrity.algorithms:
        if algorithm not in integrity.checksums:
            raise InvalidRequest(f"x-amz-checksum-{algorithm.lower()} was declared but not sent.")
    for algorithm, expected in integrity.checksums.items():
        checksums.validate_checksum_value(algorithm, expected)
        if not hmac.compare_digest(expected, computed[algorithm]):
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")


def stored_checksum(integrity: Integrity, computed: dict[str, str]) -> tuple[str, str]:
    """The one checksum kept with the object: the client's choice, else S3's CRC64NVME default."""
    for algorithm in (*sorted(integrity.checksums), *sorted(integrity.algorithms), *sorted(integrity.compute)):
        return algorithm, computed[algorithm]
    return DEFAULT_CHECKSUM, computed[DEFAULT_CHECKSUM]
