"""Pure Signature Version 4 math: canonicalisation, keys, signatures. No policy, no I/O.

Everything here is a function of its arguments, so it is tested against AWS's published vectors
and against botocore's signer. Decisions about *whether* a request is acceptable (dates, scopes,
which headers must be signed) live in ``authenticate.py``.

Strings that came off the wire are decoded as UTF-8 with ``surrogateescape`` (see
``RequestHead.from_raw``) and encoded back the same way here, so the bytes we hash are the bytes
the client signed, even when they are not valid UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINAL = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_SHA256_BLOCK = 64
_UNRESERVED = "-_.~"  # with A-Za-z0-9, which quote() never encodes
_ENC = "utf-8"
_ERRORS = "surrogateescape"


# --- keys and signatures -----------------------------------------------------------------------

@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key for one (secret, day, region, service).

    Four HMACs per request add up on the hot path, and a client signs every request of a day
    with the same key, so a small bounded cache pays for itself; keys rotate daily anyway.
    """
    k_date = _hmac(("AWS4" + secret).encode(_ENC), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, TERMINAL)


def signature(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign under the derived key (RFC 2104, spelled out).

    The derived key serves a client all day, so its two padded-key hash states are computed once
    and copied per request: half the cost of a one-shot ``hmac.digest``, which sets up OpenSSL's
    HMAC context every time. Tested against ``hmac`` and AWS's vectors.
    """
    inner, outer = _hmac_states(key)
    inner = inner.copy()
    inner.update(string_to_sign.encode(_ENC, _ERRORS))
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@lru_cache(maxsize=256)
def _hmac_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    block = key.ljust(_SHA256_BLOCK, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in block)), hashlib.sha256(bytes(b ^ 0x5C for b in block))


def signatures_equal(expected: str, provided: str) -> bool:
    """Constant-time comparison that never raises, whatever the client sent."""
    return hmac.compare_digest(expected.encode(_ENC, _ERRORS), provided.encode(_ENC, _ERRORS))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode(_ENC), "sha256")


# --- credential scope ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Credential:
    """``AKID/YYYYMMDD/region/service/aws4_request``, split."""

    access_key: str
    date: str
    region: str
    service: str
    terminal: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminal}"


@lru_cache(maxsize=256)
def parse_credential(value: str) -> Credential | None:
    """Split a credential string; ``None`` if it does not have five non-empty parts.

    Cached (the result is immutable): a client sends the same credential all day.

    Split from the right so that the scope is always the last four parts: an access key never
    contains ``/`` in practice, but a stray one must not shift the region into the service.
    """
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        return None
    return Credential(*parts)


@lru_cache(maxsize=256)
def parse_amz_date(value: str) -> float | None:
    """Seconds since the epoch for ``YYYYMMDDTHHMMSSZ``; ``None`` if it is anything else.

    Cached: concurrent requests share their second, and a presigned URL its whole lifetime.

    ``strptime`` alone accepts one-digit fields, so the shape is checked first.
    """
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    if not (value[:8].isdigit() and value[9:15].isdigit() and value.isascii()):
        return None
    try:  # the datetime constructor validates the fields; strptime would cost ~10x more per request
        parsed = datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=UTC,
        )
    except ValueError:
        return None
    return parsed.timestamp()


def format_amz_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(AMZ_DATE_FORMAT)


# --- canonicalisation ---------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """AWS's UriEncode: unreserved characters kept, everything else ``%XX`` upper-case.

    Cached: the same names and values (credentials, dates, keys) recur request after request.
    """
    return quote(value.encode(_ENC, _ERRORS), safe="/" + _UNRESERVED if keep_slash else _UNRESERVED)


def canonical_uri(raw_path: str, *, double_encode: bool = False) -> str:
    """The CanonicalURI line.

    S3 signs the path exactly as sent: no dot-segment removal, no re-encoding. Every other
    service (Lambda here) signs the path with dot segments and empty segments removed and then
    URI-encoded once more, so ``%3A`` in the wire path becomes ``%253A``; that is what botocore's
    ``SigV4Auth`` (as opposed to ``S3SigV4Auth``) does, and what AWS verifies.
    """
    if not double_encode:
        return raw_path or "/"
    return uri_encode(_remove_dot_segments(raw_path) if raw_path else "/", keep_slash=True)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, plus collapsing of empty segments (AWS requires it; so does botocore)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode a raw query string into (name, value) pairs, in order, repeats kept.

    A parameter without ``=`` has an empty value. ``+`` decodes to a space, as in form encoding
    (it is how AWS and Go/Java servers read query strings); SDKs always send ``%2B`` for a plus.
    Empty pieces (``a=1&&b=2``) are skipped.
    """
    pairs: list[tuple[str, str]] = []
    for piece in raw_query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            if "%" in piece or "+" in piece:  # most pieces need no decoding: skip two calls each
                name, value = _unquote(name), _unquote(value)
            pairs.append((name, value))
    return pairs


def _unquote(value: str) -> str:
    if "%" not in value and "+" not in value:
        return value
    return _decode_escaped(value)


@lru_cache(maxsize=4096)
def _decode_escaped(value: str) -> str:
    """Cached: credentials, dates and header lists recur on every request of a client."""
    return unquote_to_bytes(value.replace("+", " ")).decode(_ENC, _ERRORS)


def canonical_query(raw_query: str, exclude: Iterable[str] = ("X-Amz-Signature",)) -> str:
    """The CanonicalQueryString line for a raw query string.

    Each name and value is decoded and re-encoded with AWS's rules, so a client that escaped
    more (or fewer) characters than necessary on the wire still matches; pairs are sorted by
    encoded name, then encoded value. Names in ``exclude`` (compared decoded, case-sensitively)
    are left out: a presigned URL's own signature is not part of what it signs.
    """
    return canonical_query_from_pairs(parse_query(raw_query), exclude)


def canonical_query_from_pairs(pairs: Iterable[tuple[str, str]], exclude: Iterable[str] = ()) -> str:
    skip = exclude if isinstance(exclude, frozenset) else frozenset(exclude)
    return _canonical_query(tuple([pair for pair in pairs if pair[0] not in skip]))


@lru_cache(maxsize=1024)
def _canonical_query(pairs: tuple[tuple[str, str], ...]) -> str:
    """Cached: a presigned URL's parameters but its signature recur (every reuse of the URL, and
    every URL presigned in the same second), and a header-signed request's query is usually empty."""
    encoded = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_header_value(value: str) -> str:
    """Trim and collapse inner whitespace runs to one space, exactly as botocore does."""
    return " ".join(value.split())


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """The CanonicalHeaders block: one ``name:value\\n`` line per signed header, in list order.

    The list is the client's SignedHeaders, which it sorted when signing; we keep its order
    rather than re-sorting so that what we hash is what it hashed. ``headers`` has lower-case
    names. A signed header that is absent canonicalises to an empty value (and the signature then
    fails unless the client did the same).
    """
    return "".join(
        f"{name}:{canonical_header_value(headers.get(name.lower(), ''))}\n" for name in signed_headers
    )


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The CanonicalRequest; ``uri`` and ``query`` are already canonical (see above)."""
    return "\n".join(
        (
            method,
            uri,
            query,
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode(_ENC, _ERRORS)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# --- streaming (aws-chunked) signatures ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ChunkSigner:
    """What verifying a signed aws-chunked body needs, handed from authentication to the decoder.

    Each chunk's signature chains on the previous one, starting from ``seed_signature`` (the
    request's own signature), so chunks can be neither reordered, dropped nor replayed.
    """

    key: bytes = field(repr=False)
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256_hex: str) -> str:
        sts = (
            f"{ALGORITHM}-PAYLOAD\n{self.amz_date}\n{self.scope}\n{previous}\n"
            f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
        )
        return signature(self.key, sts)

    def trailer_signature(self, previous: str, trailers_sha256_hex: str) -> str:
        """Signature of the trailer block, chained on the final (empty) chunk's signature.

        ``trailers_sha256_hex`` is the SHA-256 of the trailers as ``name:value\\n`` lines (LF,
        not CRLF), which is what the AWS SDKs (aws-c-auth) hash.
        """
        sts = f"{ALGORITHM}-TRAILER\n{self.amz_date}\n{self.scope}\n{previous}\n{trailers_sha256_hex}"
        return signature(self.key, sts)
