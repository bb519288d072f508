"""Bucket API: CreateBucket name rules, Head/Delete/List, GetBucketLocation and the configuration probes."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from .helpers import assert_xml_error, err, raw, unique_bucket

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3(any_s3):
    """Every bucket test with boto3's default configuration and with request_checksum_calculation=
    'when_required' (the issue names both)."""
    return any_s3

BAD_NAMES = [
    "ab",  # too short
    "a" * 64,  # too long
    "UpperCase-bucket",
    "under_score-bucket",
    "-starts-with-dash",
    "ends-with-dash-",
    ".starts-with-dot",
    "ends-with-dot.",
    "double..dots",
    "192.168.5.4",  # IP address form
    "xn--punycode-prefix",
    "sthree-reserved-prefix",
    "bucket-s3alias",
    "bucket--ol-s3",
    "has space",
    "bang!bucket",
    "émoji-bucket",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_invalid_bucket_name(server, s3_path, name):
    # botocore refuses some names client-side; send those ourselves, signed.
    resp = raw(server, "PUT", "/" + quote(name, safe=""))
    assert_xml_error(resp, 400, "InvalidBucketName")
    names = [b["Name"] for b in s3_path.list_buckets()["Buckets"]]
    assert name not in names


@pytest.mark.parametrize(
    "template",
    [
        "abc-{}",
        "x" * 31 + "{}",  # exactly 63 characters
        "dots.are.ok-{}",
        "1234-{}",
    ],
)
def test_create_valid_edge_names(s3_path, template):
    name = template.format(uuid.uuid4().hex)[:63]
    assert 3 <= len(name) <= 63
    s3_path.create_bucket(Bucket=name)
    s3_path.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3_path.list_buckets()["Buckets"]]


def test_create_head_list_delete(s3):
    name = unique_bucket()
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    listing = s3.list_buckets()
    entry = [b for b in listing["Buckets"] if b["Name"] == name]
    assert len(entry) == 1 and entry[0]["CreationDate"] is not None
    assert listing["Owner"]["ID"]
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert err(ei.value)[1] == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_list_buckets_sorted_by_name(s3):
    names = [unique_bucket("zz"), unique_bucket("aa"), unique_bucket("mm")]
    for n in names:
        s3.create_bucket(Bucket=n)
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert set(names) <= set(listed)
    assert listed == sorted(listed)


def test_create_twice_is_already_owned(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert err(ei.value) == ("BucketAlreadyOwnedByYou", 409)


def test_head_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=unique_bucket("missing"))
    assert err(ei.value)[1] == 404


def test_delete_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=unique_bucket("missing"))
    assert err(ei.value) == ("NoSuchBucket", 404)


def test_delete_nonempty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=bucket)
    assert err(ei.value) == ("BucketNotEmpty", 409)
    s3.head_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="k")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_recreate_after_delete_is_empty(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_object_ops_on_missing_bucket(s3):
    name = unique_bucket("missing")
    for call in (
        lambda: s3.put_object(Bucket=name, Key="k", Body=b"x"),  # small: checked by the commit
        lambda: s3.put_object(Bucket=name, Key="k", Body=b"x" * (256 * 1024)),  # large: checked before streaming
        lambda: s3.get_object(Bucket=name, Key="k"),
        lambda: s3.list_objects_v2(Bucket=name),
        lambda: s3.list_objects(Bucket=name),
    ):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei.value) == ("NoSuchBucket", 404)


def test_get_bucket_location(s3, bucket):
    resp = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is reported as an empty LocationConstraint, which boto3 maps to None.
    assert resp["LocationConstraint"] in (None, "")
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_location(Bucket=unique_bucket("missing"))
    assert err(ei.value) == ("NoSuchBucket", 404)


def test_get_bucket_versioning_never_enabled(s3, bucket):
    resp = s3.get_bucket_versioning(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in resp and "MFADelete" not in resp


def test_get_bucket_versioning_raw_body(server, bucket):
    resp = raw(server, "GET", f"/{bucket}", query={"versioning": ""})
    assert resp.status_code == 200
    assert b"VersioningConfiguration" in resp.content and b"<Status>" not in resp.content


def test_get_bucket_acl_owner_full_control(s3, bucket):
    resp = s3.get_bucket_acl(Bucket=bucket)
    owner = resp["Owner"]["ID"]
    assert owner
    assert owner == s3.list_buckets()["Owner"]["ID"]
    grants = resp["Grants"]
    assert len(grants) == 1
    assert grants[0]["Permission"] == "FULL_CONTROL"
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"
    assert grants[0]["Grantee"]["ID"] == owner


PROBES = [
    ("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", 404),
    ("get_bucket_cors", "NoSuchCORSConfiguration", 404),
    ("get_bucket_policy", "NoSuchBucketPolicy", 404),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", 404),
    ("get_bucket_tagging", "NoSuchTagSet", 404),
]


@pytest.mark.parametrize(("method", "code", "status"), PROBES)
def test_configuration_probes(s3, bucket, method, code, status):
    with pytest.raises(ClientError) as ei:
        getattr(s3, method)(Bucket=bucket)
    assert err(ei.value) == (code, status)


@pytest.mark.parametrize(("method", "code", "status"), PROBES)
def test_configuration_probes_on_missing_bucket(s3, method, code, status):
    with pytest.raises(ClientError) as ei:
        getattr(s3, method)(Bucket=unique_bucket("missing"))
    assert err(ei.value) == ("NoSuchBucket", 404)


def test_probe_errors_are_xml(server, bucket):
    for sub, code in [
        ("cors", "NoSuchCORSConfiguration"),
        ("policy", "NoSuchBucketPolicy"),
        ("tagging", "NoSuchTagSet"),
    ]:
        assert_xml_error(raw(server, "GET", f"/{bucket}", query={sub: ""}), 404, code)


@pytest.mark.parametrize("size", [1, 1000, 2 * 1024 * 1024])
def test_rejected_put_does_not_poison_the_connection(s3, bucket, size):
    # boto3 sends Expect: 100-continue; a PUT refused before its body is read must not
    # leave the body on the keep-alive connection for the next request to trip over.
    s3.put_object(Bucket=bucket, Key="k", Body=b"fine")
    for _ in range(3):
        with pytest.raises(ClientError) as ei:
            s3.put_object(Bucket=unique_bucket("missing"), Key="k", Body=b"x" * size)
        assert err(ei.value) == ("NoSuchBucket", 404)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"fine"
