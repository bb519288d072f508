"""The single authentication decision: who signed this request, and how its body is protected.

Two forms are accepted, both AWS4-HMAC-SHA256: the ``Authorization`` header and the presigned
query string. Everything else fails closed: no credentials (anonymous access is not supported
yet), SigV2, SigV4a (ECDSA), unknown schemes, or both forms at once. Browser POST uploads are
authenticated by ``post_policy.verify_post_signature`` instead.

Checking the signature proves the request line, the signed headers and the *declared* payload
hash; it cannot prove the body, which has not been read yet. :class:`PayloadMode` tells the
caller what it still has to check while streaming the body, and the request may only take effect
once that check has passed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Literal, NamedTuple

from bayou.auth.chunked import AwsChunkedDecoder
from bayou.auth.credentials import Keyring
from bayou.auth.request import RequestHead
from bayou.auth.sigv2 import verify_presigned_v2
from bayou.auth.sigv4 import (
    ALGORITHM,
    TERMINAL,
    ChunkSigner,
    Credential,
    canonical_query_from_pairs,
    canonical_request,
    canonical_uri,
    format_amz_date,
    parse_amz_date,
    parse_credential,
    parse_query,
    signature,
    signatures_equal,
    signing_key,
    string_to_sign,
)
from bayou.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BayouError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from bayou.errors import NotImplemented as S3NotImplemented  # aliased: ruff F901 "fixes" a bare raise

MAX_SKEW_SECONDS = 15 * 60
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
SERVICES = frozenset({"s3", "lambda", "scheduler", "s3-object-lambda"})

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
PayloadKind = Literal[
    "sha256", "unsigned", "streaming-signed", "streaming-unsigned-trailer", "streaming-signed-trailer"
]
_STREAMING_KINDS: dict[str, PayloadKind] = {
    STREAMING_SIGNED: "streaming-signed",
    STREAMING_UNSIGNED_TRAILER: "streaming-unsigned-trailer",
    STREAMING_SIGNED_TRAILER: "streaming-signed-trailer",
}
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_QUERY_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

_QUERY_PARAM_SET = frozenset(_QUERY_PARAMS)
_SIGNATURE_PARAM = frozenset({"X-Amz-Signature"})

UNSUPPORTED_MECHANISM = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
_HEADER_MALFORMED = "The authorization header is malformed;"
_QUERY_MALFORMED = "Error parsing the X-Amz-Credential parameter;"
_CREDENTIAL_SHAPE = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'


@dataclass(frozen=True, slots=True)
class PayloadMode:
    """What the body reader must still verify; the signature only covered the declared hash.

    ``kind`` is one of:

    * ``"sha256"``: the body's SHA-256 must equal ``sha256_hex`` (lower-case); the reader raises
      ``XAmzContentSHA256Mismatch`` otherwise. (For non-S3 requests without the header, the
      caller passed the body's hash to :func:`authenticate`, so this check then trivially holds.)
    * ``"unsigned"``: ``UNSIGNED-PAYLOAD``; nothing to verify (presigned URLs, HTTPS clients).
    * ``"streaming-signed"``, ``"streaming-signed-trailer"``: aws-chunked body whose chunks (and
      trailer) are signed; ``chunk_signer`` carries what :class:`AwsChunkedDecoder` needs.
    * ``"streaming-unsigned-trailer"``: aws-chunked body with a checksum trailer to verify.
    """

    kind: PayloadKind
    sha256_hex: str | None = None
    chunk_signer: ChunkSigner | None = None

    @property
    def is_streaming(self) -> bool:
        return self.kind.startswith("streaming-")

    @property
    def has_trailer(self) -> bool:
        return self.kind.endswith("-trailer")

    def chunked_decoder(self, declared_trailers: Sequence[str] = ()) -> AwsChunkedDecoder:
        """The decoder for this mode's aws-chunked body.

        ``declared_trailers``: the ``X-Amz-Trailer`` header split on ``","`` (names are trimmed).
        """
        if not self.is_streaming:
            raise ValueError(f"payload mode {self.kind!r} is not aws-chunked")
        return AwsChunkedDecoder(self.chunk_signer, self.has_trailer, declared_trailers)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The authenticated caller. ``service`` is the credential scope's ("s3" or "lambda"): the
    router dispatches on it, so a Lambda-signed request can never reach an S3 handler."""

    access_key: str
    service: str
    payload: PayloadMode


class _Claim(NamedTuple):
    """What a request says about its own signature, before we check it.

    A named tuple, not a frozen dataclass: as immutable, and built five times faster (a frozen
    dataclass sets each field through object.__setattr__), on every authenticated request.
    """

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    payload_hash: str
    presigned: bool


def authenticate(
    head: RequestHead,
    keyring: Keyring,
    now: float,
    region: str,
    *,
    body_sha256: str | None = None,
    resource_path: str | None = None,
) -> AuthContext:
    """Verify the request's signature and return who made it; raise an S3 error otherwise.

    ``body_sha256`` (hex) is needed only when :func:`needs_body_sha256` says so: a non-S3
    request (Lambda) without ``x-amz-content-sha256`` signs the hash of its body, so the caller
    reads that (small) body first. S3 requests never need it.
    ``resource_path`` is the raw path in path style (``/bucket/key``) when the request used
    virtual-host addressing: SigV2 presigned URLs sign that form. Defaults to ``raw_path``.
    """
    pairs = head.query_pairs if head.query_pairs is not None else parse_query(head.raw_query)
    names = {name for name, _ in pairs}
    authorization = head.headers.get("authorization")
    query_v4 = "X-Amz-Algorithm" in names
    query_v2 = "AWSAccessKeyId" in names or "Signature" in names
    if authorization is not None and (query_v4 or query_v2):
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
            "query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
            ArgumentValue=authorization,
        )
    if authorization is not None:
        claim = _claim_from_header(head, authorization, now, region, body_sha256)
    elif query_v4:
        claim = _claim_from_query(head, pairs, now, region, body_sha256)
    elif query_v2:
        access_key = verify_presigned_v2(head, keyring, now, resource_path or head.raw_path)
        return AuthContext(access_key, "s3", PayloadMode("unsigned"))
    else:
        raise AccessDenied("Access Denied: anonymous requests are not allowed; sign with AWS4-HMAC-SHA256")
    payload = _payload_mode(claim.payload_hash, claim.presigned)
    key = _verify(head, pairs, claim, keyring)
    if payload.kind in ("streaming-signed", "streaming-signed-trailer"):
        signer = ChunkSigner(key, claim.amz_date, claim.credential.scope, claim.signature)
        payload = PayloadMode(payload.kind, None, signer)
    return AuthContext(claim.credential.access_key, claim.credential.service, payload)


