"""PostObject: browser form uploads authorised by a signed POST policy.

The bucket is the one in the URL, never a form field. The policy's conditions are checked
before the file streams (fields) and again when its size is known; the object is committed
only after both pass, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from bayou.api.http import Request, Response
from bayou.api.s3.form import FormReader
from bayou.api.s3.headers import attributes_from, integrity_from
from bayou.api.s3.xml import Node, document
from bayou.auth import post_policy
from bayou.auth.credentials import Keyring
from bayou.errors import InvalidArgument
from bayou.storage.models import PutRequest
from bayou.storage.service import StorageService

_VALID_STATUSES = ("200", "201", "204")


async def post_object(
    request: Request, bucket: str, storage: StorageService, keyring: Keyring, public_url: str
) -> Response:
    await storage.get_bucket(bucket)
    form = FormReader(request.headers.get("content-type", ""), request.raw_chunks())
    fields = await form.read_fields()
    now = storage.clock.now()
    post_policy.verify_post_signature(fields, keyring, now, storage.region)
    policy = post_policy.parse_policy(fields.get("policy", ""))
    key_template = fields.get("key")
    if not key_template:
        raise InvalidArgument("Bucket POST must contain a field named 'key'.", ArgumentName="key")
    key = post_policy.substitute_filename(key_template, form.filename or "")
    checked_fields = {**fields, "key": key}
    post_policy.check_policy(policy, checked_fields, bucket, None, now)
    headers = {name: value for name, value in checked_fields.items() if name != "key"}
    if form.file_content_type and "content-type" not in headers:
        headers["content-type"] = form.file_content_type  # the file part's own type, as S3 keeps it

    async def checked_file() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in form.file_chunks():
            size += len(chunk)
            yield chunk
        post_policy.check_content_length(policy, size)

    integrity = integrity_from(headers, [])
    record = await storage.put_object(
        PutRequest(bucket, key, checked_file(), attributes_from(headers), integrity)
    )
    return _success(fields, bucket, key, record.etag, public_url)


def _success(fields: dict[str, str], bucket: str, key: str, etag: str, public_url: str) -> Response:
    location = f"{public_url}/{bucket}/{quote(key)}"
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        parts = urlsplit(redirect)
        if parts.scheme in ("http", "https"):
            query = urlencode({"bucket": bucket, "key": key, "etag": f'"{etag}"'})
            joined = f"{parts.query}&{query}" if parts.query else query
            return Response(303, [("Location", urlunsplit(parts._replace(query=joined))), ("ETag", f'"{etag}"')])
    status = fields.get("success_action_status", "204")
    if status not in _VALID_STATUSES:
        status = "204"
    headers = [("ETag", f'"{etag}"'), ("Location", location)]
    if status == "201":
        result = Node("PostResponse")
        result.add("Location", location)
        result.add("Bucket", bucket)
        result.add("Key", key)
        result.add("ETag", f'"{etag}"')
        return Response(201, [*headers, ("Content-Type", "application/xml")], document(result, namespace=False))
    return Response(int(status), headers)
