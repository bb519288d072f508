"""Hostile object keys: stored and returned byte-exact, listed correctly, and never turned into paths."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from .helpers import err, list_all_keys

pytestmark = pytest.mark.e2e

MARK = "zqxkeymark"  # every hostile key carries it, so the data dir can be searched for it

HOSTILE = {
    "dotdot": "..",
    "dot": ".",
    "traversal": f"../../{MARK}/etc/passwd",
    "dot-slash": f"./{MARK}",
    "inner-dotdot": f"{MARK}/../escape",
    "inner-dot": f"{MARK}/./here",
    "leading-slash": f"/{MARK}-leading",
    "double-slash": f"{MARK}//b",
    "only-slashes": f"//{MARK}//",
    "backslash": f"back\\{MARK}\\slash",
    "backslash-dotdot": f"..\\..\\{MARK}",
    "nul": f"nul\x00{MARK}",
    "ctl-01": f"ctl\x01{MARK}",
    "ctl-1f": f"ctl\x1f{MARK}",
    "del-7f": f"del\x7f{MARK}",
    "newline-tab": f"line\nbreak\tand\rcr-{MARK}",
    "emoji": f"😀/{MARK}/🦀",
    "non-bmp-cjk": f"𠜎𠜱{MARK}",
    "trailing-slash": f"{MARK}/dir/",
    "percent": f"100%{MARK}%2F%00",
    "plus-space": f"a+b c{MARK}",
    "query-chars": f"q?x=1&y#frag{MARK}",
    "xml-chars": f"<tag attr=\"&amp;\">'{MARK}'",
    "replacement": f"\ufffd{MARK}",
    "tilde-etc": f"~{MARK}*()!$,;=:@",
}
ASCII_1024 = "k" * 1024
UTF8_1024 = "😀" * 256  # 4 bytes each
UTF8_1025 = "a" + "😀" * 256


@pytest.fixture(scope="module")
def hostile_bucket(s3):
    from .helpers import unique_bucket

    name = unique_bucket("keys")
    s3.create_bucket(Bucket=name)
    for key in HOSTILE.values():
        s3.put_object(Bucket=name, Key=key, Body=key.encode("utf-8"))
    return name


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_key_round_trip(s3, s3_wr, hostile_bucket, name):
    key = HOSTILE[name]
    for client in (s3, s3_wr):
        got = client.get_object(Bucket=hostile_bucket, Key=key)
        assert got["Body"].read() == key.encode("utf-8")
        assert client.head_object(Bucket=hostile_bucket, Key=key)["ContentLength"] == len(key.encode())
    listed = s3.list_objects_v2(Bucket=hostile_bucket, Prefix=key)
    assert key in [o["Key"] for o in listed.get("Contents", [])], listed.get("Contents")


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_key_delete(s3, bucket, name):
    key = HOSTILE[name]
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="neighbour", Body=b"n")
    s3.delete_object(Bucket=bucket, Key=key)
    assert list_all_keys(s3, bucket) == ["neighbour"]


def test_hostile_keys_list_exactly(s3, hostile_bucket):
    expected = sorted(HOSTILE.values(), key=lambda k: k.encode("utf-8"))
    assert list_all_keys(s3, hostile_bucket) == expected  # boto3 asks for encoding-type=url and decodes
    v1 = s3.list_objects(Bucket=hostile_bucket)
    assert [o["Key"] for o in v1["Contents"]] == expected


def test_hostile_keys_url_encoded_listing(s3, hostile_bucket):
    # Explicit EncodingType: boto3 leaves the keys as the server sent them.
    resp = s3.list_objects_v2(Bucket=hostile_bucket, EncodingType="url")
    assert resp.get("EncodingType") == "url"
    raw_keys = [o["Key"] for o in resp["Contents"]]
    assert all(ch not in k for k in raw_keys for ch in "\x00\x01\x1f\x7f\n\r\t <>&"), raw_keys
    assert sorted((unquote_plus(k) for k in raw_keys), key=str.encode) == sorted(
        HOSTILE.values(), key=str.encode
    )


def test_copy_between_hostile_keys(s3, bucket):
    src, dst = HOSTILE["traversal"], HOSTILE["nul"]
    s3.put_object(Bucket=bucket, Key=src, Body=b"copied")
    s3.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": src})
    assert s3.get_object(Bucket=bucket, Key=dst)["Body"].read() == b"copied"


def test_delete_objects_with_hostile_keys(s3, bucket):
    keys = [HOSTILE[n] for n in ("xml-chars", "ctl-01", "emoji", "dotdot", "leading-slash")]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys if "\x01" not in k]})
    assert not resp.get("Errors"), resp.get("Errors")
    assert list_all_keys(s3, bucket) == [HOSTILE["ctl-01"]]


@pytest.mark.parametrize("key", [ASCII_1024, UTF8_1024, "d/" * 511 + "xy"], ids=["ascii", "utf8", "slashes"])
def test_key_of_1024_bytes_ok(s3, bucket, key):
    assert len(key.encode("utf-8")) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"
    assert list_all_keys(s3, bucket) == [key]


@pytest.mark.parametrize("key", ["k" * 1025, UTF8_1025], ids=["ascii", "utf8"])
def test_key_of_1025_bytes_too_long(s3, bucket, key):
    assert len(key.encode("utf-8")) == 1025
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert err(ei.value) == ("KeyTooLongError", 400)
    assert list_all_keys(s3, bucket) == []


def test_keys_never_become_paths(server, s3, hostile_bucket):
    # hostile_bucket has stored every key; the data dir must not mention any of them.
    data_dir = Path(server.data_dir)
    offenders = [
        os.path.join(root, name)
        for root, dirs, files in os.walk(data_dir)
        for name in dirs + files
        if MARK in name or "passwd" in name or "leading" in name
    ]
    assert offenders == []
    # nothing was created next to or above the data dir either
    for parent in (data_dir.parent, data_dir.parent.parent):
        assert not any(MARK in p.name for p in parent.iterdir())
    assert not (data_dir.parent / "etc").exists()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_copy_from_hostile_source_key(s3, hostile_bucket, bucket, name):
    # botocore percent-encodes x-amz-copy-source; "+" must stay a plus, "?" stays part of the key
    key = HOSTILE[name]
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": hostile_bucket, "Key": key})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == key.encode("utf-8")


PRESIGN_KEYS = [
    "a+b c",
    "😀/é",
    "q?x=1&y#frag",
    "~*()!$,;=:@'",
    "back\\slash",
    "sp  ace/%2F",
    "nul\x00ctl\x01",
]


@pytest.fixture(scope="module", params=["boto3-default", "s3v4"])
def presigner(request, server, s3):
    from botocore.config import Config

    return s3 if request.param == "boto3-default" else server.client(Config(signature_version="s3v4"))


@pytest.mark.parametrize("key", PRESIGN_KEYS, ids=[f"k{i}" for i in range(len(PRESIGN_KEYS))])
def test_presigned_urls_for_awkward_keys(presigner, bucket, key):
    import httpx

    url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    resp = httpx.put(url, content=b"via presigned put")
    assert resp.status_code == 200, resp.text
    assert list_all_keys(presigner, bucket) == [key]
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    resp = httpx.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"via presigned put"
