"""Browser POST (HTML form) uploads, SigV4 form: signature, policy parsing, policy enforcement.

A POST upload carries no ``Authorization`` header. The form holds a base64 JSON *policy* and a
signature over that base64 text; the policy's conditions, not the request line, say what the
upload may be. So the signature proves the policy, and :func:`check_policy` must prove that the
upload fits the policy, every condition and every field, before anything is stored.

Order of use (the API layer): parse the multipart form up to the file part, lower-case field
names, :func:`verify_post_signature`, :func:`parse_policy`, substitute ``${filename}`` in ``key``
(:func:`substitute_filename`), :func:`check_policy` with ``content_length=None`` (all but size),
stream the file bounded by :attr:`PostPolicy.content_length_range`, then
:func:`check_content_length` before the commit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bayou.auth.credentials import Keyring
from bayou.auth.sigv2 import verify_post_signature_v2
from bayou.auth.sigv4 import (
    ALGORITHM,
    TERMINAL,
    parse_amz_date,
    parse_credential,
    signatures_equal,
    signing_key,
)
from bayou.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidPolicyDocument,
    SignatureDoesNotMatch,
)

_SIGNATURE_FIELDS = ("policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
#: Fields that need no condition (AWS: "except x-amz-signature, file, policy, and x-ignore-*").
_EXEMPT_FIELDS = frozenset({"x-amz-signature", "file", "policy", "awsaccesskeyid", "signature"})
_EXEMPT_PREFIX = "x-ignore-"
_DENIED = "Invalid according to Policy:"


@dataclass(frozen=True, slots=True)
class Condition:
    """One policy condition. ``field`` is lower-case, without ``$``; empty for a length range."""

    op: str  # "eq" | "starts-with" | "content-length-range"
    field: str
    value: str
    source: str  # as AWS quotes it in "Policy Condition failed: [...]"
    low: int = 0
    high: int = 0


@dataclass(frozen=True, slots=True)
class PostPolicy:
    expiration: float
    conditions: tuple[Condition, ...]

    @property
    def content_length_range(self) -> tuple[int, int] | None:
        """The tightest allowed size range, so the body reader can stop a too-large upload early."""
        ranges = [(c.low, c.high) for c in self.conditions if c.op == "content-length-range"]
        if not ranges:
            return None
        return max(low for low, _ in ranges), min(high for _, high in ranges)


# --- signature ----------------------------------------------------------------------------------

def verify_post_signature(fields: Mapping[str, str], keyring: Keyring, now: float, region: str) -> str:
    """Check ``x-amz-signature = hex(HMAC(signing_key, policy))``; return the access key.

    ``now`` is accepted for symmetry with :func:`authenticate` but not used: AWS puts no skew
    limit on a POST's ``x-amz-date`` (only the key derivation uses it); the policy's
    ``expiration``, checked by :func:`check_policy`, is what bounds a form's lifetime.
    """
    del now
    form = {name.lower(): value for name, value in fields.items()}
    if "x-amz-signature" not in form and ("signature" in form or "awsaccesskeyid" in form):
        return verify_post_signature_v2(form, keyring)
    if not any(name in form for name in _SIGNATURE_FIELDS):
        raise AccessDenied("Access Denied: anonymous POST uploads are not allowed")
    for name in _SIGNATURE_FIELDS:
        if not form.get(name):
            raise _missing_field(name)
    if form["x-amz-algorithm"] != ALGORITHM:
        raise InvalidArgument(
            'x-amz-algorithm only supports "AWS4-HMAC-SHA256"',
            ArgumentName="x-amz-algorithm",
            ArgumentValue=form["x-amz-algorithm"],
        )
    credential = parse_credential(form["x-amz-credential"])
    if credential is None or credential.terminal != TERMINAL or credential.service != "s3":
        raise InvalidArgument(
            'x-amz-credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request".',
            ArgumentName="x-amz-credential",
            ArgumentValue=form["x-amz-credential"],
        )
    if credential.region != region:
        raise AuthorizationHeaderMalformed(
            f"The authorization header is malformed; the region '{credential.region}' is wrong; "
            f"expecting '{region}'",
            Region=region,
        )
    amz_date = form["x-amz-date"]
    if parse_amz_date(amz_date) is None or amz_date[:8] != credential.date:
        raise InvalidArgument(
            "x-amz-date must be yyyyMMdd'T'HHmmss'Z' on the day of the x-amz-credential scope",
            ArgumentName="x-amz-date",
            ArgumentValue=amz_date,
        )
    secret = keyring.secret_for(credential.access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=credential.access_key)
    key = signing_key(secret, credential.date, credential.region, credential.service)
    expected = hmac.new(key, form["policy"].encode("utf-8"), hashlib.sha256).hexdigest()
    if not signatures_equal(expected, form["x-amz-signature"]):
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=credential.access_key,
            StringToSign=form["policy"],
            SignatureProvided=form["x-amz-signature"],
        )
    return credential.access_key


def _missing_field(name: str) -> InvalidArgument:
    return InvalidArgument(
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )


# --- policy document ----------------------------------------------------------------------------

def parse_policy(policy_b64: str) -> PostPolicy:
    """Decode and validate the policy document; ``InvalidPolicyDocument`` on any malformation."""
    try:
        document = json.loads(base64.b64decode(policy_b64.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidPolicyDocument("Invalid Policy: Invalid JSON.") from None
    if not isinstance(document, dict):
        raise InvalidPolicyDocument("Invalid Policy: Invalid JSON.")
    if "expiration" not in document:
        raise InvalidPolicyDocument("Invalid Policy: Policy missing expiration.")
    conditions = document.get("conditions")
    if not isinstance(conditions, list):
        raise InvalidPolicyDocument("Invalid Policy: Policy missing conditions.")
    return PostPolicy(_expiration(document["expiration"]), tuple(_condition(c) for c in conditions))


def _expiration(value: Any) -> float:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise InvalidPolicyDocument(f"Invalid Policy: Invalid 'expiration' value: '{value}'")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _condition(raw: Any) -> Condition:
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise InvalidPolicyDocument(f"Invalid Policy: Invalid Simple-Condition: {json.dumps(raw)}")
        ((name, value),) = raw.items()
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidPolicyDocument(f"Invalid Policy: Invalid Simple-Condition: {json.dumps(raw)}")
        field = name.lower().removeprefix("$")
        return Condition("eq", field, value, json.dumps(["eq", f"${field}", value]))
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        op = raw[0].lower()
        if op in ("eq", "starts-with") and len(raw) == 3 and all(isinstance(x, str) for x in raw[1:]):
            if raw[1].startswith("$") and len(raw[1]) > 1:
                return Condition(op, raw[1][1:].lower(), raw[2], json.dumps(raw))
        if op == "content-length-range" and len(raw) == 3:
            low, high = _size(raw[1]), _size(raw[2])
            if low is not None and high is not None and low <= high:
                return Condition(op, "", "", json.dumps(raw), low, high)
    raise InvalidPolicyDocument(f"Invalid Policy: Invalid Condition: {json.dumps(raw)}")


def _size(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


# --- enforcement --------------------------------------------------------------------------------

def check_policy(
    policy: PostPolicy,
    fields: Mapping[str, str],
    bucket: str,
    content_length: int | None,
    now: float,
) -> None:
    """Raise unless the upload satisfies every condition and every field is covered by one.

    ``$bucket`` is compared with the URL's bucket, never with a form field: the form is the
    attacker's to write. ``fields`` must already have ``${filename}`` substituted in ``key``.
    ``content_length=None`` defers the size check to :func:`check_content_length`.
    """
    if now > policy.expiration:
        raise AccessDenied(f"{_DENIED} Policy expired.")
    form = {name.lower(): value for name, value in fields.items()}
    for condition in policy.conditions:
        if condition.op == "content-length-range":
            if content_length is not None:
                _check_length(condition, content_length)
            continue
        actual = bucket if condition.field == "bucket" else form.get(condition.field, "")
        ok = actual == condition.value if condition.op == "eq" else actual.startswith(condition.value)
        if not ok:
            raise AccessDenied(f"{_DENIED} Policy Condition failed: {condition.source}")
    covered = {c.field for c in policy.conditions}
    extra = sorted(
        name
        for name in form
        if name not in covered and name not in _EXEMPT_FIELDS and not name.startswith(_EXEMPT_PREFIX)
    )
    if extra:
        raise AccessDenied(f"{_DENIED} Extra input fields: {', '.join(extra)}")


def check_content_length(policy: PostPolicy, content_length: int) -> None:
    """The size check alone, for when the file's length is known only after streaming it."""
    for condition in policy.conditions:
        if condition.op == "content-length-range":
            _check_length(condition, content_length)


def _check_length(condition: Condition, size: int) -> None:
    if size < condition.low:
        raise EntityTooSmall(ProposedSize=str(size), MinSizeAllowed=str(condition.low))
    if size > condition.high:
        raise EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(condition.high))


def substitute_filename(key: str, filename: str) -> str:
    """Replace ``${filename}`` in the key field with the uploaded file's name, as AWS does.

    Only the last path component is used: some browsers send a full client-side path.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return key.replace("${filename}", name)
