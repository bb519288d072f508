"""ListObjects (V1) and ListObjectsV2 rendering over the storage core's paged listing."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.xml import Node, document, iso8601
from bayou.storage.listing import Cursor

XML = ("Content-Type", "application/xml")


def key_encoder(url: bool) -> Callable[[str], str]:
    """encoding-type=url: keys and prefixes percent-encoded (botocore decodes them back)."""
    if url:
        return lambda text: quote(text, safe="/")
    return lambda text: text


async def list_objects(ctx: S3Context, ep: router.ListObjects) -> Response:
    after: Cursor | None = None
    if ep.continuation_token is not None:
        after = Cursor.decode_token(ep.continuation_token)
    elif ep.marker:
        after = Cursor.from_marker(ep.marker, ep.prefix, ep.delimiter)
    page = await ctx.storage.list_objects(
        ep.bucket, prefix=ep.prefix, delimiter=ep.delimiter, after=after, max_keys=ep.max_keys
    )
    enc = key_encoder(ep.url_encoding)
    result = Node("ListBucketResult")
    result.add("Name", ep.bucket)
    result.add("Prefix", enc(ep.prefix))
    if ep.v2:
        if ep.continuation_token is not None:
            result.add("ContinuationToken", ep.continuation_token)
        if ep.marker is not None:
            result.add("StartAfter", enc(ep.marker))
        result.add("KeyCount", len(page.objects) + len(page.common_prefixes))
    else:
        result.add("Marker", enc(ep.marker or ""))
    result.add("MaxKeys", ep.max_keys)
    if ep.delimiter:
        result.add("Delimiter", enc(ep.delimiter))
    if ep.url_encoding:
        result.add("EncodingType", "url")
    result.add("IsTruncated", page.is_truncated)
    if page.is_truncated and page.last is not None:
        if ep.v2:
            result.add("NextContinuationToken", page.last.encode_token())
        else:
            result.add("NextMarker", enc(page.last.value.decode()))
    for record in page.objects:
        entry = result.add("Contents")
        entry.add("Key", enc(record.key))
        entry.add("LastModified", iso8601(record.last_modified))
        entry.add("ETag", f'"{record.etag}"')
        if record.checksum is not None:
            entry.add("ChecksumAlgorithm", record.checksum.algorithm)
            entry.add("ChecksumType", record.checksum.type)
        entry.add("Size", record.size)
        entry.add("StorageClass", record.storage_class)
        if ep.fetch_owner or not ep.v2:
            entry.children.append(ctx.owner_node())
    for prefix in page.common_prefixes:
        result.add("CommonPrefixes").add("Prefix", enc(prefix))
    return Response(200, [XML], document(result))