def needs_body_sha256(head: RequestHead) -> bool:
    """True if :func:`authenticate` needs the body's SHA-256 (see there). Never for S3."""
    if "x-amz-content-sha256" in head.headers:
        return False
    authorization = head.headers.get("authorization")
    if authorization is not None:
        scheme, _, rest = authorization.strip().partition(" ")
        try:
            value = _parse_authorization(rest)["Credential"] if scheme == ALGORITHM else ""
        except BayouError:
            return False
    else:
        pairs = head.query_pairs if head.query_pairs is not None else parse_query(head.raw_query)
        value = dict(pairs).get("X-Amz-Credential", "")
    credential = parse_credential(value)
    return credential is not None and credential.service != "s3"


# --- the two forms ------------------------------------------------------------------------------

def _claim_from_header(
    head: RequestHead, authorization: str, now: float, region: str, body_sha256: str | None
) -> _Claim:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        raise InvalidRequest(UNSUPPORTED_MECHANISM)
    params = _parse_authorization(rest)
    credential = parse_credential(params["Credential"])
    if credential is None:
        raise AuthorizationHeaderMalformed(f"{_HEADER_MALFORMED} {_CREDENTIAL_SHAPE}")
    _check_scope(credential, region, presigned=False)
    signed_headers = _signed_headers(params["SignedHeaders"], AuthorizationHeaderMalformed, _HEADER_MALFORMED)
    _require_host(signed_headers)
    amz_date, request_time = _request_date(head)
    if credential.date != amz_date[:8]:
        raise AuthorizationHeaderMalformed(
            f"{_HEADER_MALFORMED} Invalid credential date. Date is not the same as X-Amz-Date."
        )
    if abs(now - request_time) > MAX_SKEW_SECONDS:
        raise RequestTimeTooSkewed(
            RequestTime=amz_date,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
        )
    payload_hash = head.headers.get("x-amz-content-sha256")
    if payload_hash is None:
        payload_hash = _body_hash(credential, body_sha256)
    return _Claim(credential, signed_headers, params["Signature"], amz_date, payload_hash, False)


