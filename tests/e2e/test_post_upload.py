"""Browser POST uploads (multipart/form-data + POST policy), as boto3's generate_presigned_post builds them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.config import Config

from .helpers import assert_xml_error, frozen_now, list_all_keys, object_exists, utcnow, xml_find

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3v4(server):
    return server.client(Config(signature_version="s3v4"))


@pytest.fixture(scope="module", params=["boto3-default", "s3v4"])
def poster(request, s3, s3v4):
    """boto3's default presigned POST is SigV2 (`signature`); s3v4 gives `x-amz-signature`."""
    return s3 if request.param == "boto3-default" else s3v4


def _post(
    post: dict,
    content: bytes,
    filename: str = "upload.bin",
    fields: dict | None = None,
    url: str | None = None,
):
    data = dict(post["fields"]) | (fields or {})
    return httpx.post(
        url or post["url"], data=data, files={"file": (filename, content, "application/octet-stream")}
    )


def test_presigned_post_default_204(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/one.bin", ExpiresIn=300)
    resp = _post(post, b"form body")
    assert resp.status_code == 204, resp.text
    assert resp.headers.get("etag") == f'"{hashlib.md5(b"form body").hexdigest()}"'
    assert poster.get_object(Bucket=bucket, Key="form/one.bin")["Body"].read() == b"form body"


def test_presigned_post_filename_variable(poster, bucket):
    post = poster.generate_presigned_post(
        bucket, "uploads/${filename}", Conditions=[["starts-with", "$key", "uploads/"]], ExpiresIn=300
    )
    resp = _post(post, b"named", filename="report.csv")
    assert resp.status_code == 204, resp.text
    assert poster.get_object(Bucket=bucket, Key="uploads/report.csv")["Body"].read() == b"named"


def test_presigned_post_status_201_xml(poster, bucket):
    post = poster.generate_presigned_post(
        bucket,
        "form/201",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
    )
    resp = _post(post, b"created")
    assert resp.status_code == 201, resp.text
    root = ET.fromstring(resp.content)
    assert root.tag.split("}")[-1] == "PostResponse"
    assert xml_find(root, "Bucket")[0].text == bucket
    assert xml_find(root, "Key")[0].text == "form/201"
    assert xml_find(root, "ETag")[0].text == f'"{hashlib.md5(b"created").hexdigest()}"'
    assert xml_find(root, "Location")[0].text


def test_presigned_post_status_200_empty(poster, bucket):
    post = poster.generate_presigned_post(
        bucket,
        "form/200",
        Fields={"success_action_status": "200"},
        Conditions=[{"success_action_status": "200"}],
    )
    resp = _post(post, b"ok")
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    assert object_exists(poster, bucket, "form/200")


def test_presigned_post_redirect_303(poster, bucket):
    target = "https://example.com/after?x=1"
    post = poster.generate_presigned_post(
        bucket,
        "form/redir",
        Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}],
    )
    resp = _post(post, b"redirected")
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith("https://example.com/after?")
    q = parse_qs(urlsplit(location).query)
    assert q["x"] == ["1"]
    assert q["bucket"] == [bucket]
    assert q["key"] == ["form/redir"]
    assert q["etag"][0].strip('"') == hashlib.md5(b"redirected").hexdigest()
    assert poster.get_object(Bucket=bucket, Key="form/redir")["Body"].read() == b"redirected"


def test_post_metadata_and_content_type_fields(poster, bucket):
    fields = {"Content-Type": "image/png", "x-amz-meta-owner": "alice"}
    post = poster.generate_presigned_post(
        bucket,
        "form/meta",
        Fields=fields,
        Conditions=[{"Content-Type": "image/png"}, {"x-amz-meta-owner": "alice"}],
    )
    assert _post(post, b"\x89PNG").status_code == 204
    head = poster.head_object(Bucket=bucket, Key="form/meta")
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"owner": "alice"}


