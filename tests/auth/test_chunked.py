"""aws-chunked decoding: AWS's streaming examples, botocore's own encoder, and hostile framing."""

from __future__ import annotations

import hashlib
import io
import random
import zlib
from base64 import b64encode

import pytest
from auth_helpers import SK
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from bayou.auth.chunked import MAX_LINE, AwsChunkedDecoder
from bayou.auth.sigv4 import EMPTY_SHA256, ChunkSigner, signing_key
from bayou.errors import BayouError, IncompleteBody, InvalidArgument, SignatureDoesNotMatch

KEY = signing_key(SK, "20130524", "us-east-1", "s3")
SCOPE = "20130524/us-east-1/s3/aws4_request"
AWS_SIGNER = ChunkSigner(KEY, "20130524T000000Z", SCOPE, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
AWS_TRAILER_SIGNER = ChunkSigner(
    KEY, "20130524T000000Z", SCOPE, "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
)
CRC32C = "x-amz-checksum-crc32c"
CRC32 = "x-amz-checksum-crc32"


def chunk(data: bytes, sig: str | None = None) -> bytes:
    ext = f";chunk-signature={sig}".encode() if sig is not None else b""
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


AWS_BODY = (
    chunk(b"a" * 65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648")
    + chunk(b"a" * 1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
    + chunk(b"", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
)
AWS_TRAILER_BODY = (
    chunk(b"a" * 65536, "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2")
    + chunk(b"a" * 1024, "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7")
    + b"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
)


def signed_body(signer: ChunkSigner, pieces: list[bytes], trailers: dict[str, str] | None = None) -> bytes:
    """Encode like an SDK does; our ChunkSigner is pinned to AWS's vectors in test_sigv4."""
    out, previous = [], signer.seed_signature
    for data in [*pieces, b""]:
        previous = signer.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        out.append(chunk(data, previous))
    if trailers is None:
        return b"".join(out)
    block = "".join(f"{k}:{v}\n" for k, v in sorted(trailers.items()))
    sig = signer.trailer_signature(previous, hashlib.sha256(block.encode()).hexdigest())
    out[-1] = out[-1][:-2] + block.replace("\n", "\r\n").encode() + f"x-amz-trailer-signature:{sig}\r\n\r\n".encode()
    return b"".join(out)


def decode(decoder: AwsChunkedDecoder, body: bytes, sizes: list[int] | None = None) -> tuple[bytes, dict[str, str]]:
    out, pos = [], 0
    for size in sizes or [len(body)]:
        out.append(decoder.feed(body[pos : pos + size]))
        pos += size
    out.append(decoder.feed(body[pos:]))
    return b"".join(out), decoder.finish()


def random_sizes(total: int, rng: random.Random) -> list[int]:
    sizes = []
    while total > 0:
        size = rng.choice([1, 2, 3, rng.randint(1, 100), rng.randint(1, 70000)])
        sizes.append(min(size, total))
        total -= sizes[-1]
    return sizes


# --- AWS examples ----------------------------------------------------------------------------------

def test_aws_signed_example() -> None:
    decoder = AwsChunkedDecoder(AWS_SIGNER, expect_trailer=False)
    assert decode(decoder, AWS_BODY) == (b"a" * 66560, {})
    assert decoder.decoded_length == 66560


def test_aws_signed_example_in_random_pieces() -> None:
    rng = random.Random(7)
    for _ in range(20):
        decoder = AwsChunkedDecoder(AWS_SIGNER, expect_trailer=False)
        assert decode(decoder, AWS_BODY, random_sizes(len(AWS_BODY), rng))[0] == b"a" * 66560


def test_aws_signed_trailer_example() -> None:
    decoder = AwsChunkedDecoder(AWS_TRAILER_SIGNER, expect_trailer=True, declared_trailers=[CRC32C])
    assert decode(decoder, AWS_TRAILER_BODY) == (b"a" * 66560, {CRC32C: "sOO8/Q=="})


def test_aws_signed_trailer_example_byte_by_byte_tail() -> None:
    decoder = AwsChunkedDecoder(AWS_TRAILER_SIGNER, expect_trailer=True, declared_trailers=[CRC32C])
    head = len(AWS_TRAILER_BODY) - 300
    payload, trailers = decode(decoder, AWS_TRAILER_BODY, [head] + [1] * 300)
    assert payload == b"a" * 66560 and trailers == {CRC32C: "sOO8/Q=="}


def test_our_encoder_matches_aws_example() -> None:
    assert signed_body(AWS_SIGNER, [b"a" * 65536, b"a" * 1024]) == AWS_BODY
    assert signed_body(AWS_TRAILER_SIGNER, [b"a" * 65536, b"a" * 1024], {CRC32C: "sOO8/Q=="}) == AWS_TRAILER_BODY


# --- botocore's unsigned-trailer encoder (what boto3 >= 1.36 sends) ------------------------------

def botocore_body(data: bytes, chunk_size: int | None = None) -> bytes:
    wrapper = AwsChunkedWrapper(io.BytesIO(data), Crc32Checksum, CRC32, chunk_size)
    return bytes(wrapper.read())


# Tiny chunks of a big body would only slow the suite down: those pairs are not generated.
_SIZES_AND_CHUNKS = [
    (size, chunk)
    for size in (0, 1, 10, 65536, 1024 * 1024 + 17)
    for chunk in (None, 1, 7, 8192)
    if chunk is None or chunk * 1000 >= size
]


@pytest.mark.parametrize(("size", "chunk_size"), _SIZES_AND_CHUNKS)
def test_botocore_unsigned_trailer(size: int, chunk_size: int | None) -> None:
    data = random.Random(size).randbytes(size)
    body = botocore_body(data, chunk_size)
    decoder = AwsChunkedDecoder(None, expect_trailer=True, declared_trailers=[CRC32])
    payload, trailers = decode(decoder, body, random_sizes(len(body), random.Random(1)))
    assert payload == data and decoder.decoded_length == size
    assert trailers == {CRC32: b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()}


def test_botocore_empty_body_shape() -> None:
    assert botocore_body(b"") == b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"


def test_pure_payload_feed_is_not_copied() -> None:
    decoder = AwsChunkedDecoder(None, expect_trailer=True, declared_trailers=[CRC32])
    decoder.feed(b"100000\r\n")
    piece = bytes(range(256)) * 16
    assert decoder.feed(piece) is piece


# --- truncation ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("signer", "expect_trailer", "body", "lenient_tail"),
    [
        (AWS_SIGNER, False, signed_body(AWS_SIGNER, [b"hello", b"world"]), 2),
        (
            AWS_TRAILER_SIGNER,
            True,
            signed_body(AWS_TRAILER_SIGNER, [b"hello", b"world"], {CRC32C: "AAAAAA=="}),
            4,
        ),
        (None, True, botocore_body(b"hello world", 4), 4),
    ],
    ids=["signed", "signed-trailer", "unsigned-trailer"],
)
def test_every_truncation_fails(
    signer: ChunkSigner | None, expect_trailer: bool, body: bytes, lenient_tail: int
) -> None:
    """Cut anywhere: an error, except when only the final CRLFs are missing (accepted leniency).

    For the unsigned trailer a cut inside the checksum value is caught by the caller's checksum
    comparison, not here; every other cut must raise.
    """
    trailer_start = body.rfind(b"\r\nx-amz-checksum") + 2 if signer is None else len(body)
    for cut in range(len(body)):
        decoder = AwsChunkedDecoder(signer, expect_trailer, [CRC32, CRC32C])
        try:
            decoder.feed(body[:cut])
            decoder.finish()
        except BayouError:
            continue
        assert cut >= len(body) - lenient_tail or cut > trailer_start + len(CRC32) + 1, cut


def test_truncated_mid_chunk_is_incomplete_body() -> None:
    decoder = AwsChunkedDecoder(AWS_SIGNER, expect_trailer=False)
    decoder.feed(AWS_BODY[:1000])
    with pytest.raises(IncompleteBody):
        decoder.finish()


def test_missing_trailer_is_incomplete_body() -> None:
    decoder = AwsChunkedDecoder(None, expect_trailer=True, declared_trailers=[CRC32])
    decoder.feed(b"3\r\nabc\r\n0\r\n\r\n")
    with pytest.raises(IncompleteBody, match=CRC32):
        decoder.finish()


def test_missing_trailer_signature_is_incomplete_body() -> None:
    body = signed_body(AWS_TRAILER_SIGNER, [b"abc"], {CRC32C: "AAAAAA=="})
    unsigned = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    decoder = AwsChunkedDecoder(AWS_TRAILER_SIGNER, True, [CRC32C])
    with pytest.raises(IncompleteBody, match="x-amz-trailer-signature"):
        decoder.feed(unsigned)
    decoder = AwsChunkedDecoder(AWS_TRAILER_SIGNER, True, [CRC32C])
    decoder.feed(unsigned[:-2])
    with pytest.raises(IncompleteBody, match="x-amz-trailer-signature"):
        decoder.finish()


# --- signatures --------------------------------------------------------------------------------------

def test_tampered_chunk_data() -> None:
    body = bytearray(AWS_BODY)
    body[70000 - 65536] ^= 1
    with pytest.raises(SignatureDoesNotMatch, match="chunk signature"):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(bytes(body))


def test_wrong_seed() -> None:
    signer = ChunkSigner(KEY, "20130524T000000Z", SCOPE, "0" * 64)
    with pytest.raises(SignatureDoesNotMatch):
        AwsChunkedDecoder(signer, False).feed(AWS_BODY)


def test_reordered_chunks() -> None:
    a = signed_body(AWS_SIGNER, [b"first", b"second"])
    first_end = a.index(b"\r\n", a.index(b"first")) + 2
    second_end = a.index(b"\r\n", a.index(b"second")) + 2
    swapped = a[first_end:second_end] + a[:first_end] + a[second_end:]
    with pytest.raises(SignatureDoesNotMatch):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(swapped)


def test_dropped_chunk() -> None:
    a = signed_body(AWS_SIGNER, [b"first", b"second"])
    first_end = a.index(b"\r\n", a.index(b"first")) + 2
    with pytest.raises(SignatureDoesNotMatch):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(a[first_end:])


def test_missing_chunk_signature() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="no chunk-signature"):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(b"3\r\nabc\r\n")


def test_final_chunk_signature_checked() -> None:
    body = AWS_BODY.replace(b"b6c6ea8a", b"b6c6ea8b")
    with pytest.raises(SignatureDoesNotMatch):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(body)


def test_bad_trailer_signature() -> None:
    body = AWS_TRAILER_BODY.replace(b"d81f82fc", b"d81f82fd")
    with pytest.raises(SignatureDoesNotMatch, match="trailer signature"):
        AwsChunkedDecoder(AWS_TRAILER_SIGNER, True, [CRC32C]).feed(body)


def test_tampered_trailer_value() -> None:
    body = AWS_TRAILER_BODY.replace(b"sOO8/Q==", b"AAAAAA==")
    with pytest.raises(SignatureDoesNotMatch):
        AwsChunkedDecoder(AWS_TRAILER_SIGNER, True, [CRC32C]).feed(body)


def test_unsigned_stream_ignores_signatures() -> None:
    body = chunk(b"abc", "0" * 64) + b"0\r\nx-amz-checksum-crc32:NSRBwg==\r\nx-amz-trailer-signature:00\r\n\r\n"
    decoder = AwsChunkedDecoder(None, True, [CRC32])
    assert decode(decoder, body) == (b"abc", {CRC32: "NSRBwg=="})


# --- framing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"zz\r\n", "hexadecimal"),
        (b"0x3\r\nabc\r\n", "hexadecimal"),
        (b"+3\r\nabc\r\n", "hexadecimal"),
        (b" 3\r\nabc\r\n", "hexadecimal"),
        (b"\r\n", "hexadecimal"),
        (b"1" * 17 + b"\r\n", "hexadecimal"),
        (b"3\nabc\r\n", "CRLF"),
        (b"3\r\nabcX\n", "CRLF"),
        (b"3\r\nabc\rX", "CRLF"),
        (b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:A\r\n\r\nX", "after its final chunk"),
        (b"3\r\nabc\r\n0\r\nx-amz-meta-a:1\r\n\r\n", "not declared"),
        (b"0\r\nx-amz-checksum-crc32:A\r\nx-amz-checksum-crc32:A\r\n\r\n", "twice"),
        (b"0\r\nno-colon-here\r\n\r\n", "name:value"),
        (b"0\r\n:value\r\n\r\n", "name:value"),
        (b"0\r\nx-amz-trailer-signature:00\r\nx-amz-checksum-crc32:A\r\n\r\n", "after x-amz-trailer-signature"),
    ],
)
def test_bad_framing(body: bytes, match: str) -> None:
    decoder = AwsChunkedDecoder(None, True, [CRC32])
    with pytest.raises(InvalidArgument, match=match):
        decoder.feed(body)
        decoder.finish()


def test_trailer_in_non_trailer_mode() -> None:
    with pytest.raises(InvalidArgument, match="not declared"):
        AwsChunkedDecoder(AWS_SIGNER, False).feed(AWS_BODY[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n")


def test_too_many_trailer_lines() -> None:
    names = [f"x-amz-t{i}" for i in range(20)]
    body = b"0\r\n" + b"".join(f"{n}:v\r\n".encode() for n in names) + b"\r\n"
    with pytest.raises(InvalidArgument, match="too many"):
        AwsChunkedDecoder(None, True, names).feed(body)


@pytest.mark.parametrize("pieces", [[b"a" * (MAX_LINE + 10)], [b"a" * 1000] * 5, [b"3;" + b"x" * MAX_LINE + b"\r\n"]])
def test_header_line_is_bounded(pieces: list[bytes]) -> None:
    decoder = AwsChunkedDecoder(None, True, [CRC32])
    with pytest.raises(InvalidArgument, match="longer than"):
        for piece in pieces:
            decoder.feed(piece)


def test_long_chunk_extension_within_bound_is_fine() -> None:
    body = b"3;" + b"x" * 3000 + b"\r\nabc\r\n0\r\n\r\n"
    assert decode(AwsChunkedDecoder(None, False), body) == (b"abc", {})


# --- leniency -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "tail",
    [
        b"0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
        b"0\r\nx-amz-checksum-crc32:NSRBwg==\r\n",
        b"0\r\nx-amz-checksum-crc32:NSRBwg==",
        b"0\r\nx-amz-checksum-crc32:NSRBwg==\r",
        b"0\r\n\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
        b"0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n\r\n\r\n",
        b"0\r\nX-Amz-Checksum-CRC32 : NSRBwg== \r\n\r\n",
    ],
)
def test_lenient_endings(tail: bytes) -> None:
    decoder = AwsChunkedDecoder(None, True, ["X-Amz-Checksum-Crc32"])
    assert decode(decoder, b"3\r\nabc\r\n" + tail) == (b"abc", {CRC32: "NSRBwg=="})


@pytest.mark.parametrize("tail", [b"", b"\r", b"\r\n", b"\r\n\r\n"])
def test_signed_without_final_crlf(tail: bytes) -> None:
    assert decode(AwsChunkedDecoder(AWS_SIGNER, False), AWS_BODY[:-2] + tail)[0] == b"a" * 66560


def test_empty_payload_signed() -> None:
    body = signed_body(AWS_SIGNER, [])
    assert body.startswith(b"0;chunk-signature=")
    assert decode(AwsChunkedDecoder(AWS_SIGNER, False), body) == (b"", {})
    assert AWS_SIGNER.chunk_signature(AWS_SIGNER.seed_signature, EMPTY_SHA256) in body.decode()
