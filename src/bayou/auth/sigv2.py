"""Legacy SigV2 query-string authentication (presigned URLs only).

boto3's `generate_presigned_url` still signs with SigV2 (`AWSAccessKeyId`, `Signature`,
`Expires`) unless the client is configured for s3v4, so unmodified boto3 presigned links need
this. Header SigV2 (`Authorization: AWS ...`) stays refused: no current client sends it.
String to sign (S3 developer guide, "Signing and authenticating REST requests"):
VERB \\n Content-MD5 \\n Content-Type \\n Expires \\n CanonicalizedAmzHeaders CanonicalizedResource.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote

from bayou.auth.credentials import Keyring
from bayou.auth.request import RequestHead
from bayou.errors import AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch

MAX_EXPIRES_SECONDS = 7 * 24 * 3600

#: Sub-resources that are part of the canonical resource (botocore's HmacV1Auth.QSAOfInterest).
SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging",
        "restore", "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
        "select", "select-type", "object-lock",
    }
)


def _pairs(raw_query: str) -> list[list[str]]:
    return [part.split("=", 1) for part in raw_query.split("&") if part]


def canonical_resource(resource_path: str, raw_query: str) -> str:
    """The path-style raw path plus signed sub-resources, sorted, values decoded (as botocore does)."""
    chosen = [p if len(p) == 1 else [p[0], unquote(p[1])] for p in _pairs(raw_query) if p[0] in SIGNED_SUBRESOURCES]
    if not chosen:
        return resource_path
    chosen.sort(key=lambda p: p[0])
    return resource_path + "?" + "&".join("=".join(p) for p in chosen)


def string_to_sign(head: RequestHead, expires: str, resource_path: str) -> str:
    amz = sorted((name, value) for name, value in head.headers.items() if name.startswith("x-amz-"))
    amz_lines = "".join(f"{name}:{value.strip()}\n" for name, value in amz)
    return "\n".join(
        [
            head.method,
            head.headers.get("content-md5", "").strip(),
            head.headers.get("content-type", "").strip(),
            expires,
            amz_lines + canonical_resource(resource_path, head.raw_query),
        ]
    )


def verify_presigned_v2(head: RequestHead, keyring: Keyring, now: float, resource_path: str) -> str:
    """Check a SigV2 presigned request; return its access key. `resource_path` is path-style and raw."""
    params = {p[0]: unquote(p[1]) if len(p) == 2 else "" for p in _pairs(head.raw_query)}
    access_key = params.get("AWSAccessKeyId")
    signature = params.get("Signature")
    expires = params.get("Expires")
    if not access_key or not signature or not expires or not expires.isdigit():
        raise AccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
    if now > int(expires):
        raise AccessDenied("Request has expired", Expires=expires)
    if int(expires) - now > MAX_EXPIRES_SECONDS:
        raise AccessDenied("Query-string authentication expiry is more than seven days in the future")
    secret = keyring.secret_for(access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    to_sign = string_to_sign(head, expires, resource_path)
    expected = base64.b64encode(hmac.new(secret.encode(), to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1).digest())
    if not hmac.compare_digest(expected, signature.encode()):
        raise SignatureDoesNotMatch(StringToSign=to_sign, AWSAccessKeyId=access_key)
    return access_key


def verify_post_signature_v2(form: dict[str, str], keyring: Keyring) -> str:
    """A SigV2 POST form (boto3's default `generate_presigned_post`): Signature = b64(HMAC-SHA1(policy))."""
    access_key = form.get("awsaccesskeyid", "")
    signature = form.get("signature", "")
    policy = form.get("policy", "")
    if not access_key or not signature or not policy:
        raise AccessDenied("Bucket POST must contain the fields AWSAccessKeyId, policy and signature")
    secret = keyring.secret_for(access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    expected = base64.b64encode(hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest())
    if not hmac.compare_digest(expected, signature.encode()):
        raise SignatureDoesNotMatch(AWSAccessKeyId=access_key, StringToSign=policy)
    return access_key