def _claim_from_query(
    head: RequestHead,
    pairs: Sequence[tuple[str, str]],
    now: float,
    region: str,
    body_sha256: str | None,
) -> _Claim:
    params = _query_params(pairs)
    credential, request_time, expires, signed_headers = _query_scope(
        params["X-Amz-Algorithm"], params["X-Amz-Credential"], params["X-Amz-Date"], params["X-Amz-Expires"],
        params["X-Amz-SignedHeaders"], region,
    )
    _require_amz_headers_signed(head, signed_headers)
    if request_time - now > MAX_SKEW_SECONDS:
        raise AccessDenied("Request is not valid yet")
    if now > request_time + expires:
        expired = AccessDenied("Request has expired", Expires=_iso(request_time + expires), ServerTime=_iso(now))
        expired.fields["X-Amz-Expires"] = str(expires)
        raise expired
    payload_hash = head.headers.get("x-amz-content-sha256")
    if payload_hash is None:
        payload_hash = UNSIGNED_PAYLOAD if credential.service == "s3" else _body_hash(credential, body_sha256)
    return _Claim(credential, signed_headers, params["X-Amz-Signature"], params["X-Amz-Date"], payload_hash, True)


@lru_cache(maxsize=1024)
def _query_scope(
    algorithm: str, credential_value: str, amz_date: str, expires_value: str, signed_value: str, region: str
) -> tuple[Credential, float, int, tuple[str, ...]]:
    """The checks of a presigned URL that depend on its parameters alone, in AWS's order.

    Cached (the result is immutable; errors are not cached): the URLs a client presigns in one
    go, and every reuse of one URL, share these values; only the time checks run per request.
    """
    if algorithm != ALGORITHM:
        raise AuthorizationQueryParametersError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = parse_credential(credential_value)
    if credential is None:
        raise AuthorizationQueryParametersError(f"{_QUERY_MALFORMED} {_CREDENTIAL_SHAPE}")
    request_time = parse_amz_date(amz_date)
    if request_time is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires = _expires(expires_value)
    _check_scope(credential, region, presigned=True)
    if credential.date != amz_date[:8]:
        raise AuthorizationQueryParametersError(
            f"{_QUERY_MALFORMED} Invalid credential date. Date is not the same as X-Amz-Date."
        )
    signed_headers = _signed_headers(signed_value, AuthorizationQueryParametersError, "Error parsing X-Amz-SignedHeaders;")
    _require_host(signed_headers)
    return credential, request_time, expires, signed_headers


def _verify(head: RequestHead, pairs: Sequence[tuple[str, str]], claim: _Claim, keyring: Keyring) -> bytes:
    """Recompute the signature; return the signing key (the chunk signer needs it)."""
    credential = claim.credential
    secret = keyring.secret_for(credential.access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=credential.access_key)
    key = signing_key(secret, credential.date, credential.region, credential.service)
    canonical = canonical_request(
        head.method,
        canonical_uri(head.raw_path, double_encode=credential.service != "s3"),
        canonical_query_from_pairs(pairs, _SIGNATURE_PARAM if claim.presigned else ()),
        head.headers,
        claim.signed_headers,
        claim.payload_hash,
    )
    sts = string_to_sign(claim.amz_date, credential.scope, canonical)
    if not signatures_equal(signature(key, sts), claim.signature):
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=credential.access_key,
            StringToSign=sts,
            SignatureProvided=claim.signature,
            CanonicalRequest=canonical,
        )
    return key


# --- pieces -------------------------------------------------------------------------------------

def _parse_authorization(rest: str) -> dict[str, str]:
    """``Credential=..., SignedHeaders=..., Signature=...``, spaces after commas optional."""
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq or name in params or name not in ("Credential", "SignedHeaders", "Signature"):
            params.clear()
            break
        params[name] = value.strip()
    if len(params) != 3:
        raise AuthorizationHeaderMalformed(
            f"{_HEADER_MALFORMED} the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature."
        )
    return params