def test_post_content_length_range_too_big(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/big", Conditions=[["content-length-range", 1, 10]])
    assert_xml_error(_post(post, b"x" * 100), 400, "EntityTooLarge")
    assert not object_exists(poster, bucket, "form/big")
    assert _post(post, b"x" * 10).status_code == 204  # control: at the limit


def test_post_content_length_range_too_small(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/small", Conditions=[["content-length-range", 5, 10]])
    assert_xml_error(_post(post, b"x"), 400, "EntityTooSmall")
    assert not object_exists(poster, bucket, "form/small")


def test_post_starts_with_violated(poster, bucket):
    # a key ending in ${filename} makes boto3 write ["starts-with", "$key", "uploads/"] (no eq condition)
    post = poster.generate_presigned_post(bucket, "uploads/${filename}", ExpiresIn=300)
    resp = _post(post, b"evil", fields={"key": "elsewhere/evil"})
    assert_xml_error(resp, 403, "AccessDenied")
    assert not object_exists(poster, bucket, "elsewhere/evil")
    resp = _post(post, b"fine", fields={"key": "uploads/other"})  # control: any key under the prefix
    assert resp.status_code == 204, resp.text


def test_post_eq_condition_violated(poster, bucket):
    post = poster.generate_presigned_post(
        bucket, "form/eq", Fields={"x-amz-meta-tag": "a"}, Conditions=[{"x-amz-meta-tag": "a"}]
    )
    assert_xml_error(_post(post, b"x", fields={"x-amz-meta-tag": "b"}), 403, "AccessDenied")
    assert not object_exists(poster, bucket, "form/eq")


def test_post_extra_field_not_in_policy(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/extra")
    resp = _post(post, b"x", fields={"x-amz-meta-sneaky": "1"})
    assert_xml_error(resp, 403, "AccessDenied")
    assert not object_exists(poster, bucket, "form/extra")


def test_post_tampered_policy(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/tamper")
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"].append(["starts-with", "$x-amz-meta-any", ""])
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    resp = _post(post, b"x", fields={"policy": forged, "x-amz-meta-any": "1"})
    assert_xml_error(resp, 403, "SignatureDoesNotMatch")
    assert not object_exists(poster, bucket, "form/tamper")


def test_post_expired_policy(s3v4, bucket):
    with frozen_now(utcnow() - dt.timedelta(hours=2)):
        post = s3v4.generate_presigned_post(bucket, "form/expired", ExpiresIn=60)
    assert_xml_error(_post(post, b"late"), 403, "AccessDenied")
    assert not object_exists(s3v4, bucket, "form/expired")


def test_post_expired_policy_default_signer(s3, bucket):
    post = s3.generate_presigned_post(bucket, "form/expired2", ExpiresIn=-60)
    assert_xml_error(_post(post, b"late"), 403, "AccessDenied")
    assert not object_exists(s3, bucket, "form/expired2")


def test_post_bucket_field_cannot_redirect_write(poster, bucket, bucket2):
    # A form for `bucket`, with its `bucket` field rewritten to name bucket2, sent to bucket's URL.
    post = poster.generate_presigned_post(bucket, "form/target", ExpiresIn=300)
    resp = _post(post, b"where am i", fields={"bucket": bucket2})
    assert resp.status_code in (204, 403), resp.text
    assert list_all_keys(poster, bucket2) == []
    if resp.status_code == 204:
        assert poster.get_object(Bucket=bucket, Key="form/target")["Body"].read() == b"where am i"


def test_post_policy_for_other_bucket_sent_to_this_url(poster, bucket, bucket2):
    # A policy signed for bucket2, posted to bucket's URL: the URL names the bucket, so the policy's
    # bucket condition fails and nothing lands anywhere.
    post = poster.generate_presigned_post(bucket2, "form/cross", ExpiresIn=300)
    url = post["url"].replace(f"/{bucket2}", f"/{bucket}")
    assert url != post["url"]
    resp = _post(post, b"cross", url=url)
    assert_xml_error(resp, 403, "AccessDenied")
    assert list_all_keys(poster, bucket) == []
    assert list_all_keys(poster, bucket2) == []


def test_post_without_file_field(poster, bucket):
    post = poster.generate_presigned_post(bucket, "form/nofile")
    resp = httpx.post(post["url"], data=post["fields"], files={"notfile": ("a", b"x")})
    assert resp.status_code == 400, resp.text
    assert_xml_error(
        resp, 400, ("InvalidArgument", "MalformedPOSTRequest", "IncorrectNumberOfFilesInPostRequest")
    )
    assert not object_exists(poster, bucket, "form/nofile")


def test_post_anonymous_without_policy_denied(server, bucket, s3):
    resp = httpx.post(f"{server.endpoint}/{bucket}", data={"key": "anon"}, files={"file": ("a", b"x")})
    assert_xml_error(resp, 403, "AccessDenied")
    assert not object_exists(s3, bucket, "anon")
