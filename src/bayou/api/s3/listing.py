"""ListObjects (V1) and ListObjectsV2 rendering over the storage core's paged listing."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.xml import Markup, Node, document, escape, iso8601, serialise
from bayou.meta.records import ObjectRecord
from bayou.storage.listing import Cursor

XML = ("Content-Type", "application/xml")


#: What quote(text, safe="/") leaves as it is: such keys (most) need no encoding work.
_URL_SAFE = re.compile(r"[A-Za-z0-9_.\-~/]*")


def key_encoder(url: bool) -> Callable[[str], str]:
    """encoding-type=url: keys and prefixes percent-encoded (botocore decodes them back)."""
    if url:
        return lambda text: text if _URL_SAFE.fullmatch(text) else quote(text, safe="/")
    return lambda text: text


def contents_xml(record: ObjectRecord, enc: Callable[[str], str], owner: str) -> str:
    """One <Contents> entry, serialised directly (a listing has up to 1,000; see xml.Markup)."""
    checksum = ""
    if record.checksum is not None:
        checksum = (
            f"<ChecksumAlgorithm>{escape(record.checksum.algorithm)}</ChecksumAlgorithm>"
            f"<ChecksumType>{escape(record.checksum.type)}</ChecksumType>"
        )
    return (
        f"<Contents><Key>{escape(enc(record.key))}</Key><LastModified>{iso8601(record.last_modified)}</LastModified>"
        f"<ETag>&quot;{escape(record.etag)}&quot;</ETag>{checksum}<Size>{record.size}</Size>"
        f"<StorageClass>{escape(record.storage_class)}</StorageClass>{owner}</Contents>"
    )


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
    owner = serialise(ctx.owner_node()) if ep.fetch_owner or not ep.v2 else ""
    result.extend(Markup(contents_xml(record, enc, owner)) for record in page.objects)
    for prefix in page.common_prefixes:
        result.add("CommonPrefixes").add("Prefix", enc(prefix))
    return Response(200, [XML], document(result))
