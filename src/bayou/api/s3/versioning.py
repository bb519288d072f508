"""PutBucketVersioning and ListObjectVersions."""

from __future__ import annotations

from bayou.api.body import read_document, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import integrity_from
from bayou.api.s3.listing import key_encoder
from bayou.api.s3.xml import MAX_XML_BODY, Node, child_text, document, iso8601, parse
from bayou.errors import InvalidArgument, MalformedXML
from bayou.errors import NotImplemented as S3NotImplemented

XML = ("Content-Type", "application/xml")


async def put_bucket_versioning(ctx: S3Context, ep: router.PutBucketVersioning) -> Response:
    integrity = integrity_from(ctx.request.headers, trailer_names(ctx.request))
    root = parse(await read_document(ctx.request, ctx.auth.payload, integrity, MAX_XML_BODY))
    if root.tag != "VersioningConfiguration":
        raise MalformedXML()
    status = child_text(root, "Status")
    mfa_delete = child_text(root, "MfaDelete")
    if mfa_delete is not None and mfa_delete.strip() not in ("", "Disabled"):
        raise S3NotImplemented("MFA Delete is not supported by Bayou: there is no MFA device to check.")
    if status not in ("Enabled", "Suspended"):
        raise MalformedXML("The Status of a VersioningConfiguration must be Enabled or Suspended.")
    await ctx.storage.set_bucket_versioning(ep.bucket, status)
    return Response(200)


async def list_object_versions(ctx: S3Context, ep: router.ListObjectVersions) -> Response:
    if ep.version_id_marker and not ep.key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.", ArgumentName="version-id-marker")
    page = await ctx.storage.list_object_versions(
        ep.bucket, prefix=ep.prefix, delimiter=ep.delimiter, key_marker=ep.key_marker,
        version_marker=ep.version_id_marker, max_keys=ep.max_keys,
    )
    enc = key_encoder(ep.url_encoding)
    result = Node("ListVersionsResult")
    result.add("Name", ep.bucket)
    result.add("Prefix", enc(ep.prefix))
    result.add("KeyMarker", enc(ep.key_marker))
    result.add("VersionIdMarker", ep.version_id_marker)
    if page.is_truncated and page.next_key_marker is not None:
        result.add("NextKeyMarker", enc(page.next_key_marker))
        if page.next_version_id_marker is not None:
            result.add("NextVersionIdMarker", page.next_version_id_marker)
    result.add("MaxKeys", ep.max_keys)
    if ep.delimiter:
        result.add("Delimiter", enc(ep.delimiter))
    if ep.url_encoding:
        result.add("EncodingType", "url")
    result.add("IsTruncated", page.is_truncated)
    for entry in page.entries:
        record = entry.record
        node = result.add("DeleteMarker" if record.delete_marker else "Version")
        node.add("Key", enc(record.key))
        node.add("VersionId", record.version_id)
        node.add("IsLatest", entry.is_latest)
        node.add("LastModified", iso8601(record.last_modified))
        if not record.delete_marker:
            node.add("ETag", f'"{record.etag}"')
            if record.checksum is not None:
                node.add("ChecksumAlgorithm", record.checksum.algorithm)
                node.add("ChecksumType", record.checksum.type)
            node.add("Size", record.size)
            node.add("StorageClass", record.storage_class)
        node.children.append(ctx.owner_node())
    for prefix in page.common_prefixes:
        result.add("CommonPrefixes").add("Prefix", enc(prefix))
    return Response(200, [XML], document(result))
