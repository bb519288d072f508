"""Multipart upload handlers: Create, UploadPart(Copy), Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

from urllib.parse import quote

from bayou.api.body import declared_length, decoded_body, read_document, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import attributes_from, integrity_from, preconditions_from
from bayou.api.s3.listing import key_encoder
from bayou.api.s3.xml import MAX_XML_BODY, Node, child_text, document, iso8601, parse
from bayou.errors import InvalidArgument, MalformedXML
from bayou.meta.records import PartRecord, UploadRecord
from bayou.storage import multipart
from bayou.storage.checksums import ALGORITHMS
from bayou.storage.multipart import CompletedPart, MultipartService

XML = ("Content-Type", "application/xml")


def _service(ctx: S3Context) -> MultipartService:
    return MultipartService(ctx.storage)


def _checksum_algorithm(headers: dict[str, str]) -> str | None:
    value = headers.get("x-amz-checksum-algorithm")
    if value is None:
        return None
    if value.upper() not in ALGORITHMS:
        raise InvalidArgument(f"Checksum algorithm {value} is not supported", ArgumentName="x-amz-checksum-algorithm")
    return value.upper()


async def create_multipart_upload(ctx: S3Context, ep: router.CreateMultipartUpload) -> Response:
    headers = ctx.request.headers
    checksum_type = headers.get("x-amz-checksum-type")
    if checksum_type not in (None, "FULL_OBJECT", "COMPOSITE"):
        raise InvalidArgument("Invalid x-amz-checksum-type", ArgumentName="x-amz-checksum-type")
    upload = await _service(ctx).create(
        ep.bucket, ep.key, attributes_from(headers), _checksum_algorithm(headers), checksum_type
    )
    result = Node("InitiateMultipartUploadResult")
    result.add("Bucket", ep.bucket)
    result.add("Key", ep.key)
    result.add("UploadId", upload.upload_id)
    response = Response(200, [XML], document(result))
    response.header("x-amz-checksum-algorithm", upload.checksum_algorithm)
    response.header("x-amz-checksum-type", upload.checksum_type)
    return response


async def upload_part(ctx: S3Context, ep: router.UploadPart) -> Response:
    integrity = integrity_from(ctx.request.headers, trailer_names(ctx.request))
    part = await _service(ctx).upload_part(
        ep.bucket,
        ep.key,
        ep.upload_id,
        ep.part_number,
        decoded_body(ctx.request, ctx.auth.payload, integrity),
        integrity,
        declared_length(ctx.request, ctx.auth.payload),
    )
    response = Response(200, [("ETag", f'"{part.etag}"')])
    if part.checksum is not None and part.checksum_algorithm:
        response.header(f"x-amz-checksum-{part.checksum_algorithm.lower()}", part.checksum)
    return response


async def upload_part_copy(ctx: S3Context, ep: router.UploadPartCopy) -> Response:
    headers = ctx.request.headers
    part, source = await _service(ctx).upload_part_copy(
        ep.bucket, ep.key, ep.upload_id, ep.part_number, ep.source.source_bucket, ep.source.source_key,
        headers.get("x-amz-copy-source-range"), preconditions_from(headers, "x-amz-copy-source-"),
        ep.source.source_version,
    )
    result = Node("CopyPartResult")
    result.add("ETag", f'"{part.etag}"')
    result.add("LastModified", iso8601(part.last_modified))
    response = Response(200, [XML], document(result))
    response.header("x-amz-copy-source-version-id", None if source.version_id == "null" else source.version_id)
    return response


def _completed_parts(body: bytes) -> list[CompletedPart]:
    root = parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise MalformedXML()
    parts = []
    for element in root.findall("Part"):
        number, etag = child_text(element, "PartNumber"), child_text(element, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise MalformedXML()
        found = {a: child_text(element, f"Checksum{a}") for a in ALGORITHMS}
        parts.append(CompletedPart(int(number), etag, {a: v for a, v in found.items() if v}))
    if not parts:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published schema: no parts.")
    return parts


async def complete_multipart_upload(ctx: S3Context, ep: router.CompleteMultipartUpload) -> Response:
    integrity = integrity_from(ctx.request.headers, trailer_names(ctx.request))
    body = await read_document(ctx.request, ctx.auth.payload, integrity, MAX_XML_BODY)
    record = await _service(ctx).complete(ep.bucket, ep.key, ep.upload_id, _completed_parts(body))
    result = Node("CompleteMultipartUploadResult")
    result.add("Location", f"/{ep.bucket}/{quote(ep.key)}")
    result.add("Bucket", ep.bucket)
    result.add("Key", ep.key)
    result.add("ETag", f'"{record.etag}"')
    if record.checksum is not None:
        result.add(f"Checksum{record.checksum.algorithm}", record.checksum.value)
        result.add("ChecksumType", record.checksum.type)
    response = Response(200, [XML], document(result))
    if record.version_id != "null":
        response.header("x-amz-version-id", record.version_id)
    return response


async def abort_multipart_upload(ctx: S3Context, ep: router.AbortMultipartUpload) -> Response:
    await _service(ctx).abort(ep.bucket, ep.key, ep.upload_id)
    return Response(204)


def _upload_common(ctx: S3Context, node: Node, upload: UploadRecord) -> None:
    node.children.append(ctx.owner_node("Initiator"))
    node.children.append(ctx.owner_node())
    node.add("StorageClass", upload.storage_class)


def _part_node(part: PartRecord, algorithm: str | None) -> Node:
    node = Node("Part")
    node.add("PartNumber", part.part_number)
    node.add("LastModified", iso8601(part.last_modified))
    node.add("ETag", f'"{part.etag}"')
    node.add("Size", part.size)
    if algorithm and part.checksum:
        node.add(f"Checksum{algorithm}", part.checksum)
    return node


async def list_parts(ctx: S3Context, ep: router.ListParts) -> Response:
    upload, parts, truncated = await multipart.list_parts(
        _service(ctx), ep.bucket, ep.key, ep.upload_id, ep.part_number_marker, ep.max_parts
    )
    result = Node("ListPartsResult")
    result.add("Bucket", ep.bucket)
    result.add("Key", ep.key)
    result.add("UploadId", ep.upload_id)
    result.add("PartNumberMarker", ep.part_number_marker)
    result.add("NextPartNumberMarker", parts[-1].part_number if parts else 0)
    result.add("MaxParts", ep.max_parts)
    result.add("IsTruncated", truncated)
    _upload_common(ctx, result, upload)
    if upload.checksum_algorithm:
        result.add("ChecksumAlgorithm", upload.checksum_algorithm)
        result.add("ChecksumType", upload.checksum_type)
    result.extend(_part_node(p, upload.checksum_algorithm) for p in parts)
    return Response(200, [XML], document(result))


async def list_multipart_uploads(ctx: S3Context, ep: router.ListMultipartUploads) -> Response:
    listing = await multipart.list_uploads(
        _service(ctx), ep.bucket, prefix=ep.prefix, delimiter=ep.delimiter, key_marker=ep.key_marker,
        upload_id_marker=ep.upload_id_marker, limit=ep.max_uploads,
    )
    enc = key_encoder(ep.url_encoding)
    result = Node("ListMultipartUploadsResult")
    result.add("Bucket", ep.bucket)
    result.add("KeyMarker", enc(ep.key_marker))
    result.add("UploadIdMarker", ep.upload_id_marker)
    if listing.is_truncated and listing.last is not None:
        result.add("NextKeyMarker", enc(listing.last[0]))
        result.add("NextUploadIdMarker", listing.last[1] or "")
    result.add("Prefix", enc(ep.prefix))
    if ep.delimiter:
        result.add("Delimiter", enc(ep.delimiter))
    result.add("MaxUploads", ep.max_uploads)
    result.add("IsTruncated", listing.is_truncated)
    if ep.url_encoding:
        result.add("EncodingType", "url")
    for upload in listing.uploads:
        node = result.add("Upload")
        node.add("Key", enc(upload.key))
        node.add("UploadId", upload.upload_id)
        _upload_common(ctx, node, upload)
        node.add("Initiated", iso8601(upload.created_at))
        if upload.checksum_algorithm:
            node.add("ChecksumAlgorithm", upload.checksum_algorithm)
            node.add("ChecksumType", upload.checksum_type)
    for prefix in listing.common_prefixes:
        result.add("CommonPrefixes").add("Prefix", enc(prefix))
    return Response(200, [XML], document(result))
