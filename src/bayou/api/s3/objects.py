"""Object handlers: Put, Get, Head, Delete, Copy, GetObjectAcl."""

from __future__ import annotations

from bayou.api.body import declared_length, decoded_body, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import (
    attributes_from,
    http_date,
    integrity_from,
    object_headers,
    preconditions_from,
)
from bayou.api.s3.transform import TRANSFORM_PARAM
from bayou.api.s3.xml import Node, document, iso8601
from bayou.errors import InvalidArgument, InvalidRequest
from bayou.storage import tagging
from bayou.storage.models import PutRequest
from bayou.storage.service import CopySource


def _version_header(response: Response, version_id: str | None) -> None:
    if version_id is not None and version_id != "null":
        response.headers.append(("x-amz-version-id", version_id))


async def put_object(ctx: S3Context, ep: router.PutObject) -> Response:
    headers = ctx.request.headers
    integrity = integrity_from(headers, trailer_names(ctx.request))
    record = await ctx.storage.put_object(
        PutRequest(
            bucket=ep.bucket,
            key=ep.key,
            body=decoded_body(ctx.request, ctx.auth.payload, integrity),
            attributes=attributes_from(headers),
            integrity=integrity,
            content_length=declared_length(ctx.request, ctx.auth.payload),
            if_match=headers.get("if-match"),
            if_none_match=headers.get("if-none-match"),
        )
    )
    response = Response(200, [("ETag", f'"{record.etag}"')])
    _version_header(response, record.version_id)
    checksum = record.checksum
    if checksum is not None and (integrity.checksums or integrity.algorithms):
        response.headers.append((f"x-amz-checksum-{checksum.algorithm.lower()}", checksum.value))
        response.headers.append(("x-amz-checksum-type", checksum.type))
    return response


def _check_part_and_range(part_number: int | None, headers: dict[str, str]) -> None:
    if part_number is not None and "range" in headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")


async def get_object(ctx: S3Context, ep: router.GetObject) -> Response:
    if TRANSFORM_PARAM in ctx.request.query and ctx.transforms is not None:
        return await ctx.transforms.get_object(ctx, ep)  # type: ignore[no-any-return]
    _check_part_and_range(ep.part_number, ctx.request.headers)
    content = await ctx.storage.open_object(
        ep.bucket,
        ep.key,
        version_id=ep.version_id,
        byte_range=ctx.request.headers.get("range"),
        preconditions=preconditions_from(ctx.request.headers),
        part_number=ep.part_number,
    )
    headers = object_headers(
        content.record,
        byte_range=content.range,
        checksum_mode=ctx.request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED",
        overrides=ep.overrides,
    )
    headers.append(("Content-Length", str(content.length)))
    if ep.part_number is not None:
        headers.append(("x-amz-mp-parts-count", str(content.record.parts_count or 1)))
    status = 206 if content.range is not None else 200
    if content.data is not None:
        start = content.range.start if content.range else 0
        return Response(status, headers, content.data[start:start + content.length])
    return Response(status, headers, content.pieces())


async def head_object(ctx: S3Context, ep: router.HeadObject) -> Response:
    _check_part_and_range(ep.part_number, ctx.request.headers)
    record, byte_range = await ctx.storage.head_object(
        ep.bucket,
        ep.key,
        version_id=ep.version_id,
        byte_range=ctx.request.headers.get("range"),
        preconditions=preconditions_from(ctx.request.headers),
        part_number=ep.part_number,
    )
    headers = object_headers(
        record,
        byte_range=byte_range,
        checksum_mode=ctx.request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED",
        overrides=ep.overrides,
    )
    headers.append(("Content-Length", str(byte_range.length if byte_range else record.size)))
    if ep.part_number is not None:
        headers.append(("x-amz-mp-parts-count", str(record.parts_count or 1)))
    return Response(206 if byte_range is not None else 200, headers)


async def delete_object(ctx: S3Context, ep: router.DeleteObject) -> Response:
    outcome = await ctx.storage.delete_object(ep.bucket, ep.key, ep.version_id)
    response = Response(204)
    if outcome.delete_marker:
        response.headers.append(("x-amz-delete-marker", "true"))
    if outcome.version_id is not None:
        response.headers.append(("x-amz-version-id", outcome.version_id))
    return response


def _directive(headers: dict[str, str], name: str) -> bool:
    """True for REPLACE, False for COPY (the default)."""
    value = headers.get(name, "COPY").upper()
    if value not in ("COPY", "REPLACE"):
        raise InvalidArgument(f"Unknown {name} value.", ArgumentName=name, ArgumentValue=value)
    return value == "REPLACE"


async def copy_object(ctx: S3Context, ep: router.CopyObject) -> Response:
    headers = ctx.request.headers
    replace = attributes_from(headers) if _directive(headers, "x-amz-metadata-directive") else None
    tags = None
    if _directive(headers, "x-amz-tagging-directive"):
        tags = tagging.parse_header(headers.get("x-amz-tagging", ""))
    source = CopySource(
        ep.source_bucket, ep.source_key, preconditions_from(headers, "x-amz-copy-source-"), ep.source_version
    )
    record, src = await ctx.storage.copy_object(
        source, ep.bucket, ep.key, replace_attributes=replace, replace_tags=tags
    )
    result = Node("CopyObjectResult")
    result.add("LastModified", iso8601(record.last_modified))
    result.add("ETag", f'"{record.etag}"')
    if record.checksum is not None and src.checksum is not None:
        result.add("ChecksumType", record.checksum.type)
        result.add(f"Checksum{record.checksum.algorithm}", record.checksum.value)
    response = Response(200, [("Content-Type", "application/xml")], document(result))
    response.header("x-amz-copy-source-version-id", None if src.version_id == "null" else src.version_id)
    _version_header(response, record.version_id)
    response.header("Last-Modified", http_date(record.last_modified))
    return response


async def get_object_acl(ctx: S3Context, ep: router.GetObjectAcl) -> Response:
    await ctx.storage.head_object(ep.bucket, ep.key, version_id=ep.version_id)
    return Response(200, [("Content-Type", "application/xml")], document(ctx.owner_acl()))
