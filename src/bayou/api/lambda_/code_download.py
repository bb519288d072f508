"""GetFunction's Code.Location: a time-limited link to a function's deployment package.

Lambda answers GetFunction with a presigned S3 URL valid for 10 minutes; Bayou answers with

    <public_url>/_bayou/fn-code/<name>?Qualifier=<v>&CodeSha256=<hex>&Expires=<epoch>&Signature=<hex>

where Signature is HMAC-SHA256 over ``name|qualifier|code sha256 hex|expires``, keyed by a key
derived from the root secret (never the secret itself, so a leaked link reveals nothing usable for
SigV4). Any plain HTTP GET downloads the zip until Expires. The signature covers the code's hash:
once $LATEST gets new code, links to the old code stop working instead of serving other bytes.
A bad, expired or tampered link is 403 AccessDenied in S3's XML, as a presigned S3 URL would be.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote

from bayou.api.http import Request, Response
from bayou.errors import AccessDenied, BayouError, MethodNotAllowed
from bayou.functions.models import LATEST, FunctionVersion

CODE_DOWNLOAD_PREFIX = "/_bayou/fn-code/"
#: Seconds a Code.Location link stays valid (Lambda's presigned URLs: 10 minutes).
LINK_LIFETIME = 600
_KEY_LABEL = b"bayou/fn-code/v1"


def derive_key(access_key: str, secret: str) -> bytes:
    """The link-signing key of one root credential pair."""
    return hmac.new(secret.encode("utf-8"), _KEY_LABEL + b"\n" + access_key.encode("utf-8"), hashlib.sha256).digest()


def code_signing_key(keyring: Any) -> bytes:
    """The key from the server's keyring: the root entry (the keyring holds just the root key today;
    with several, the lowest access key is taken, which every worker agrees on)."""
    entries = dict(keyring)
    if not entries:
        raise ValueError("the keyring is empty")
    root = min(entries)
    return derive_key(root, entries[root])


def signature(key: bytes, name: str, qualifier: str, code_sha256: str, expires: int) -> str:
    message = f"{name}|{qualifier}|{code_sha256}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def code_location(public_url: str, key: bytes, version: FunctionVersion, now: float) -> dict[str, str]:
    """GetFunction's Code member, with a link valid for LINK_LIFETIME seconds from `now`."""
    expires = int(now) + LINK_LIFETIME
    sha = version.code.sha256_hex
    sig = signature(key, version.name, version.version, sha, expires)
    location = (
        f"{public_url}{CODE_DOWNLOAD_PREFIX}{quote(version.name, safe='')}"
        f"?Qualifier={quote(version.version, safe='')}&CodeSha256={sha}&Expires={expires}&Signature={sig}"
    )
    return {"RepositoryType": "S3", "Location": location}


def context_key(ctx: Any) -> bytes:
    """The signing key for a LambdaContext.

    `ctx.code_signing_key` when the app sets it. Until then, the invoker's root credentials (the
    same pair the keyring holds) give the same key. Without either, a random key: the link is
    well-formed but never verifies.
    """
    key = getattr(ctx, "code_signing_key", None)
    if key:
        return bytes(key)
    credentials = getattr(ctx.invoker, "_credentials", None)
    access, secret = getattr(credentials, "access_key", None), getattr(credentials, "secret_key", None)
    if isinstance(access, str) and isinstance(secret, str) and secret:
        return derive_key(access, secret)
    return secrets.token_bytes(32)


def _denied(message: str = "Access Denied") -> AccessDenied:
    return AccessDenied(message)


def _expires(value: str | None, now: float) -> int:
    if value is None or not (value.isascii() and value.isdigit()):
        raise _denied("Query-string authentication requires the Expires and Signature parameters")
    expires = int(value)
    if now > expires:
        raise _denied("Request has expired")
    return expires


async def handle_code_download(request: Request, components: Any) -> Response:
    """Serve the zip behind a Code.Location link; anything but a valid, unexpired link is 403."""
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(Method=request.method, ResourceType="OBJECT")
    name = request.path[len(CODE_DOWNLOAD_PREFIX):]
    query = request.query
    qualifier = query.get("Qualifier") or LATEST
    expires = _expires(query.get("Expires"), components.storage.clock.now())
    given = query.get("Signature", "")
    try:
        version = await components.registry.get_function(name, qualifier)
    except BayouError:
        raise _denied() from None  # no oracle for which functions exist
    key = code_signing_key(components.keyring)
    expected = signature(key, name, qualifier, version.code.sha256_hex, expires)
    if not hmac.compare_digest(expected, given.lower()):
        raise _denied()
    if query.get("CodeSha256", version.code.sha256_hex) != version.code.sha256_hex:
        raise _denied()
    data = await components.registry.code_zip(version)
    filename = f"{name}-{version.version.replace('$', '')}.zip".replace('"', "")
    headers = [
        ("Content-Type", "application/zip"),
        ("Content-Disposition", f'attachment; filename="{quote(filename, safe="")}"'),
        ("ETag", f'"{version.code.sha256_hex}"'),
        ("Cache-Control", "private, max-age=0"),
    ]
    return Response(200, headers, data)
