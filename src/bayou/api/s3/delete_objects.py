"""DeleteObjects: the XML batch delete (quiet and verbose)."""

from __future__ import annotations

from bayou.api.body import read_document, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import integrity_from
from bayou.api.s3.xml import MAX_XML_BODY, Node, child_text, document, parse
from bayou.errors import InvalidRequest, MalformedXML

MAX_OBJECTS = 1000


async def delete_objects(ctx: S3Context, ep: router.DeleteObjects) -> Response:
    headers = ctx.request.headers
    integrity = integrity_from(headers, trailer_names(ctx.request))
    if integrity.content_md5 is None and not integrity.checksums and not integrity.algorithms:
        raise InvalidRequest("Missing required header for this request: Content-MD5")
    root = parse(await read_document(ctx.request, ctx.auth.payload, integrity, MAX_XML_BODY))
    if root.tag != "Delete":
        raise MalformedXML()
    quiet = (child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > MAX_OBJECTS:
        raise MalformedXML()
    items = []
    for element in objects:
        key = child_text(element, "Key")
        if key is None:
            raise MalformedXML()
        items.append((key, child_text(element, "VersionId")))
    results = await ctx.storage.delete_objects(ep.bucket, items)
    out = Node("DeleteResult")
    for result in results:
        if result.deleted:
            if not quiet:
                deleted = out.add("Deleted")
                deleted.add("Key", result.key)
                if result.version_id is not None:
                    deleted.add("VersionId", result.version_id)
                if result.delete_marker:
                    deleted.add("DeleteMarker", True)
                    if result.delete_marker_version_id is not None:
                        deleted.add("DeleteMarkerVersionId", result.delete_marker_version_id)
        else:
            error = out.add("Error")
            error.add("Key", result.key)
            if result.version_id is not None:
                error.add("VersionId", result.version_id)
            error.add("Code", result.error_code or "InternalError")
            error.add("Message", result.error_message or "")
    return Response(200, [("Content-Type", "application/xml")], document(out))
