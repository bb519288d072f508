"""Object and bucket tagging against a real server: the tagging subresources, x-amz-tagging on PUT,
CreateMultipartUpload and CopyObject (with its directive), the tag count on GET/HEAD, and S3's limits."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from .helpers import assert_xml_error, err, key_path, raw

pytestmark = pytest.mark.e2e


def tagset(tags: dict[str, str]) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3, bucket: str, key: str, **kw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def tag_count(resp: dict) -> int | None:
    return resp.get("TagCount")


def test_put_get_delete_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert tags_of(s3, bucket, "k") == {}
    assert tag_count(s3.head_object(Bucket=bucket, Key="k")) is None
    tags = {"project": "bayou", "stage": "raw data", "empty": "", "unicode-ключ": "значение/+=.:_@-"}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(tags))
    assert tags_of(s3, bucket, "k") == tags
    assert tag_count(s3.get_object(Bucket=bucket, Key="k")) == 4
    assert tag_count(s3.head_object(Bucket=bucket, Key="k")) == 4
    # a Put replaces the whole set
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset({"only": "one"}))
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    resp = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    assert tag_count(s3.get_object(Bucket=bucket, Key="k")) is None
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"  # tags never touch the data


def test_tagging_a_missing_object(s3, bucket):
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=tagset({"a": "b"})),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei.value) == ("NoSuchKey", 404)


def test_tagging_by_version_id(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=2&extra=yes")["VersionId"]
    assert tags_of(s3, bucket, "k") == {"gen": "2", "extra": "yes"}
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "1"}
    resp = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tagset({"gen": "one"}))
    assert resp["VersionId"] == v1
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert got["VersionId"] == v1 and got["TagSet"] == [{"Key": "gen", "Value": "one"}]
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["VersionId"] == v2
    assert tags_of(s3, bucket, "k") == {"gen": "2", "extra": "yes"}
    assert tag_count(s3.head_object(Bucket=bucket, Key="k", VersionId=v1)) == 1
    assert tag_count(s3.get_object(Bucket=bucket, Key="k", VersionId=v2)) == 2
    resp = s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v2)
    assert resp["VersionId"] == v2
    assert tags_of(s3, bucket, "k") == {} and tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "one"}
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as ei:
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=marker)
    assert err(ei.value)[1] == 405
    with pytest.raises(ClientError) as ei:
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker, Tagging=tagset({"a": "b"}))
    assert err(ei.value)[1] == 405
    with pytest.raises(ClientError) as ei:
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="0" * len(v1))
    assert err(ei.value) == ("NoSuchVersion", 404)


def test_x_amz_tagging_on_put_object(s3, bucket):
    header = urlencode({"a b": "c&d", "k=": "v/1", "e": ""})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=header)
    assert tags_of(s3, bucket, "k") == {"a b": "c&d", "k=": "v/1", "e": ""}
    assert tag_count(s3.head_object(Bucket=bucket, Key="k")) == 3
    # an overwrite without the header has no tags
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    assert tags_of(s3, bucket, "k") == {}


def test_x_amz_tagging_on_multipart_upload(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="dataset=imagenet&split=train")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags_of(s3, bucket, "mp") == {"dataset": "imagenet", "split": "train"}
    assert tag_count(s3.get_object(Bucket=bucket, Key="mp")) == 2


def test_copy_object_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=2")
    src = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="default", CopySource=src)
    assert tags_of(s3, bucket, "default") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=src, TaggingDirective="COPY", Tagging="ignored=1")
    assert tags_of(s3, bucket, "copy") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="replace", CopySource=src, TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replace") == {"c": "3"}
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource=src, TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "cleared") == {}
    # replacing tags alone is a legal copy onto itself
    s3.copy_object(Bucket=bucket, Key="src", CopySource=src, TaggingDirective="REPLACE", Tagging="new=yes")
    assert tags_of(s3, bucket, "src") == {"new": "yes"}
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src, TaggingDirective="REPLACE", Tagging="aws:x=1")
    assert err(ei.value) == ("InvalidTag", 400)
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src, TaggingDirective="MERGE")
    assert err(ei.value) == ("InvalidArgument", 400)


LIMITS = {
    "eleven-tags": {f"k{i}": "v" for i in range(11)},
    "key-129": {"K" * 129: "v"},
    "value-257": {"k": "V" * 257},
    "aws-prefix": {"aws:created-by": "me"},
}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_tag_limits_on_put_object_tagging(s3, bucket, case):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    with pytest.raises(ClientError) as ei:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(LIMITS[case]))
    assert err(ei.value) == ("InvalidTag", 400)
    assert tags_of(s3, bucket, "k") == {"keep": "me"}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_tag_limits_on_put_object_header(s3, bucket, case):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=urlencode(LIMITS[case]))
    assert err(ei.value) == ("InvalidTag", 400)
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="k")
    assert err(ei.value)[1] == 404
    with pytest.raises(ClientError) as ei:
        s3.create_multipart_upload(Bucket=bucket, Key="k", Tagging=urlencode(LIMITS[case]))
    assert err(ei.value) == ("InvalidTag", 400)


def test_tag_limits_at_the_boundary_are_accepted(s3, bucket):
    tags = {f"k{i}": "v" for i in range(9)} | {"K" * 128: "V" * 256}
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(tags))
    assert tags_of(s3, bucket, "k") == tags
    s3.put_object(Bucket=bucket, Key="h", Body=b"x", Tagging=urlencode(tags))
    assert tags_of(s3, bucket, "h") == tags


def test_duplicate_tag_keys(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = (b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
            b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>")
    resp = raw(server, "PUT", key_path(bucket, "k"), query={"tagging": ""}, body=body)
    assert_xml_error(resp, 400, "InvalidTag")
    ok = body.replace(b"<Key>a</Key><Value>2", b"<Key>b</Key><Value>2")
    assert raw(server, "PUT", key_path(bucket, "k"), query={"tagging": ""}, body=ok).status_code == 200
    assert tags_of(s3, bucket, "k") == {"a": "1", "b": "2"}
    resp = raw(server, "PUT", key_path(bucket, "h"), headers={"x-amz-tagging": "a=1&a=2"}, body=b"x")
    assert resp.status_code == 400
    assert_xml_error(resp, 400, ("InvalidTag", "InvalidArgument"))


def test_malformed_tagging_document(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for body in (b"<Tagging><Tag/></Tagging>", b"not xml", b"<Other><TagSet/></Other>"):
        resp = raw(server, "PUT", key_path(bucket, "k"), query={"tagging": ""}, body=body)
        assert_xml_error(resp, 400, "MalformedXML")


# ---------------------------------------------------------------- bucket tagging


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_tagging(Bucket=bucket)
    assert err(ei.value) == ("NoSuchTagSet", 404)
    tags = {"team": "ml", "cost-center": "42"}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(tags))
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {t["Key"]: t["Value"] for t in got} == tags
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset({"team": "data"}))
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "data"}]
    resp = s3.delete_bucket_tagging(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_tagging(Bucket=bucket)
    assert err(ei.value) == ("NoSuchTagSet", 404)


def test_bucket_tagging_limits(s3, bucket):
    fifty = {f"k{i}": "v" for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(fifty))
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    for bad in ({**fifty, "k50": "v"}, {"aws:x": "1"}, {"K" * 129: "v"}):
        with pytest.raises(ClientError) as ei:
            s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(bad))
        assert err(ei.value) == ("InvalidTag", 400)
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50


def test_bucket_tagging_of_missing_bucket(s3):
    for call in (lambda: s3.get_bucket_tagging(Bucket="no-such-bucket-tagging"),
                 lambda: s3.put_bucket_tagging(Bucket="no-such-bucket-tagging", Tagging=tagset({"a": "b"})),
                 lambda: s3.delete_bucket_tagging(Bucket="no-such-bucket-tagging")):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei.value) == ("NoSuchBucket", 404)
