"""Endpoint → handler table for the S3 API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bayou import errors
from bayou.api.http import Response
from bayou.api.s3 import (
    buckets,
    delete_objects,
    listen,
    listing,
    multipart,
    notifications,
    objects,
    router,
    tagging,
    versioning,
)
from bayou.api.s3.context import S3Context

Handler = Callable[[S3Context, Any], Awaitable[Response]]

HANDLERS: dict[type, Handler] = {
    router.ListBuckets: buckets.list_buckets,
    router.CreateBucket: buckets.create_bucket,
    router.HeadBucket: buckets.head_bucket,
    router.DeleteBucket: buckets.delete_bucket,
    router.GetBucketConfig: buckets.get_bucket_config,
    router.ListObjects: listing.list_objects,
    router.DeleteObjects: delete_objects.delete_objects,
    router.PutObject: objects.put_object,
    router.CopyObject: objects.copy_object,
    router.GetObject: objects.get_object,
    router.HeadObject: objects.head_object,
    router.DeleteObject: objects.delete_object,
    router.GetObjectAcl: objects.get_object_acl,
    router.CreateMultipartUpload: multipart.create_multipart_upload,
    router.UploadPart: multipart.upload_part,
    router.UploadPartCopy: multipart.upload_part_copy,
    router.CompleteMultipartUpload: multipart.complete_multipart_upload,
    router.AbortMultipartUpload: multipart.abort_multipart_upload,
    router.ListParts: multipart.list_parts,
    router.ListMultipartUploads: multipart.list_multipart_uploads,
    router.PutBucketVersioning: versioning.put_bucket_versioning,
    router.ListObjectVersions: versioning.list_object_versions,
    router.PutBucketTagging: tagging.put_bucket_tagging,
    router.PutBucketNotification: notifications.put_bucket_notification,
    router.DeleteBucketTagging: tagging.delete_bucket_tagging,
    router.GetObjectTagging: tagging.get_object_tagging,
    router.PutObjectTagging: tagging.put_object_tagging,
    router.DeleteObjectTagging: tagging.delete_object_tagging,
    router.ListenNotification: listen.listen,
}


async def handle(ctx: S3Context, endpoint: router.Endpoint) -> Response:
    handler = HANDLERS.get(type(endpoint))
    if handler is None:
        operation = endpoint.operation if isinstance(endpoint, router.Unsupported) else type(endpoint).__name__
        raise errors.NotImplemented(f"{operation} is not implemented by Bayou yet.")
    return await handler(ctx, endpoint)