def _query_params(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in _QUERY_PARAM_SET:
            if name in params:
                raise AuthorizationQueryParametersError(f"{name} must be given only once")
            params[name] = value
    if len(params) != len(_QUERY_PARAMS) or not all(params.values()):
        raise AuthorizationQueryParametersError()
    return params


def _check_scope(credential: Credential, region: str, *, presigned: bool) -> None:
    """Terminal, service, then region, each with AWS's wording.

    A wrong region is a 400 AuthorizationHeaderMalformed for header auth, naming the expected
    region so that SDKs redirect; a presigned URL cannot be redirected, and AWS answers 403.
    """
    error = AuthorizationQueryParametersError if presigned else AuthorizationHeaderMalformed
    prefix = _QUERY_MALFORMED if presigned else _HEADER_MALFORMED
    if credential.terminal != TERMINAL:
        raise error(f"{prefix} incorrect terminal '{credential.terminal}'. This endpoint uses '{TERMINAL}'.")
    if credential.service not in SERVICES:
        raise error(f"{prefix} incorrect service '{credential.service}'. This endpoint belongs to 's3'.")
    if credential.region != region:
        message = f"{prefix} the region '{credential.region}' is wrong; expecting '{region}'"
        if presigned:
            raise SignatureDoesNotMatch(message, Region=region)
        raise AuthorizationHeaderMalformed(message, Region=region)


def _signed_headers(value: str, error: type[BayouError], prefix: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(names):
        raise error(f"{prefix} SignedHeaders must be a ';'-separated list of header names.")
    return names


def _require_host(signed_headers: tuple[str, ...]) -> None:
    if "host" not in (name.lower() for name in signed_headers):
        raise AccessDenied(
            "There were headers present in the request which were not signed", HeadersNotSigned="host"
        )


def _require_amz_headers_signed(head: RequestHead, signed_headers: tuple[str, ...]) -> None:
    """A presigned URL may not carry unsigned ``x-amz-*`` headers (AWS rule): whoever holds the
    URL could otherwise add ``x-amz-copy-source``, ``x-amz-acl``, ... to what was authorised.
    ``x-amz-content-sha256`` is exempt because it is bound through the payload hash anyway."""
    amz = [name for name in head.headers if name.startswith("x-amz-") and name != "x-amz-content-sha256"]
    if not amz:  # what presigned URLs usually carry: nothing to compare (a tenth of the cost)
        return
    signed = {name.lower() for name in signed_headers}
    unsigned = sorted(name for name in amz if name not in signed)
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def _request_date(head: RequestHead) -> tuple[str, float]:
    """The signing timestamp: ``X-Amz-Date`` if present, else the RFC 1123 ``Date`` header."""
    amz_date = head.headers.get("x-amz-date")
    if amz_date is not None:
        parsed = parse_amz_date(amz_date)
        if parsed is None:
            raise _no_valid_date()
        return amz_date, parsed
    date = head.headers.get("date")
    if date is None:
        raise _no_valid_date()
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise _no_valid_date() from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    epoch = when.timestamp()
    return format_amz_date(epoch), epoch


def _no_valid_date() -> AccessDenied:
    return AccessDenied("AWS authentication requires a valid Date or x-amz-date header")


def _expires(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    expires = int(value)
    if expires < 1:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES_SECONDS:
        raise AuthorizationQueryParametersError(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECONDS}"
        )
    return expires


def _body_hash(credential: Credential, body_sha256: str | None) -> str:
    if credential.service == "s3" or body_sha256 is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    return body_sha256


def _payload_mode(payload_hash: str, presigned: bool) -> PayloadMode:
    """Classify ``x-amz-content-sha256``; fail closed on anything we cannot verify."""
    if payload_hash == UNSIGNED_PAYLOAD:
        return _UNSIGNED
    if _SHA256_HEX.fullmatch(payload_hash):
        return PayloadMode("sha256", payload_hash.lower())
    kind = _STREAMING_KINDS.get(payload_hash)
    if kind is not None:
        if presigned:
            raise InvalidRequest("A presigned request cannot use a streaming (aws-chunked) payload")
        return PayloadMode(kind)
    if payload_hash.startswith("STREAMING-"):
        raise S3NotImplemented(f"x-amz-content-sha256 {payload_hash} is not supported; use AWS4-HMAC-SHA256")
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=payload_hash,
    )


_UNSIGNED = PayloadMode("unsigned")  # immutable: one is enough


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
