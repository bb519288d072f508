"""Incremental decoder for ``Content-Encoding: aws-chunked`` request bodies.

Wire format (``[]`` optional)::

    hex-size[;chunk-signature=SIG]\\r\\n  DATA  \\r\\n   ... repeated ...
    0[;chunk-signature=SIG]\\r\\n
    [name:value\\r\\n ...]  [x-amz-trailer-signature:SIG\\r\\n]
    \\r\\n

boto3 >= 1.36 sends every PutObject this way (``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` with a CRC
trailer), so the data path does a handful of Python operations per *chunk*, never per byte:
``bytes.find`` for line ends, ``memoryview`` slices for the payload, incremental SHA-256 only when
chunks are signed. Memory is bounded: payload bytes are passed through, only header and trailer
lines are buffered, and those are capped (``MAX_LINE`` bytes, ``MAX_TRAILER_LINES`` lines).

Error choices (AWS documents none for framing; these match what clients can act on):

* input ends early (no final 0-size chunk, missing declared trailers) -> ``IncompleteBody``;
* malformed framing (bad hex size, missing CRLF after data, line too long, undeclared or
  duplicate trailer, bytes after the end) -> ``InvalidArgument`` with a precise message;
* a missing or wrong chunk or trailer signature -> ``SignatureDoesNotMatch``.

Leniency, where clients differ and AWS accepts: the final CRLF after the last chunk or trailer
may be missing, a blank line may precede the trailers, and extra CRLFs after the end are ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from enum import Enum, auto

from bayou.auth.sigv4 import EMPTY_SHA256, ChunkSigner, signatures_equal
from bayou.errors import IncompleteBody, InvalidArgument, SignatureDoesNotMatch

MAX_LINE = 4096
MAX_TRAILER_LINES = 16
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


class _State(Enum):
    HEADER = auto()  # reading a chunk header line
    DATA = auto()  # passing chunk payload through
    DATA_END = auto()  # expecting the CRLF after a chunk's payload
    TRAILER = auto()  # after the 0-size chunk: trailer lines until a blank line
    DONE = auto()


class AwsChunkedDecoder:
    """Feed raw body bytes in, get payload bytes out; call :meth:`finish` at end of input.

    Contract: :meth:`feed` returns payload bytes *before* the signature of the chunk they belong
    to has been checked (a chunk's signature can only be checked once all of it has arrived, and
    buffering a whole chunk would break the memory bound). The caller may write them to a fresh
    blob but must make nothing visible until :meth:`finish` has returned; any exception from
    :meth:`feed` or :meth:`finish` means the body is rejected. The caller also compares
    ``decoded_length`` with ``x-amz-decoded-content-length`` and the returned trailer checksum
    with the one it computed.

    ``signer`` is given for the two signed streaming modes and ``None`` for the unsigned trailer
    mode; ``expect_trailer`` for the two ``...-TRAILER`` modes; ``declared_trailers`` are the
    names from the ``X-Amz-Trailer`` header, the only trailers accepted.
    """

    def __init__(
        self,
        signer: ChunkSigner | None,
        expect_trailer: bool,
        declared_trailers: Sequence[str] = (),
    ) -> None:
        self._signer = signer
        self._expect_trailer = expect_trailer
        self._declared = frozenset(n.strip().lower() for n in declared_trailers if n.strip())
        self._state = _State.HEADER
        self._line = bytearray()
        self._remaining = 0
        self._hasher: hashlib._Hash | None = None
        self._chunk_signature = ""
        self._previous = signer.seed_signature if signer else ""
        self._trailers: dict[str, str] = {}
        self._trailer_lines = 0
        self._trailer_signed = False
        self.decoded_length = 0

    # --- input -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Consume the next piece of the raw body; return the payload bytes it completed."""
        out: list[memoryview] = []
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._hasher is not None:
                    self._hasher.update(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                self.decoded_length += take
                if not self._remaining:
                    self._end_of_data()
            elif state is _State.DATA_END:
                pos = self._eat_data_crlf(data, pos)
            elif state is _State.DONE:
                if data[pos:].strip(b"\r\n"):
                    raise InvalidArgument("aws-chunked body has data after its final chunk")
                pos = end
            else:
                pos = self._read_line(data, pos)
        if len(out) == 1 and len(out[0]) == end and isinstance(data, bytes):
            return data
        return b"".join(out)

    def finish(self) -> dict[str, str]:
        """Check that the body ended properly; return the trailers (lower-case name -> value).

        ``x-amz-trailer-signature`` is verified and left out of the result.
        """
        if self._state is _State.TRAILER:
            if self._line:  # the last line's CRLF is missing: accepted, as AWS does
                line = bytes(self._line).rstrip(b"\r")
                self._line.clear()
                self._trailer_line(line)
            if self._state is _State.TRAILER:
                self._end_of_trailers()
        elif self._state is not _State.DONE:
            raise IncompleteBody("The request body terminated unexpectedly")
        return dict(self._trailers)

    # --- framing ---------------------------------------------------------------------------

    def _read_line(self, data: bytes, pos: int) -> int:
        room = MAX_LINE - len(self._line)
        nl = data.find(b"\n", pos, pos + room)
        if nl < 0:
            if len(data) - pos >= room:
                raise InvalidArgument(f"aws-chunked line longer than {MAX_LINE} bytes")
            self._line += data[pos:]
            return len(data)
        self._line += data[pos:nl]
        line = bytes(self._line)
        self._line.clear()
        if not line.endswith(b"\r"):
            raise InvalidArgument("aws-chunked line not terminated by CRLF")
        if self._state is _State.HEADER:
            self._chunk_header(line[:-1])
        else:
            self._trailer_line(line[:-1])
        return nl + 1

    def _eat_data_crlf(self, data: bytes, pos: int) -> int:
        while self._remaining and pos < len(data):
            expected = 13 if self._remaining == 2 else 10
            if data[pos] != expected:
                raise InvalidArgument("aws-chunked chunk data not followed by CRLF")
            pos += 1
            self._remaining -= 1
        if not self._remaining:
            self._state = _State.HEADER
        return pos

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extensions = line.partition(b";")
        if not _HEX_SIZE.fullmatch(size_text):
            raise InvalidArgument("aws-chunked chunk size is not a hexadecimal number")
        size = int(size_text, 16)
        if self._signer is not None:
            self._chunk_signature = _chunk_signature(extensions)
            self._hasher = hashlib.sha256()
        if size:
            self._state = _State.DATA
            self._remaining = size
            return
        if self._signer is not None:
            self._verify_chunk(EMPTY_SHA256)
        self._state = _State.TRAILER

    def _end_of_data(self) -> None:
        if self._hasher is not None:
            self._verify_chunk(self._hasher.hexdigest())
            self._hasher = None
        self._state = _State.DATA_END
        self._remaining = 2

    def _verify_chunk(self, data_sha256: str) -> None:
        assert self._signer is not None
        expected = self._signer.chunk_signature(self._previous, data_sha256)
        if not signatures_equal(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided."
            )
        self._previous = expected

    # --- trailers --------------------------------------------------------------------------

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if self._trailers or self._trailer_signed or not self._expect_trailer:
                self._end_of_trailers()
            return  # a blank line before the trailers: tolerated
        self._trailer_lines += 1
        if self._trailer_lines > MAX_TRAILER_LINES:
            raise InvalidArgument("aws-chunked body has too many trailer lines")
        if self._trailer_signed:
            raise InvalidArgument(f"aws-chunked trailer after {TRAILER_SIGNATURE}")
        name, colon, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not name:
            raise InvalidArgument("aws-chunked trailer line is not 'name:value'")
        if name == TRAILER_SIGNATURE:
            self._trailer_signature(value)
        elif not self._expect_trailer or name not in self._declared:
            raise InvalidArgument(f"aws-chunked trailer {name!r} was not declared in X-Amz-Trailer")
        elif name in self._trailers:
            raise InvalidArgument(f"aws-chunked trailer {name!r} sent twice")
        else:
            self._trailers[name] = value

    def _trailer_signature(self, provided: str) -> None:
        """Check the trailer block's signature (only meaningful on a signed-trailer stream).

        Trailers are hashed as sorted ``name:value\\n`` lines, like canonical headers.
        """
        self._trailer_signed = True
        if self._signer is None or not self._expect_trailer:
            return  # nothing to check it against; it carries no meaning here
        block = "".join(f"{k}:{v}\n" for k, v in sorted(self._trailers.items()))
        digest = hashlib.sha256(block.encode("latin-1")).hexdigest()
        expected = self._signer.trailer_signature(self._previous, digest)
        if not signatures_equal(expected, provided):
            raise SignatureDoesNotMatch(
                "The trailer signature we calculated does not match the signature you provided."
            )

    def _end_of_trailers(self) -> None:
        if self._expect_trailer:
            missing = sorted(self._declared - self._trailers.keys())
            if missing:
                raise IncompleteBody(f"The request body terminated before trailer {', '.join(missing)}")
            if self._signer is not None and not self._trailer_signed:
                raise IncompleteBody(f"The request body terminated before {TRAILER_SIGNATURE}")
        self._state = _State.DONE


def _chunk_signature(extensions: bytes) -> str:
    for item in extensions.split(b";"):
        name, _, value = item.partition(b"=")
        if name.strip() == b"chunk-signature":
            return value.strip().decode("latin-1")
    raise SignatureDoesNotMatch("A signed aws-chunked chunk has no chunk-signature.")
