"""Bucket events delivered to functions, through a real `bayou server`: the S3 event record as
docs/events.md describes it, for every event name, with filters and qualified ARNs.

One recorder function writes each record it receives into `<source bucket>-sink` under
`<eventName>/<url-encoded record key>/<sequencer>` (with boto3's defaults inside the handler, as on
Lambda), so the tests read exactly what the handler saw from outside the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from urllib.parse import quote, unquote, unquote_plus

import httpx
import pytest
from botocore.exceptions import ClientError

from .fnutil import create_function, function_arn, lambda_client, unique_name, wait_active
from .helpers import REGION, list_all_keys, unique_bucket

pytestmark = pytest.mark.e2e

RECORDER = """
import json, os, urllib.parse
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        obj = record["s3"]["object"]
        key = "/".join([record["eventName"], urllib.parse.quote(obj["key"], safe=""), obj["sequencer"]])
        body = {"record": record, "records_in_event": len(event["Records"]),
                "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
                "mark": os.environ.get("MARK"), "invoked_arn": context.invoked_function_arn}
        s3.put_object(Bucket=record["s3"]["bucket"]["name"] + "-sink", Key=key, Body=json.dumps(body).encode())
"""

ALL_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"]
EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SEQUENCER = re.compile(r"^[0-9A-F]+$")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


@pytest.fixture(scope="module")
def recorder(lam) -> str:
    name = unique_name("evrec")
    create_function(lam, name, RECORDER, Timeout=30)
    return name


def make_buckets(s3, versioned: bool = False) -> tuple[str, str]:
    bucket = unique_bucket("ev")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket + "-sink")
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket, bucket + "-sink"


def configure(s3, bucket: str, arn: str, *, id: str = "rule-1", events=ALL_EVENTS, prefix=None, suffix=None):
    rule: dict = {"Id": id, "LambdaFunctionArn": arn, "Events": list(events)}
    filters = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v is not None]
    if filters:
        rule["Filter"] = {"Key": {"FilterRules": filters}}
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [rule]}
    )


def sink_entries(s3, sink: str) -> list[dict]:
    out = []
    for key in list_all_keys(s3, sink):
        body = json.loads(s3.get_object(Bucket=sink, Key=key)["Body"].read())
        body["sink_key"] = key
        out.append(body)
    return out


def wait_records(s3, sink: str, count: int, timeout: float = 30.0) -> list[dict]:
    """Wait until the sink holds at least `count` records; returns them all (parsed)."""
    deadline = time.monotonic() + timeout
    while True:
        keys = list_all_keys(s3, sink)
        if len(keys) >= count:
            return sink_entries(s3, sink)
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(keys)} of {count} records in {sink} after {timeout}s: {keys}")
        time.sleep(0.1)


def by_name(entries: list[dict], event_name: str) -> list[dict]:
    return [e["record"] for e in entries if e["record"]["eventName"] == event_name]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def seq_key(sequencer: str) -> tuple[int, str]:
    """AWS: compare sequencers as strings after left-padding the shorter with zeros."""
    return (len(sequencer.lstrip("0")), sequencer.lstrip("0"))


def assert_common(record: dict, *, bucket: str, key: str, event_name: str, rule_id: str, t0: float) -> dict:
    """Every field docs/events.md lists; returns s3.object."""
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == REGION
    assert EVENT_TIME.match(record["eventTime"]), record["eventTime"]
    when = dt.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()
    assert t0 - 2 <= when <= time.time() + 2, (record["eventTime"], t0)
    assert record["eventName"] == event_name
    assert not record["eventName"].startswith("s3:")
    assert record["userIdentity"]["principalId"], record
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1", record
    assert record["responseElements"]["x-amz-request-id"], record
    assert "x-amz-id-2" in record["responseElements"], record
    s3 = record["s3"]
    assert s3["configurationId"] == rule_id
    assert s3["bucket"]["name"] == bucket
    assert s3["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert s3["bucket"]["ownerIdentity"]["principalId"], s3["bucket"]
    obj = s3["object"]
    assert unquote_plus(obj["key"]) == key, obj
    assert SEQUENCER.match(obj["sequencer"]), obj
    return obj


def assert_created(obj: dict, data: bytes | None = None, *, etag: str | None = None, size: int | None = None):
    assert obj["size"] == (len(data) if data is not None else size), obj
    assert obj["eTag"] == (md5(data) if data is not None else etag), obj
    assert '"' not in obj["eTag"], obj


# ---------------------------------------------------------------- created


def test_put_record_has_the_documented_shape(server, s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="created-rule", events=["s3:ObjectCreated:*"])
    t0 = time.time()
    data = b"hello events\n"
    resp = s3.put_object(Bucket=bucket, Key="docs/readme.txt", Body=data)
    (entry,) = wait_records(s3, sink, 1)
    assert entry["records_in_event"] == 1  # {"Records": [record]}
    record = entry["record"]
    obj = assert_common(record, bucket=bucket, key="docs/readme.txt", event_name="ObjectCreated:Put",
                        rule_id="created-rule", t0=t0)
    assert obj["key"] == "docs/readme.txt"
    assert_created(obj, data)
    assert "versionId" not in obj, obj
    assert record["responseElements"]["x-amz-request-id"] == resp["ResponseMetadata"]["RequestId"]
    assert entry["sink_key"] == f"ObjectCreated:Put/{quote('docs/readme.txt', safe='')}/{obj['sequencer']}"


def test_key_is_form_url_encoded(s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), events=["s3:ObjectCreated:Put"])
    key = "dir/a b+c é.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    (entry,) = wait_records(s3, sink, 1)
    obj = entry["record"]["s3"]["object"]
    # Form URL encoding: space → '+', '+' → %2B, UTF-8 percent-encoded, '/' kept.
    assert obj["key"] == "dir/a+b%2Bc+%C3%A9.txt", obj
    assert unquote_plus(obj["key"]) == key
    assert unquote(entry["sink_key"].split("/")[1]) == obj["key"]


def test_post_event(server, s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="posts", events=["s3:ObjectCreated:Post"])
    t0 = time.time()
    data = b"form upload body"
    post = s3.generate_presigned_post(bucket, "forms/upload.bin", ExpiresIn=300)
    resp = httpx.post(post["url"], data=post["fields"],
                      files={"file": ("upload.bin", data, "application/octet-stream")})
    assert resp.status_code == 204, resp.text
    (entry,) = wait_records(s3, sink, 1)
    obj = assert_common(entry["record"], bucket=bucket, key="forms/upload.bin", event_name="ObjectCreated:Post",
                        rule_id="posts", t0=t0)
    assert_created(obj, data)


def test_copy_event(s3, recorder):
    bucket, sink = make_buckets(s3)
    data = b"copy me" * 10
    s3.put_object(Bucket=bucket, Key="src.txt", Body=data)  # before the rule: no event
    configure(s3, bucket, function_arn(recorder), id="copies", events=["s3:ObjectCreated:*"])
    t0 = time.time()
    s3.copy_object(Bucket=bucket, Key="dst.txt", CopySource={"Bucket": bucket, "Key": "src.txt"})
    (entry,) = wait_records(s3, sink, 1)
    obj = assert_common(entry["record"], bucket=bucket, key="dst.txt", event_name="ObjectCreated:Copy",
                        rule_id="copies", t0=t0)
    assert_created(obj, data)


def test_complete_multipart_upload_event(s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="mpu", events=["s3:ObjectCreated:*"])
    t0 = time.time()
    parts_data = [b"a" * (5 * MiB), b"b" * 1000]
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")
    parts = []
    for n, chunk in enumerate(parts_data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=mpu["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=mpu["UploadId"],
                                        MultipartUpload={"Parts": parts})
    (entry,) = wait_records(s3, sink, 1)
    obj = assert_common(entry["record"], bucket=bucket, key="big.bin",
                        event_name="ObjectCreated:CompleteMultipartUpload", rule_id="mpu", t0=t0)
    expected_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts_data)).hexdigest() + "-2"
    assert done["ETag"].strip('"') == expected_etag
    assert_created(obj, etag=expected_etag, size=sum(map(len, parts_data)))


# ---------------------------------------------------------------- removed and tagging


def test_delete_event_unversioned(s3, recorder):
    bucket, sink = make_buckets(s3)
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"bye")
    configure(s3, bucket, function_arn(recorder), id="removals", events=["s3:ObjectRemoved:*"])
    t0 = time.time()
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    (entry,) = wait_records(s3, sink, 1)
    obj = assert_common(entry["record"], bucket=bucket, key="gone.txt", event_name="ObjectRemoved:Delete",
                        rule_id="removals", t0=t0)
    assert "versionId" not in obj, obj
    assert "size" not in obj and "eTag" not in obj, obj  # only created/tagging events carry them


def test_versioned_put_delete_marker_and_version_delete(s3, recorder):
    bucket, sink = make_buckets(s3, versioned=True)
    configure(s3, bucket, function_arn(recorder), id="versions")
    t0 = time.time()
    v1 = s3.put_object(Bucket=bucket, Key="v.txt", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v.txt", Body=b"two")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="v.txt")
    assert marker["DeleteMarker"] is True
    s3.delete_object(Bucket=bucket, Key="v.txt", VersionId=v1)
    entries = wait_records(s3, sink, 4)
    assert len(entries) == 4, [e["sink_key"] for e in entries]

    puts = by_name(entries, "ObjectCreated:Put")
    assert {r["s3"]["object"]["versionId"] for r in puts} == {v1, v2}
    for r in puts:
        obj = assert_common(r, bucket=bucket, key="v.txt", event_name="ObjectCreated:Put", rule_id="versions", t0=t0)
        assert_created(obj, b"one" if obj["versionId"] == v1 else b"two")

    (dm,) = by_name(entries, "ObjectRemoved:DeleteMarkerCreated")
    obj = assert_common(dm, bucket=bucket, key="v.txt", event_name="ObjectRemoved:DeleteMarkerCreated",
                        rule_id="versions", t0=t0)
    assert obj["versionId"] == marker["VersionId"], obj

    (deleted,) = by_name(entries, "ObjectRemoved:Delete")
    obj = assert_common(deleted, bucket=bucket, key="v.txt", event_name="ObjectRemoved:Delete",
                        rule_id="versions", t0=t0)
    assert obj["versionId"] == v1, obj

    # One key, four mutations in order: the sequencers increase in that order.
    ordered = [next(r for r in puts if r["s3"]["object"]["versionId"] == v1),
               next(r for r in puts if r["s3"]["object"]["versionId"] == v2), dm, deleted]
    seqs = [r["s3"]["object"]["sequencer"] for r in ordered]
    assert [seq_key(s) for s in seqs] == sorted({seq_key(s) for s in seqs}), seqs


def test_delete_objects_gives_one_event_per_key(s3, recorder):
    bucket, sink = make_buckets(s3, versioned=True)
    for key in ("m/one", "m/two"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    v3 = s3.put_object(Bucket=bucket, Key="m/three", Body=b"x")["VersionId"]
    configure(s3, bucket, function_arn(recorder), id="multi", events=["s3:ObjectRemoved:*"])
    t0 = time.time()
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "m/one"}, {"Key": "m/two"}, {"Key": "m/three", "VersionId": v3}]})
    assert len(resp["Deleted"]) == 3, resp
    markers = {d["Key"]: d["DeleteMarkerVersionId"] for d in resp["Deleted"] if d.get("DeleteMarker")}
    entries = wait_records(s3, sink, 3)
    assert len(entries) == 3, [e["sink_key"] for e in entries]
    got = {unquote_plus(e["record"]["s3"]["object"]["key"]): e["record"] for e in entries}
    for key in ("m/one", "m/two"):
        obj = assert_common(got[key], bucket=bucket, key=key, event_name="ObjectRemoved:DeleteMarkerCreated",
                            rule_id="multi", t0=t0)
        assert obj["versionId"] == markers[key], (obj, markers)
    obj = assert_common(got["m/three"], bucket=bucket, key="m/three", event_name="ObjectRemoved:Delete",
                        rule_id="multi", t0=t0)
    assert obj["versionId"] == v3


def test_versioned_tagging_and_copy_carry_the_version_id(s3, recorder):
    bucket, sink = make_buckets(s3, versioned=True)
    v1 = s3.put_object(Bucket=bucket, Key="orig", Body=b"data")["VersionId"]
    configure(s3, bucket, function_arn(recorder), id="vt", events=["s3:ObjectTagging:Put", "s3:ObjectCreated:Copy"])
    s3.put_object_tagging(Bucket=bucket, Key="orig", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "orig"})
    entries = wait_records(s3, sink, 2)
    (tag,) = by_name(entries, "ObjectTagging:Put")
    assert tag["s3"]["object"]["versionId"] == v1, tag
    (copy,) = by_name(entries, "ObjectCreated:Copy")
    assert copy["s3"]["object"]["versionId"] == copied["VersionId"], copy
    assert_created(copy["s3"]["object"], b"data")


def test_tagging_events(s3, recorder):
    bucket, sink = make_buckets(s3)
    data = b"tag me"
    s3.put_object(Bucket=bucket, Key="tagged.txt", Body=data)
    configure(s3, bucket, function_arn(recorder), id="tags", events=["s3:ObjectTagging:*"])
    t0 = time.time()
    s3.put_object_tagging(Bucket=bucket, Key="tagged.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    wait_records(s3, sink, 1)  # one at a time, so the two are ordered
    s3.delete_object_tagging(Bucket=bucket, Key="tagged.txt")
    entries = wait_records(s3, sink, 2)
    (put,) = by_name(entries, "ObjectTagging:Put")
    (delete,) = by_name(entries, "ObjectTagging:Delete")
    for record, name in ((put, "ObjectTagging:Put"), (delete, "ObjectTagging:Delete")):
        obj = assert_common(record, bucket=bucket, key="tagged.txt", event_name=name, rule_id="tags", t0=t0)
        assert_created(obj, data)
        assert "versionId" not in obj, obj
    assert seq_key(put["s3"]["object"]["sequencer"]) < seq_key(delete["s3"]["object"]["sequencer"])


def test_sequencer_strictly_increases_for_successive_writes_of_one_key(s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="seq", events=["s3:ObjectCreated:Put"])
    bodies = [f"write {i}".encode() for i in range(6)]
    for body in bodies:
        s3.put_object(Bucket=bucket, Key="same/key", Body=body)
    entries = wait_records(s3, sink, len(bodies))
    by_etag = {e["record"]["s3"]["object"]["eTag"]: e["record"]["s3"]["object"]["sequencer"] for e in entries}
    seqs = [by_etag[md5(b)] for b in bodies]
    assert len(set(seqs)) == len(bodies), seqs
    assert [seq_key(s) for s in seqs] == sorted(seq_key(s) for s in seqs), seqs


# ---------------------------------------------------------------- filters and qualifiers


def test_prefix_and_suffix_filter(s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="jpgs", events=["s3:ObjectCreated:*"],
              prefix="in/", suffix=".jpg")
    for key in ("out/x.jpg", "in/x.png", "in/x.jpg.bak", "x.jpg", "IN/x.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"nope")
    s3.put_object(Bucket=bucket, Key="in/first.jpg", Body=b"yes")
    wait_records(s3, sink, 1)
    # Non-matching writes queued before it would have run by now; one more round trip to be sure.
    s3.put_object(Bucket=bucket, Key="out/y.jpg", Body=b"nope")
    s3.put_object(Bucket=bucket, Key="in/second.jpg", Body=b"yes")
    wait_records(s3, sink, 2)
    time.sleep(0.5)
    entries = sink_entries(s3, sink)
    keys = sorted(unquote_plus(e["record"]["s3"]["object"]["key"]) for e in entries)
    assert keys == ["in/first.jpg", "in/second.jpg"], keys
    assert {e["record"]["s3"]["configurationId"] for e in entries} == {"jpgs"}


def test_event_type_filter(s3, recorder):
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(recorder), id="deletes-only", events=["s3:ObjectRemoved:Delete"])
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.delete_object(Bucket=bucket, Key="k")
    wait_records(s3, sink, 1)
    time.sleep(0.5)
    entries = sink_entries(s3, sink)
    assert [e["record"]["eventName"] for e in entries] == ["ObjectRemoved:Delete"]


def test_failed_mutations_produce_no_event(s3, recorder):
    bucket, sink = make_buckets(s3)
    s3.put_object(Bucket=bucket, Key="exists", Body=b"1")
    configure(s3, bucket, function_arn(recorder), id="only-committed")
    with pytest.raises(ClientError) as info:  # conditional PUT refused: nothing committed
        s3.put_object(Bucket=bucket, Key="exists", Body=b"2", IfNoneMatch="*")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError):  # copy of a missing source
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "missing"})
    with pytest.raises(ClientError):  # tagging a missing key
        s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.put_object(Bucket=bucket, Key="later", Body=b"3")
    wait_records(s3, sink, 1)
    time.sleep(0.5)
    entries = sink_entries(s3, sink)
    assert [(e["record"]["eventName"], e["record"]["s3"]["object"]["key"]) for e in entries] == [
        ("ObjectCreated:Put", "later")]


def test_writes_still_succeed_after_the_function_is_deleted(lam, s3, recorder):
    name = unique_name("evgone")
    create_function(lam, name, RECORDER, Timeout=30)
    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(name), id="gone")
    s3.put_object(Bucket=bucket, Key="before", Body=b"1")
    wait_records(s3, sink, 1)
    lam.delete_function(FunctionName=name)
    # The rule still names the deleted function; S3 keeps accepting writes (the events fail later).
    resp = s3.put_object(Bucket=bucket, Key="after", Body=b"2")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.delete_object(Bucket=bucket, Key="after")
    assert [r["Id"] for r in s3.get_bucket_notification_configuration(Bucket=bucket)[
        "LambdaFunctionConfigurations"]] == ["gone"]


def test_alias_qualified_arn_runs_the_alias_version(lam, s3):
    name = unique_name("evalias")
    create_function(lam, name, RECORDER, Timeout=30, Environment={"Variables": {"MARK": "published-1"}})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MARK": "latest"}})
    wait_active(lam, name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    bucket, sink = make_buckets(s3)
    configure(s3, bucket, function_arn(name, "live"), id="via-alias", events=["s3:ObjectCreated:*"])
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    (entry,) = wait_records(s3, sink, 1)
    assert entry["version"] == version == "1", entry
    assert entry["mark"] == "published-1", entry
    assert entry["invoked_arn"] == function_arn(name, "live"), entry
    assert entry["record"]["s3"]["configurationId"] == "via-alias"

    # Moving the alias moves the events: version 2 (published from $LATEST) now runs.
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=v2)
    s3.put_object(Bucket=bucket, Key="b.txt", Body=b"b")
    entries = wait_records(s3, sink, 2)
    later = next(e for e in entries if unquote_plus(e["record"]["s3"]["object"]["key"]) == "b.txt")
    assert later["version"] == v2 and later["mark"] == "latest", later
