"""Bucket handlers: list, create, head, delete, and the read-only configuration probes."""

from __future__ import annotations

from bayou.api.body import read_document
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import integrity_from
from bayou.api.s3.notifications import get_bucket_notification
from bayou.api.s3.tagging import get_bucket_tagging
from bayou.api.s3.xml import Node, document, iso8601, parse
from bayou.errors import (
    IllegalLocationConstraintException,
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    ServerSideEncryptionConfigurationNotFoundError,
)

XML = ("Content-Type", "application/xml")
MAX_CREATE_BODY = 64 * 1024

_NOT_CONFIGURED = {
    "encryption": ServerSideEncryptionConfigurationNotFoundError,
    "cors": NoSuchCORSConfiguration,
    "policy": NoSuchBucketPolicy,
    "lifecycle": NoSuchLifecycleConfiguration,
}


async def list_buckets(ctx: S3Context, ep: router.ListBuckets) -> Response:
    result = Node("ListAllMyBucketsResult")
    buckets = result.add("Buckets")
    for bucket in await ctx.storage.list_buckets():
        entry = buckets.add("Bucket")
        entry.add("Name", bucket.name)
        entry.add("CreationDate", iso8601(bucket.created_at))
        entry.add("BucketRegion", bucket.region)
    result.children.append(ctx.owner_node())
    return Response(200, [XML], document(result))


async def create_bucket(ctx: S3Context, ep: router.CreateBucket) -> Response:
    integrity = integrity_from(ctx.request.headers, [])
    body = await read_document(ctx.request, ctx.auth.payload, integrity, MAX_CREATE_BODY)
    if body.strip():
        constraint = parse(body).findtext("LocationConstraint")
        if constraint and constraint != ctx.storage.region:
            raise IllegalLocationConstraintException(
                f"The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
            )
    await ctx.storage.create_bucket(ep.bucket)
    return Response(200, [("Location", f"/{ep.bucket}")])


async def head_bucket(ctx: S3Context, ep: router.HeadBucket) -> Response:
    bucket = await ctx.storage.get_bucket(ep.bucket)
    return Response(200, [("x-amz-bucket-region", bucket.region)])


async def delete_bucket(ctx: S3Context, ep: router.DeleteBucket) -> Response:
    await ctx.storage.delete_bucket(ep.bucket)
    return Response(204)


async def get_bucket_config(ctx: S3Context, ep: router.GetBucketConfig) -> Response:
    if ep.kind == "tagging":
        return await get_bucket_tagging(ctx, ep.bucket)
    if ep.kind == "notification":
        return await get_bucket_notification(ctx, ep.bucket)
    bucket = await ctx.storage.get_bucket(ep.bucket)
    if ep.kind in _NOT_CONFIGURED:
        raise _NOT_CONFIGURED[ep.kind](BucketName=ep.bucket)
    if ep.kind == "location":
        # us-east-1 is rendered as an empty constraint, as S3 does.
        root = Node("LocationConstraint", "" if bucket.region == "us-east-1" else bucket.region)
    elif ep.kind == "versioning":
        root = Node("VersioningConfiguration")
        if bucket.versioning:
            root.add("Status", bucket.versioning)
    else:  # acl
        root = ctx.owner_acl()
    return Response(200, [XML], document(root))
