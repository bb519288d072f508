"""Hostile XML bodies and unsupported APIs: S3 error codes, bounded memory, never a traceback."""

from __future__ import annotations

import base64
import hashlib
import socket
import time

import pytest
from botocore.exceptions import ClientError

from .helpers import UNSIGNED_PAYLOAD, assert_xml_error, err, object_exists, raw, sign

pytestmark = pytest.mark.e2e


def _delete(server, bucket: str, body: bytes):
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return raw(
        server,
        "POST",
        f"/{bucket}",
        query={"delete": ""},
        body=body,
        headers={"Content-MD5": md5},
        timeout=60,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",  # unclosed
        b"not xml at all",
        b"",
        b"<Delete><Object><Key>a</Key></Object></Delete><extra/>",
        b"<Wrong><Object><Key>a</Key></Object></Wrong>",
        b"<Delete></Delete>",  # no objects
        b"<Delete><Object></Object></Delete>",  # object without a key
        b"<?xml version='1.0' encoding='UTF-8'?><Delete><Object><Key>a\x01</Key></Object></Delete>",
    ],
    ids=["unclosed", "text", "empty", "trailing", "wrong-root", "no-objects", "no-key", "ctl-char"],
)
def test_delete_objects_malformed_xml(server, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    assert_xml_error(_delete(server, bucket, body), 400, "MalformedXML")
    assert object_exists(s3, bucket, "a")


def test_delete_objects_too_many_keys(server, s3, bucket):
    body = b"<Delete>" + b"".join(b"<Object><Key>k%d</Key></Object>" % i for i in range(1001)) + b"</Delete>"
    resp = _delete(server, bucket, body)
    assert_xml_error(resp, 400, "MalformedXML")


def test_delete_objects_1000_keys_ok(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k999", Body=b"x")
    body = (
        b"<Delete><Quiet>true</Quiet>"
        + b"".join(b"<Object><Key>k%d</Key></Object>" % i for i in range(1000))
        + b"</Delete>"
    )
    resp = _delete(server, bucket, body)
    assert resp.status_code == 200, resp.text
    assert not object_exists(s3, bucket, "k999")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Delete><Object><Key>&lol9;</Key></Object></Delete>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_expansion_rejected_quickly(server, s3, bucket, body):
    before = server.rss_bytes()
    started = time.monotonic()
    resp = _delete(server, bucket, body)
    elapsed = time.monotonic() - started
    assert_xml_error(resp, 400, "MalformedXML")
    assert elapsed < 5, elapsed
    assert server.rss_bytes() - before < 50 * 1024 * 1024
    s3.head_bucket(Bucket=bucket)  # still serving


def test_oversized_xml_body(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    pad = b"<Object><Key>" + b"p" * 1000 + b"</Key></Object>"
    body = b"<Delete>" + pad * 2200 + b"<Object><Key>keep</Key></Object></Delete>"  # ~2.2 MiB
    assert len(body) > 2 * 1024 * 1024
    resp = _delete(server, bucket, body)
    assert_xml_error(resp, 400, "MalformedXML")
    assert object_exists(s3, bucket, "keep")


def test_huge_xml_body_bounded_memory(server, s3, bucket):
    """A 256 MiB declared XML body is refused without buffering it."""
    declared = 256 * 1024 * 1024
    path = f"/{bucket}?delete="
    url = f"{server.endpoint}{path}"
    headers = sign(server, "POST", url, {"Content-Length": str(declared)}, payload_hash=UNSIGNED_PAYLOAD)
    head = f"POST {path} HTTP/1.1\r\nHost: {server.address}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    before = server.rss_bytes()
    peak = before
    chunk = b"<Delete>" + b"<Object><Key>" + b"q" * 65000 + b"</Key></Object>"
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head.encode() + b"\r\n")
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
                if sent % (4 * 1024 * 1024) < len(chunk):
                    peak = max(peak, server.rss_bytes())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server gave up on us early: fine
        sock.settimeout(20)
        try:
            reply = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    peak = max(peak, server.rss_bytes())
    assert peak - before < 100 * 1024 * 1024, (before, peak)
    if reply:
        status = int(reply.split(b" ", 2)[1])
        assert status in (400, 413), reply[:300]
        assert b"Traceback" not in reply
    s3.head_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("put_bucket_website", {"WebsiteConfiguration": {"IndexDocument": {"Suffix": "index.html"}}}),
        ("get_bucket_website", {}),
        ("get_bucket_analytics_configuration", {"Id": "x"}),
        ("get_bucket_inventory_configuration", {"Id": "x"}),
        ("get_bucket_intelligent_tiering_configuration", {"Id": "x"}),
    ],
)
def test_unsupported_api_is_501(s3, bucket, call, kwargs):
    with pytest.raises(ClientError) as ei:
        getattr(s3, call)(Bucket=bucket, **kwargs)
    assert err(ei.value) == ("NotImplemented", 501)


def test_unsupported_api_raw_body(server, bucket):
    resp = raw(server, "GET", f"/{bucket}", query={"website": ""})
    fields = assert_xml_error(resp, 501, "NotImplemented")
    assert "Traceback" not in fields.get("Message", "")


def test_method_not_allowed(server, bucket):
    resp = raw(server, "PATCH", f"/{bucket}/k", body=b"x")
    assert_xml_error(resp, 405, "MethodNotAllowed")
    resp = raw(server, "PATCH", "/", body=b"")
    assert resp.status_code in (405, 501), resp.text
    assert_xml_error(resp, resp.status_code, ("MethodNotAllowed", "NotImplemented"))


def test_garbage_query_and_headers_no_traceback(server, bucket):
    cases = [
        raw(server, "GET", f"/{bucket}", query={"list-type": "3"}),
        raw(server, "GET", f"/{bucket}", query={"max-keys": "9" * 40, "list-type": "2"}),
        raw(server, "GET", f"/{bucket}/k", headers={"Range": "bytes=" + "9" * 40 + "-"}),
        raw(server, "GET", f"/{bucket}/k", headers={"If-Modified-Since": "not a date"}),
        raw(server, "GET", f"/{bucket}/%FF%FE"),  # not UTF-8
        raw(server, "PUT", f"/{bucket}/%C0%AF", body=b"x"),  # overlong UTF-8 for "/"
        raw(server, "GET", f"/{bucket}/k", headers={"x-amz-checksum-mode": "bogus"}),
    ]
    for resp in cases:
        assert resp.status_code < 500, (resp.request.url, resp.status_code, resp.content[:500])
        assert b"Traceback" not in resp.content
