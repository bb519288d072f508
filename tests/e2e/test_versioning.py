"""Versioning against a real server: S3's documented scenario step by step (raw HTTP, so every status
and header is seen as sent), version ids that are missing, foreign or malformed, ListObjectVersions
pagination over 2,500 versions, copies from a version, and DeleteObjects with version ids."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import assert_xml_error, err, etag_of, key_path, list_all_keys, raw, unique_bucket, xml_find

pytestmark = pytest.mark.e2e

ENABLED = {"Status": "Enabled"}
SUSPENDED = {"Status": "Suspended"}
ABSENT = object()


def versioning_body(status: str, mfa: str | None = None) -> bytes:
    extra = f"<MfaDelete>{mfa}</MfaDelete>" if mfa else ""
    return (
        f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Status>{status}</Status>{extra}</VersioningConfiguration>"
    ).encode()


def versions_xml(server, bucket: str, **query: str) -> list[tuple[str, str, str, bool]]:
    """ListObjectVersions as (kind, key, version id, is latest), in document order."""
    resp = raw(server, "GET", f"/{bucket}", query={"versions": "", **query})
    assert resp.status_code == 200, resp.text
    root = ET.fromstring(resp.content)
    out = []
    for child in root:
        tag = child.tag.split("}")[-1]
        if tag in ("Version", "DeleteMarker"):
            get = {c.tag.split("}")[-1]: c.text for c in child}
            out.append((tag, get["Key"], get["VersionId"], get["IsLatest"] == "true"))
    return out


# ---------------------------------------------------------------- the scenario table
#
# Each row: (action, argument, expected status, expected headers, expected body).
# Header values: ABSENT (must not be sent), a literal, "+NAME" (a new version id, remembered as
# NAME, different from every id seen before) or "=NAME" (the id remembered as NAME).
# The body column is the object's bytes for GET, or for LIST the expected versions as
# (kind, version name, is latest) newest first.

V = "Version"
M = "DeleteMarker"

SCENARIO = [
    # an unversioned bucket: the object has the null version and no version header
    ("PUT", b"v0", 200, {"x-amz-version-id": ABSENT}, None),
    ("GET", None, 200, {"x-amz-version-id": ABSENT}, b"v0"),
    ("VERSIONING", "Enabled", 200, {}, None),
    # enabled: each PUT gets a new id; the earlier null version is kept
    ("PUT", b"v1", 200, {"x-amz-version-id": "+V1"}, None),
    ("PUT", b"v2", 200, {"x-amz-version-id": "+V2"}, None),
    ("GET", None, 200, {"x-amz-version-id": "=V2"}, b"v2"),
    ("GET?versionId", "V1", 200, {"x-amz-version-id": "=V1"}, b"v1"),
    ("GET?versionId", "null", 200, {}, b"v0"),
    ("HEAD?versionId", "V1", 200, {"x-amz-version-id": "=V1", "content-length": "2"}, None),
    ("LIST", None, 200, {}, [(V, "V2", True), (V, "V1", False), (V, "null", False)]),
    # DELETE without versionId: a delete marker, the data stays
    ("DELETE", None, 204, {"x-amz-delete-marker": "true", "x-amz-version-id": "+M1"}, None),
    ("GET", None, 404, {"x-amz-delete-marker": "true", "x-amz-version-id": "=M1"}, "NoSuchKey"),
    ("HEAD", None, 404, {"x-amz-delete-marker": "true", "x-amz-version-id": "=M1"}, None),
    (
        "GET?versionId",
        "M1",
        405,
        {"x-amz-delete-marker": "true", "x-amz-version-id": "=M1"},
        "MethodNotAllowed",
    ),
    ("HEAD?versionId", "M1", 405, {"x-amz-delete-marker": "true"}, None),
    ("GET?versionId", "V2", 200, {"x-amz-version-id": "=V2"}, b"v2"),
    ("LISTKEYS", None, 200, {}, []),
    ("LIST", None, 200, {}, [(M, "M1", True), (V, "V2", False), (V, "V1", False), (V, "null", False)]),
    # suspended: a PUT replaces the null version, keeps the others
    ("VERSIONING", "Suspended", 200, {}, None),
    ("PUT", b"s1", 200, {}, None),
    ("GET", None, 200, {}, b"s1"),
    ("GET?versionId", "null", 200, {}, b"s1"),
    ("LIST", None, 200, {}, [(V, "null", True), (M, "M1", False), (V, "V2", False), (V, "V1", False)]),
    # a DELETE while suspended: a delete marker with the null version id, replacing s1
    ("DELETE", None, 204, {"x-amz-delete-marker": "true", "x-amz-version-id": "null"}, None),
    ("GET", None, 404, {"x-amz-delete-marker": "true"}, "NoSuchKey"),
    ("GET?versionId", "null", 405, {"x-amz-delete-marker": "true"}, "MethodNotAllowed"),
    ("LIST", None, 200, {}, [(M, "null", True), (M, "M1", False), (V, "V2", False), (V, "V1", False)]),
    ("VERSIONING", "Enabled", 200, {}, None),
    # undelete by deleting the markers, newest first
    ("DELETE?versionId", "null", 204, {"x-amz-delete-marker": "true", "x-amz-version-id": "null"}, None),
    ("GET", None, 404, {"x-amz-delete-marker": "true", "x-amz-version-id": "=M1"}, "NoSuchKey"),
    ("DELETE?versionId", "M1", 204, {"x-amz-delete-marker": "true", "x-amz-version-id": "=M1"}, None),
    ("GET", None, 200, {"x-amz-version-id": "=V2"}, b"v2"),
    ("LISTKEYS", None, 200, {}, ["k"]),
    # deleting the current version by id promotes the previous one; no marker is written
    ("DELETE?versionId", "V2", 204, {"x-amz-delete-marker": ABSENT, "x-amz-version-id": "=V2"}, None),
    ("GET", None, 200, {"x-amz-version-id": "=V1"}, b"v1"),
    ("GET?versionId", "V2", 404, {}, "NoSuchVersion"),
    ("DELETE?versionId", "V2", 204, {"x-amz-delete-marker": ABSENT}, None),  # already gone: still a success
    ("LIST", None, 200, {}, [(V, "V1", True)]),
    ("PUT", b"v3", 200, {"x-amz-version-id": "+V3"}, None),
    ("LIST", None, 200, {}, [(V, "V3", True), (V, "V1", False)]),
]


@dataclass
class Names:
    ids: dict[str, str] = field(default_factory=lambda: {"null": "null"})

    def check(self, row: tuple, headers, name: str, expected: object) -> None:  # type: ignore[no-untyped-def]
        got = headers.get(name)
        if expected is ABSENT:
            assert got is None, (row, name, got)
        elif isinstance(expected, str) and expected.startswith("+"):
            assert got is not None and re.fullmatch(r"[0-9A-Za-z._-]{1,1024}", got) and got != "null", (
                row,
                got,
            )
            assert got not in self.ids.values(), (row, got)
            self.ids[expected[1:]] = got
        elif isinstance(expected, str) and expected.startswith("="):
            assert got == self.ids[expected[1:]], (row, name, got, self.ids)
        else:
            assert got == expected, (row, name, got)


def test_versioning_scenario_table(server, s3, bucket):
    names = Names()
    path = key_path(bucket, "k")
    for row in SCENARIO:
        action, arg, status, headers, body = row
        method, _, sub = action.partition("?")
        if method == "VERSIONING":
            resp = raw(server, "PUT", f"/{bucket}", query={"versioning": ""}, body=versioning_body(arg))
            assert resp.status_code == status, (row, resp.text)
            assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == arg
            continue
        if method == "LIST":
            got = [(kind, key, vid, latest) for kind, key, vid, latest in versions_xml(server, bucket)]
            reverse = {v: k for k, v in names.ids.items()}
            assert [(kind, reverse.get(vid, vid), latest) for kind, _, vid, latest in got] == body, row
            assert all(key == "k" for _, key, _, _ in got)
            continue
        if method == "LISTKEYS":
            assert list_all_keys(s3, bucket) == body, row
            continue
        query = {"versionId": names.ids[arg]} if sub == "versionId" else None
        resp = raw(server, method, path, query=query, body=arg if method == "PUT" else b"")
        assert resp.status_code == status, (row, resp.status_code, resp.text)
        for name, expected in headers.items():
            names.check(row, resp.headers, name, expected)
        if isinstance(body, bytes):
            assert resp.content == body, row
        elif isinstance(body, str):
            assert_xml_error(resp, status, body)
        if method == "HEAD":
            assert resp.content == b""


def test_get_bucket_versioning_states(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=ENABLED)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=SUSPENDED)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


@pytest.mark.parametrize("status", ["Disabled", "enabled", ""])
def test_put_bucket_versioning_bad_status(server, s3, bucket, status):
    resp = raw(server, "PUT", f"/{bucket}", query={"versioning": ""}, body=versioning_body(status))
    assert_xml_error(
        resp, 400, ("MalformedXML", "IllegalVersioningConfigurationException", "InvalidArgument")
    )
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_mfa_delete_is_refused_clearly(server, s3, bucket):
    resp = raw(
        server, "PUT", f"/{bucket}", query={"versioning": ""}, body=versioning_body("Enabled", "Enabled")
    )
    assert resp.status_code >= 400
    fields = assert_xml_error(
        resp, resp.status_code, ("NotImplemented", "InvalidRequest", "InvalidArgument", "AccessDenied")
    )
    assert "MFA" in fields["Message"], fields
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)  # nothing half-applied
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
        )
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 400
    # MfaDelete Disabled is what S3 reports by default: accepted
    resp = raw(
        server, "PUT", f"/{bucket}", query={"versioning": ""}, body=versioning_body("Enabled", "Disabled")
    )
    assert resp.status_code == 200, resp.text
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


# ---------------------------------------------------------------- version ids that are wrong


@pytest.fixture
def vbucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=ENABLED)
    return bucket


def test_version_id_that_never_existed(server, s3, vbucket):
    real = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    fake = real[:-4] + ("0000" if not real.endswith("0000") else "1111")
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=fake)
    assert err(ei.value) == ("NoSuchVersion", 404)
    resp = raw(server, "GET", key_path(vbucket, "k"), query={"versionId": fake})
    fields = assert_xml_error(resp, 404, "NoSuchVersion")
    assert fields.get("VersionId") == fake and fields.get("Key") == "k"
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=fake)
    assert err(ei.value)[1] == 404
    with pytest.raises(ClientError) as ei:
        s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=fake)
    assert err(ei.value) == ("NoSuchVersion", 404)
    # S3: deleting a version that is not there succeeds and changes nothing
    assert (
        s3.delete_object(Bucket=vbucket, Key="k", VersionId=fake)["ResponseMetadata"]["HTTPStatusCode"] == 204
    )
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == real
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=vbucket, Key="never-written", VersionId=real)
    assert err(ei.value) == ("NoSuchVersion", 404)


def test_version_id_of_another_key(s3, vbucket):
    va = s3.put_object(Bucket=vbucket, Key="a", Body=b"a")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="b", Body=b"b")
    for call in (
        lambda: s3.get_object(Bucket=vbucket, Key="b", VersionId=va),
        lambda: s3.copy_object(
            Bucket=vbucket, Key="c", CopySource={"Bucket": vbucket, "Key": "b", "VersionId": va}
        ),
    ):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei.value) == ("NoSuchVersion", 404)
    s3.delete_object(Bucket=vbucket, Key="b", VersionId=va)
    assert s3.get_object(Bucket=vbucket, Key="a", VersionId=va)["Body"].read() == b"a"


@pytest.mark.parametrize("bad", ["not-a-version", "x" * 40, "%00"])
def test_malformed_version_id_is_400(server, s3, vbucket, bad):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    for method in ("GET", "DELETE"):
        resp = raw(server, method, key_path(vbucket, "k"), query={"versionId": bad})
        assert_xml_error(resp, 400, "InvalidArgument")
    resp = raw(server, "HEAD", key_path(vbucket, "k"), query={"versionId": bad})
    assert resp.status_code == 400
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"x"


def test_list_versions_version_marker_without_key_marker(server, s3, vbucket):
    vid = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    resp = raw(server, "GET", f"/{vbucket}", query={"versions": "", "version-id-marker": vid})
    assert_xml_error(resp, 400, "InvalidArgument")


def test_bucket_with_only_history_cannot_be_deleted(s3, vbucket):
    vid = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    assert list_all_keys(s3, vbucket) == []
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=vbucket)
    assert err(ei.value) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=vid)
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=vbucket)


# ---------------------------------------------------------------- ListObjectVersions at scale


def _paginate(s3, bucket: str, max_keys: int, **kw) -> tuple[list[tuple], list[str]]:  # type: ignore[no-untyped-def]
    entries: list[tuple] = []
    prefixes: list[str] = []
    args: dict = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=max_keys, **kw, **args)
        pages += 1
        items = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
        items += [(d["Key"], d["VersionId"], True, d["IsLatest"]) for d in page.get("DeleteMarkers", [])]
        # boto3 splits versions and markers; S3's order is key ascending, newest (largest id) first
        items.sort(key=lambda e: (e[0].encode(), _neg(e[1])))
        page_prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert len(items) + len(page_prefixes) <= max_keys
        entries += items
        prefixes += page_prefixes
        if not page["IsTruncated"]:
            return entries, prefixes
        assert len(items) + len(page_prefixes) == max_keys
        args = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextVersionIdMarker"):
            args["VersionIdMarker"] = page["NextVersionIdMarker"]
        assert pages < 5000


def _neg(version_id: str) -> tuple:
    return tuple(-ord(c) for c in version_id)


@pytest.fixture(scope="module")
def many_versions(server):
    """2,500 versions over five keys (some under a/), written by 16 threads, plus delete markers."""
    s3 = server.client(Config(max_pool_connections=16))
    bucket = unique_bucket("vers")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=ENABLED)
    keys = ["a/one", "a/two", "b", "c", "d/deep/er"]
    jobs = [(keys[i % 5], i) for i in range(2490)]

    def put(job: tuple[str, int]) -> tuple[str, str, bool]:
        key, i = job
        return key, s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())["VersionId"], False

    with ThreadPoolExecutor(16) as pool:
        written = list(pool.map(put, jobs))
    for key in ("a/two", "c"):  # markers on top of two keys, twice on one
        written.append((key, s3.delete_object(Bucket=bucket, Key=key)["VersionId"], True))
    for _ in range(8):
        written.append(("b", s3.delete_object(Bucket=bucket, Key="b")["VersionId"], True))
    assert len(written) == 2500
    expected = []
    for key in sorted(keys):
        mine = sorted(((vid, marker) for k, vid, marker in written if k == key), reverse=True)
        expected += [(key, vid, marker, i == 0) for i, (vid, marker) in enumerate(mine)]
    return s3, bucket, expected


def test_many_versions_ids_unique_and_time_ordered(many_versions):
    s3, bucket, expected = many_versions
    ids = [e[1] for e in expected]
    assert len(set(ids)) == 2500
    # the newest write to a key is its current version (the ids order writes by time)
    for key in ("a/one", "d/deep/er"):
        newest = next(e for e in expected if e[0] == key)
        assert s3.head_object(Bucket=bucket, Key=key)["VersionId"] == newest[1]


@pytest.mark.parametrize("max_keys", [1000, 7, 333])
def test_list_versions_pagination_2500(many_versions, max_keys):
    s3, bucket, expected = many_versions
    entries, prefixes = _paginate(s3, bucket, max_keys)
    assert prefixes == []
    assert entries == expected


def test_list_versions_paginator_2500(many_versions):
    s3, bucket, expected = many_versions
    got = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
        items += [(d["Key"], d["VersionId"], True, d["IsLatest"]) for d in page.get("DeleteMarkers", [])]
        got += sorted(items, key=lambda e: (e[0].encode(), _neg(e[1])))
    assert got == expected


@pytest.mark.parametrize("max_keys", [1000, 99])
def test_list_versions_pagination_with_delimiter_and_prefix(many_versions, max_keys):
    s3, bucket, expected = many_versions
    entries, prefixes = _paginate(s3, bucket, max_keys, Delimiter="/")
    assert prefixes == ["a/", "d/"]
    assert entries == [e for e in expected if "/" not in e[0]]
    entries, prefixes = _paginate(s3, bucket, max_keys, Prefix="a/")
    assert entries == [e for e in expected if e[0].startswith("a/")] and prefixes == []
    entries, prefixes = _paginate(s3, bucket, max_keys, Prefix="d/", Delimiter="/")
    assert entries == [] and prefixes == ["d/deep/"]


def test_list_versions_encoding_type_url(server, s3, vbucket):
    key = "dir with space/ü&<x>\u0001"
    vid = s3.put_object(Bucket=vbucket, Key=key, Body=b"x")["VersionId"]
    page = s3.list_object_versions(Bucket=vbucket)  # boto3 asks for url encoding and decodes
    assert [(v["Key"], v["VersionId"]) for v in page["Versions"]] == [(key, vid)]
    resp = raw(server, "GET", f"/{vbucket}", query={"versions": "", "encoding-type": "url"})
    keys = [k.text for k in xml_find(ET.fromstring(resp.content), "Version/Key")]
    assert keys == ["dir%20with%20space/%C3%BC%26%3Cx%3E%01"]


# ---------------------------------------------------------------- copies and batch deletes


def test_copy_object_from_a_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="src", Body=b"second")
    resp = s3.copy_object(
        Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1}
    )
    assert resp["CopySourceVersionId"] == v1
    assert resp["CopyObjectResult"]["ETag"] == etag_of(b"first")
    assert resp["VersionId"] not in (v1, "null")
    got = s3.get_object(Bucket=vbucket, Key="dst")
    assert got["Body"].read() == b"first" and got["VersionId"] == resp["VersionId"]
    # restoring an old version onto its own key: a new current version with the old bytes
    restored = s3.copy_object(
        Bucket=vbucket, Key="src", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1}
    )
    assert s3.get_object(Bucket=vbucket, Key="src")["Body"].read() == b"first"
    listed = s3.list_object_versions(Bucket=vbucket, Prefix="src")["Versions"]
    assert [v["VersionId"] for v in listed][0] == restored["VersionId"] and len(listed) == 3


def test_copy_object_from_a_delete_marker(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="src", Body=b"x")
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert err(ei.value) == ("NoSuchKey", 404)
    # S3 (CopyObject docs): naming a delete marker as x-amz-copy-source's version is a 400 Bad Request
    with pytest.raises(ClientError) as ei:
        s3.copy_object(
            Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker}
        )
    code, status = err(ei.value)
    assert status == 400 and code in ("InvalidRequest", "InvalidArgument"), (code, status)


def test_delete_objects_with_version_ids(s3, vbucket):
    k1 = [s3.put_object(Bucket=vbucket, Key="k1", Body=f"{i}".encode())["VersionId"] for i in range(2)]
    s3.put_object(Bucket=vbucket, Key="k2", Body=b"k2")
    s3.put_object(Bucket=vbucket, Key="k3", Body=b"k3")
    m3 = s3.delete_object(Bucket=vbucket, Key="k3")["VersionId"]
    missing = k1[0][:-4] + ("0000" if not k1[0].endswith("0000") else "1111")
    resp = s3.delete_objects(
        Bucket=vbucket,
        Delete={
            "Objects": [
                {"Key": "k1", "VersionId": k1[1]},  # the current version: k1 falls back to k1[0]
                {"Key": "k2"},  # no version: a new delete marker
                {"Key": "k3", "VersionId": m3},  # a delete marker by id: k3 is back
                {"Key": "k1", "VersionId": missing},  # not there: still reported as deleted
            ]
        },
    )
    assert resp.get("Errors", []) == []
    deleted = {(d["Key"], d.get("VersionId")): d for d in resp["Deleted"]}
    assert set(deleted) == {("k1", k1[1]), ("k2", None), ("k3", m3), ("k1", missing)}
    assert not deleted[("k1", k1[1])].get("DeleteMarker")
    assert "DeleteMarkerVersionId" not in deleted[("k1", k1[1])]
    k2 = deleted[("k2", None)]
    assert k2["DeleteMarker"] is True and k2["DeleteMarkerVersionId"] not in (None, "null")
    k3 = deleted[("k3", m3)]
    assert k3["DeleteMarker"] is True and k3["DeleteMarkerVersionId"] == m3
    assert s3.get_object(Bucket=vbucket, Key="k1")["VersionId"] == k1[0]
    assert s3.get_object(Bucket=vbucket, Key="k3")["Body"].read() == b"k3"
    markers = s3.list_object_versions(Bucket=vbucket, Prefix="k2")["DeleteMarkers"]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [(k2["DeleteMarkerVersionId"], True)]
    assert list_all_keys(s3, vbucket) == ["k1", "k3"]


def test_delete_objects_quiet_with_versions(s3, vbucket):
    vid = s3.put_object(Bucket=vbucket, Key="q", Body=b"x")["VersionId"]
    resp = s3.delete_objects(
        Bucket=vbucket, Delete={"Objects": [{"Key": "q", "VersionId": vid}], "Quiet": True}
    )
    assert resp.get("Deleted", []) == [] and resp.get("Errors", []) == []
    assert s3.list_object_versions(Bucket=vbucket, Prefix="q").get("Versions", []) == []


def test_list_versions_of_an_unversioned_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a", Body=b"22")
    page = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in page["Versions"]] == [("a", "null", True, 2)]
    assert page.get("DeleteMarkers", []) == []
    # DELETE ?versionId=null removes the object itself
    s3.delete_object(Bucket=bucket, Key="a", VersionId="null")
    assert s3.list_object_versions(Bucket=bucket).get("Versions", []) == []


def test_delete_objects_in_a_suspended_bucket(s3, vbucket):
    kept = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration=SUSPENDED)
    resp = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "k"}]})
    (deleted,) = resp["Deleted"]
    assert deleted["DeleteMarker"] is True and deleted["DeleteMarkerVersionId"] == "null"
    page = s3.list_object_versions(Bucket=vbucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in page["DeleteMarkers"]] == [("null", True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in page["Versions"]] == [(kept, False)]


def test_list_versions_never_returns_more_than_1000(many_versions):
    s3, bucket, expected = many_versions
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=5000)
    got = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
    got += [(d["Key"], d["VersionId"], True, d["IsLatest"]) for d in page.get("DeleteMarkers", [])]
    assert len(got) == 1000 and page["IsTruncated"] is True
    assert sorted(got, key=lambda e: (e[0].encode(), _neg(e[1]))) == expected[:1000]
    assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == expected[999][:2]
