"""S3's XML error document: the one place S3 errors become HTTP (DESIGN.md invariant 6)."""

from __future__ import annotations

from bayou.api.http import Response
from bayou.api.s3.xml import Node, document
from bayou.errors import BayouError, NotModified


def error_response(error: BayouError, *, resource: str, request_id: str) -> Response:
    headers = [(name, value) for name, value in error.headers.items()]
    if isinstance(error, NotModified):
        return Response(304, headers)
    root = Node("Error")
    root.add("Code", error.code)
    root.add("Message", error.message)
    for name, value in error.fields.items():
        root.add(name, value)
    root.add("Resource", resource)
    root.add("RequestId", request_id)
    return Response(error.status, [*headers, ("Content-Type", "application/xml")], document(root, namespace=False))
