"""The request body as the client meant it: length-checked, de-chunked and verified.

Whatever the payload mode (signed SHA-256, UNSIGNED-PAYLOAD, aws-chunked with signed chunks or
with a trailing checksum), the consumer sees the decoded bytes only. Every check that can fail
only at the end (the SHA-256 of the body, the last chunk signature, the trailer) raises from the
iterator before it finishes, and the storage core commits only after a finished iterator: a bad
body is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

from bayou.api.http import Request
from bayou.auth.authenticate import PayloadMode
from bayou.auth.chunked import AwsChunkedDecoder
from bayou.errors import IncompleteBody, InvalidArgument, MalformedXML, XAmzContentSHA256Mismatch
from bayou.storage.models import Integrity
from bayou.storage.writes import verify_small_body

STREAMING_KINDS = frozenset({"streaming-signed", "streaming-unsigned-trailer", "streaming-signed-trailer"})
TRAILER_KINDS = frozenset({"streaming-unsigned-trailer", "streaming-signed-trailer"})
CHECKSUM_PREFIX = "x-amz-checksum-"


def declared_length(request: Request, payload: PayloadMode) -> int | None:
    """The decoded body length the client announced, if any."""
    name = "x-amz-decoded-content-length" if payload.kind in STREAMING_KINDS else "content-length"
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise InvalidArgument(f"Invalid {name}", ArgumentName=name) from None
    if length < 0:
        raise InvalidArgument(f"Invalid {name}", ArgumentName=name)
    return length


def trailer_names(request: Request) -> list[str]:
    raw = request.headers.get("x-amz-trailer", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


async def decoded_body(request: Request, payload: PayloadMode, integrity: Integrity) -> AsyncIterator[bytes]:
    """Yield the payload bytes; trailing checksums are added to `integrity.checksums` at the end."""
    source = _length_checked(request)
    if payload.kind in STREAMING_KINDS:
        source = _dechunked(source, request, payload, integrity)
    elif payload.kind == "sha256" and payload.sha256_hex is not None:
        source = _sha256_checked(source, payload.sha256_hex)
    async for chunk in source:
        yield chunk


async def _length_checked(request: Request) -> AsyncIterator[bytes]:
    expected = request.headers.get("content-length")
    received = 0
    async for chunk in request.raw_chunks():
        received += len(chunk)
        yield chunk
    if expected is not None and expected.isdigit() and received < int(expected):
        raise IncompleteBody()


async def _sha256_checked(source: AsyncIterator[bytes], expected_hex: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    async for chunk in source:
        digest.update(chunk)
        yield chunk
    if not hmac.compare_digest(digest.hexdigest(), expected_hex.lower()):
        raise XAmzContentSHA256Mismatch(ClientComputedContentSHA256=expected_hex, S3ComputedContentSHA256=digest.hexdigest())


async def _dechunked(
    source: AsyncIterator[bytes], request: Request, payload: PayloadMode, integrity: Integrity
) -> AsyncIterator[bytes]:
    names = trailer_names(request)
    decoder = AwsChunkedDecoder(payload.chunk_signer, payload.kind in TRAILER_KINDS, names)
    async for chunk in source:
        out = decoder.feed(chunk)
        if out:
            yield out
    trailers = decoder.finish()
    for name, value in trailers.items():
        if name.startswith(CHECKSUM_PREFIX):
            integrity.checksums[name[len(CHECKSUM_PREFIX):].upper()] = value
    expected = request.headers.get("x-amz-decoded-content-length")
    if expected is not None and expected.isdigit() and decoder.decoded_length != int(expected):
        raise IncompleteBody()


async def read_document(request: Request, payload: PayloadMode, integrity: Integrity, limit: int) -> bytes:
    """A small request document (XML), verified like any body plus its Content-MD5 / checksum."""
    body = bytearray()
    async for chunk in decoded_body(request, payload, integrity):
        body += chunk
        if len(body) > limit:
            raise MalformedXML("The XML you provided was larger than the maximum allowed size.")
    data = bytes(body)
    verify_small_body(integrity, data)
    return data
