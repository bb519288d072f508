"""Object and bucket tagging: Put/Get/DeleteObjectTagging and Put/Get/DeleteBucketTagging."""

from __future__ import annotations

from bayou.api.body import read_document, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import integrity_from
from bayou.api.s3.xml import MAX_XML_BODY, Node, child_text, document, parse
from bayou.errors import MalformedXML, NoSuchTagSet
from bayou.storage import tagging

XML = ("Content-Type", "application/xml")


def tagging_document(tags: dict[str, str]) -> bytes:
    root = Node("Tagging")
    tag_set = root.add("TagSet")
    for key, value in tags.items():
        tag = tag_set.add("Tag")
        tag.add("Key", key)
        tag.add("Value", value)
    return document(root)


async def _read_tags(ctx: S3Context, limit: int) -> dict[str, str]:
    integrity = integrity_from(ctx.request.headers, trailer_names(ctx.request))
    root = parse(await read_document(ctx.request, ctx.auth.payload, integrity, MAX_XML_BODY))
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise MalformedXML()
    pairs = []
    for tag in tag_set.findall("Tag"):
        key, value = child_text(tag, "Key"), child_text(tag, "Value")
        if key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    return tagging.validate(pairs, limit=limit)


def _version_header(version_id: str) -> list[tuple[str, str]]:
    return [] if version_id == "null" else [("x-amz-version-id", version_id)]


async def get_object_tagging(ctx: S3Context, ep: router.GetObjectTagging) -> Response:
    record = await ctx.storage.get_object_tags(ep.bucket, ep.key, ep.version_id)
    return Response(200, [XML, *_version_header(record.version_id)], tagging_document(record.tags))


async def put_object_tagging(ctx: S3Context, ep: router.PutObjectTagging) -> Response:
    tags = await _read_tags(ctx, tagging.MAX_OBJECT_TAGS)
    record = await ctx.storage.set_object_tags(ep.bucket, ep.key, ep.version_id, tags)
    return Response(200, _version_header(record.version_id))


async def delete_object_tagging(ctx: S3Context, ep: router.DeleteObjectTagging) -> Response:
    record = await ctx.storage.set_object_tags(ep.bucket, ep.key, ep.version_id, {})
    return Response(204, _version_header(record.version_id))


async def put_bucket_tagging(ctx: S3Context, ep: router.PutBucketTagging) -> Response:
    tags = await _read_tags(ctx, tagging.MAX_BUCKET_TAGS)
    await ctx.storage.set_bucket_tags(ep.bucket, tags)
    return Response(204)


async def get_bucket_tagging(ctx: S3Context, bucket: str) -> Response:
    record = await ctx.storage.get_bucket(bucket)
    if record.tags is None:
        raise NoSuchTagSet(BucketName=bucket)
    return Response(200, [XML], tagging_document(record.tags))


async def delete_bucket_tagging(ctx: S3Context, ep: router.DeleteBucketTagging) -> Response:
    await ctx.storage.set_bucket_tags(ep.bucket, None)
    return Response(204)
