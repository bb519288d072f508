"""The fast path of the hottest request: a plain GET or HEAD of a small object this process has cached.

A presigned or signed GET of a hot 4 KiB object spends most of its time in the general request
machinery (request object, router, dispatch, the storage call chain, the response object), not in
the work itself. When the request is nothing but that — SigV4 (header or presigned), no query
parameters besides the signature's, no conditional, range or other header that changes the
answer — and the object's current version is in this process's object cache (meta/object_cache.py,
exact across processes), it is answered here with the same pieces the general path uses:
`Request.from_scope`, `authenticate`, `split_target` and `object_headers`. The body is the cached
inline data, or, for an object stored as one blob file, ranges of that file (`ObjectContent.pieces`,
as the general path streams it): a 1 MiB GET spent a third of its CPU in the general machinery.

Anything else returns None and takes the general path, which also renders every error: a request
this path cannot answer, or whose authentication fails, is simply not answered here.

What it returns is a `Hit`; the app renders it either as an ASGI response or, when the HTTP
protocol can write it at once (no response in progress on the connection), as bytes written
straight to the connection without an ASGI task (http_protocol.py, "the immediate lane").
Whatever later changes what a plain GET returns (bucket policies, SSE-C, CORS) must either be
checked here or make this path step aside: the allow-lists below are the place.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bayou.api.http import RawHeaders, Request, Scope, encode_headers
from bayou.api.s3 import router
from bayou.api.s3.headers import object_headers
from bayou.auth.authenticate import authenticate
from bayou.auth.credentials import Keyring
from bayou.auth.request import RequestHead
from bayou.blobs.local import FileRange
from bayou.blobs.store import BlobReader
from bayou.errors import BayouError
from bayou.meta.records import ObjectRecord
from bayou.storage.models import ObjectContent

Peek = Callable[..., tuple[ObjectRecord, bytes | None] | None]
Body = bytes | AsyncIterator[bytes | FileRange]

#: Query parameters of a presigned SigV4 URL; any other parameter means another operation or option.
AUTH_PARAMS = frozenset(
    {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
     "X-Amz-Signature", "x-id"}
)
#: Request headers that do not change a GET's answer (what boto3, the AWS CLI, curl and wrk send).
PLAIN_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-encoding", "connection", "keep-alive", "x-amz-date",
     "x-amz-content-sha256", "authorization", "amz-sdk-invocation-id", "amz-sdk-request",
     "x-amz-user-agent", "x-amz-checksum-mode", "content-length"}
)


#: Rendered headers kept per cached record (and form of request); dropped wholesale when full.
MAX_RENDERED = 4096
#: What HTTP/1.1 forbids in a header name and value (uvicorn refuses them on its path too).
_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(slots=True)
class Hit:
    """A GET or HEAD this path answers: the cached record and what its 200 response is made of."""

    record: ObjectRecord
    head: bool
    checksum_mode: bool
    #: The inline body (None for HEAD and for objects in a blob file).
    data: bytes | None = None
    #: The object's blob file, open (GET of an object stored as one blob file); the caller closes it.
    reader: BlobReader | None = None

    def body(self) -> Body:
        """The body as the ASGI path sends it (pieces of the file are sent with sendfile)."""
        if self.reader is not None:
            return ObjectContent(self.record, None, reader=self.reader).pieces()
        return self.data if self.data is not None and not self.head else b""


class CachedGets:
    def __init__(self, peek: Peek, open_blob: Callable[[str], BlobReader], keyring: Keyring,
                 now: Callable[[], float], region: str, domains: tuple[str, ...]) -> None:
        self._peek = peek
        self._open_blob = open_blob
        # The record is kept in the value, so its id() cannot be reused while the entry lives.
        self._rendered: dict[tuple[int, bool, bool], tuple[ObjectRecord, RawHeaders, bytes | None]] = {}
        self._keyring = keyring
        self._now = now
        self._region = region
        self._domains = domains

    def answer(self, scope: Scope, *, file_limit: int | None = None) -> Hit | None:
        """What the 200 response needs, or None: the general path must answer.

        With `file_limit`, an object in a blob file larger than that steps aside before anything
        is verified (the immediate lane writes a body whole; a large one must stream).
        """
        try:
            request = Request.from_scope(scope, None, "")
        except BayouError:
            return None
        headers = request.headers
        if request.path.startswith("/_bayou/"):
            return None  # Bayou's own endpoints come first, whatever the host says
        if not (AUTH_PARAMS.issuperset(request.query) and PLAIN_HEADERS.issuperset(headers)):
            return None
        if headers.get("content-length", "0") != "0" or "X-Amz-Algorithm" not in request.query and not headers.get(
            "authorization", ""
        ).startswith("AWS4-HMAC-SHA256 "):
            return None  # a body to drain, or not SigV4 (anonymous, SigV2): the general path decides
        bucket, key = router.split_target(request.path, headers.get("host", ""), self._domains)
        if bucket is None or key is None:
            return None
        head = request.method == "HEAD"
        found = self._peek(bucket, key, with_data=not head)
        if found is None or (found[1] is None and not head and not _one_blob(found[0])):
            return None
        if file_limit is not None and found[1] is None and not head and found[0].size > file_limit:
            return None
        try:
            auth = authenticate(
                RequestHead(request.method, request.raw_path, request.raw_query, headers, request.query_pairs),
                self._keyring, self._now(), self._region,
            )
        except BayouError:
            return None
        if auth.service != "s3":
            return None
        record, data = found
        hit = Hit(record, head, headers.get("x-amz-checksum-mode", "").upper() == "ENABLED")
        if head:
            return hit
        if data is not None:
            hit.data = data
            return hit
        try:
            hit.reader = self._open_blob(record.blob_id)
        except OSError:
            return None  # overwritten and collected since it was cached: the general path reads again
        return hit

    def headers(self, hit: Hit) -> RawHeaders:
        """The response's object headers in ASGI's form (a fresh list: the caller appends to it)."""
        return list(self._memo(hit)[1])

    def header_lines(self, hit: Hit) -> bytes | None:
        """The same headers as HTTP/1.1 lines (`name: value\\r\\n`, names in lower case, as uvicorn
        writes them), or None if a value cannot be written as it is (the ASGI path then refuses it)."""
        return self._memo(hit)[2]

    def _memo(self, hit: Hit) -> tuple[ObjectRecord, RawHeaders, bytes | None]:
        record = hit.record
        memo_key = (id(record), hit.head, hit.checksum_mode)
        memo = self._rendered.get(memo_key)
        if memo is None or memo[0] is not record:
            rendered = object_headers(record, checksum_mode=hit.checksum_mode)
            rendered.append(("Content-Length", str(record.size)))
            raw = encode_headers(rendered)
            lines = None
            if not any(_BAD_NAME.search(name) or _BAD_VALUE.search(value) for name, value in raw):
                lines = b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in raw)
            if len(self._rendered) >= MAX_RENDERED:
                self._rendered.clear()
            memo = self._rendered[memo_key] = (record, raw, lines)
        return memo


def _one_blob(record: ObjectRecord) -> bool:
    """Stored as one blob file (not inline, not multipart: those need their manifest)."""
    return not record.inline and record.parts_count == 0
