"""ListObjectsV2 and ListObjects (V1): prefix, delimiter, pagination, start-after, owner, url encoding, order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import assert_xml_error, err, raw, unique_bucket

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3(any_s3):
    """Every listing test with boto3's default configuration and with request_checksum_calculation=
    'when_required' (the issue names both)."""
    return any_s3

TREE = [
    "a.txt",
    "dir1/a",
    "dir1/b",
    "dir1/sub/c",
    "dir2/x",
    "dir2/y/z",
    "dir3",
    "e f+g",
    "top",
]


def _fill(s3, bucket: str, keys: list[str], workers: int = 8) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))


@pytest.fixture(scope="module")
def tree(s3):
    name = unique_bucket("tree")
    s3.create_bucket(Bucket=name)
    _fill(s3, name, TREE)
    return name


@pytest.fixture(scope="module")
def many(server):
    """~1,500 keys under 7 prefixes, for pagination."""
    client = server.client(Config(max_pool_connections=16))
    name = unique_bucket("many")
    client.create_bucket(Bucket=name)
    keys = [f"p{i % 7}/k{i:05d}" for i in range(1500)] + ["zz-last"]
    _fill(client, name, keys, workers=16)
    return name, sorted(keys)


def keys_of(resp) -> list[str]:
    return [o["Key"] for o in resp.get("Contents", [])]


def prefixes_of(resp) -> list[str]:
    return [p["Prefix"] for p in resp.get("CommonPrefixes", [])]


def test_list_all(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree)
    assert keys_of(resp) == sorted(TREE)
    assert resp["KeyCount"] == len(TREE)
    assert resp["IsTruncated"] is False
    first = resp["Contents"][0]
    assert first["Size"] == len(first["Key"]) and first["ETag"] and first["LastModified"]
    assert first.get("StorageClass", "STANDARD") == "STANDARD"


def test_prefix(s3, tree):
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="dir1/")) == ["dir1/a", "dir1/b", "dir1/sub/c"]
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="dir")) == [
        k for k in sorted(TREE) if k.startswith("dir")
    ]
    resp = s3.list_objects_v2(Bucket=tree, Prefix="nothing-here")
    assert resp["KeyCount"] == 0 and "Contents" not in resp


def test_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert keys_of(resp) == ["a.txt", "dir3", "e f+g", "top"]
    assert prefixes_of(resp) == ["dir1/", "dir2/"]
    assert resp["KeyCount"] == 6
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="dir1/")
    assert keys_of(resp) == ["dir1/a", "dir1/b"]
    assert prefixes_of(resp) == ["dir1/sub/"]
    assert resp["Delimiter"] == "/" and resp["Prefix"] == "dir1/"


def test_non_slash_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="i")
    # every key containing "i" is folded into the prefix ending at its first "i"
    assert prefixes_of(resp) == ["di"]
    assert keys_of(resp) == ["a.txt", "e f+g", "top"]


def test_max_keys_and_continuation(s3, tree):
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=tree, MaxKeys=2, **kw)
        pages += 1
        assert resp["MaxKeys"] == 2
        assert len(keys_of(resp)) <= 2
        seen += keys_of(resp)
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        assert len(keys_of(resp)) == 2
        token = resp["NextContinuationToken"]
        assert token
    assert seen == sorted(TREE)
    assert pages == 5


def test_delimiter_pagination_counts_prefixes(s3):
    name = unique_bucket("dp")
    s3.create_bucket(Bucket=name)
    keys = [f"a/{i}" for i in range(30)] + ["b/1"] + [f"c/{i}" for i in range(30)] + ["d", "e/1"]
    _fill(s3, name, keys)
    pages = []
    token = None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=name, Delimiter="/", MaxKeys=2, **kw)
        pages.append((prefixes_of(resp), keys_of(resp)))
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
    assert pages == [(["a/", "b/"], []), (["c/"], ["d"]), (["e/"], [])]


def test_start_after(s3, tree):
    assert keys_of(s3.list_objects_v2(Bucket=tree, StartAfter="dir2/x")) == [
        "dir2/y/z",
        "dir3",
        "e f+g",
        "top",
    ]
    assert keys_of(s3.list_objects_v2(Bucket=tree, StartAfter="dir1")) == [
        k for k in sorted(TREE) if k > "dir1"
    ]
    resp = s3.list_objects_v2(Bucket=tree, StartAfter="zzz")
    assert resp["KeyCount"] == 0
    assert resp.get("StartAfter") == "zzz"


def test_fetch_owner(s3, tree):
    plain = s3.list_objects_v2(Bucket=tree)
    assert all("Owner" not in o for o in plain["Contents"])
    owned = s3.list_objects_v2(Bucket=tree, FetchOwner=True)
    owner_id = s3.list_buckets()["Owner"]["ID"]
    assert all(o["Owner"]["ID"] == owner_id for o in owned["Contents"])


def test_encoding_type_url(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, EncodingType="url", Prefix="e f")
    assert resp["EncodingType"] == "url"
    (key,) = keys_of(resp)
    assert key != "e f+g" and " " not in key
    assert unquote_plus(key) == "e f+g"
    assert unquote_plus(resp["Prefix"]) == "e f"
    # botocore's default (EncodingType set automatically and decoded for us)
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="e f")) == ["e f+g"]


def test_encoding_type_url_common_prefixes(s3):
    name = unique_bucket("enc")
    s3.create_bucket(Bucket=name)
    _fill(s3, name, ["sp ace/1", "pl+us/2", "ctl\x01/3"])
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/", EncodingType="url")
    assert sorted(unquote_plus(p) for p in prefixes_of(resp)) == sorted(["sp ace/", "pl+us/", "ctl\x01/"])
    decoded = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert prefixes_of(decoded) == ["ctl\x01/", "pl+us/", "sp ace/"]


def test_invalid_encoding_type_and_max_keys(server, tree):
    assert_xml_error(
        raw(server, "GET", f"/{tree}", query={"list-type": "2", "encoding-type": "bogus"}),
        400,
        "InvalidArgument",
    )
    assert_xml_error(
        raw(server, "GET", f"/{tree}", query={"list-type": "2", "max-keys": "-1"}), 400, "InvalidArgument"
    )
    assert_xml_error(
        raw(server, "GET", f"/{tree}", query={"list-type": "2", "max-keys": "ten"}), 400, "InvalidArgument"
    )


def test_bad_continuation_token(s3, tree):
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket=tree, ContinuationToken="!!!not-a-token!!!")
    assert err(ei.value) == ("InvalidArgument", 400)


def test_v1_marker_and_next_marker(s3, tree):
    resp = s3.list_objects(Bucket=tree, MaxKeys=3)
    assert keys_of(resp) == sorted(TREE)[:3]
    assert resp["IsTruncated"] is True
    # Without a delimiter S3 omits NextMarker; clients continue from the last key.
    resp2 = s3.list_objects(Bucket=tree, Marker=keys_of(resp)[-1], MaxKeys=100)
    assert keys_of(resp2) == sorted(TREE)[3:]
    assert resp2["IsTruncated"] is False
    assert resp2["Marker"] == keys_of(resp)[-1]
    # With a delimiter, NextMarker is given when truncated.
    resp = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert keys_of(resp) == ["a.txt"] and prefixes_of(resp) == ["dir1/"]
    assert resp["IsTruncated"] is True
    assert resp["NextMarker"] == "dir1/"
    resp = s3.list_objects(Bucket=tree, Delimiter="/", Marker=resp["NextMarker"])
    assert prefixes_of(resp) == ["dir2/"]
    assert keys_of(resp) == ["dir3", "e f+g", "top"]


def test_order_is_utf8_bytes(s3):
    name = unique_bucket("order")
    s3.create_bucket(Bucket=name)
    keys = ["Z", "a", "é", "😀", "\ufffd", "ω", "\uffff", "~", "A", "0", "ä", "\u0800"]
    _fill(s3, name, keys)
    expected = sorted(keys, key=lambda k: k.encode("utf-8"))
    # UTF-16 order would put "😀" before "\ufffd"; UTF-8 byte order puts it last.
    assert expected[-1] == "😀"
    assert keys_of(s3.list_objects_v2(Bucket=name)) == expected
    assert keys_of(s3.list_objects(Bucket=name)) == expected
    # pagination across the same keys keeps the order
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name, PaginationConfig={"PageSize": 1}):
        got += keys_of(page)
    assert got == expected
    # and start-after respects it too
    assert (
        keys_of(s3.list_objects_v2(Bucket=name, StartAfter="\ufffd"))
        == expected[expected.index("\ufffd") + 1 :]
    )


@pytest.mark.parametrize("page_size", [1000, 137])
def test_paginator_v2_over_many_keys(s3, many, page_size):
    name, expected = many
    got = []
    pages = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=name, PaginationConfig={"PageSize": page_size}
    ):
        pages += 1
        got += keys_of(page)
    assert got == expected
    assert pages == -(-len(expected) // page_size)


def test_paginator_v1_over_many_keys(s3, many):
    name, expected = many
    got = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=name, PaginationConfig={"PageSize": 250}):
        got += keys_of(page)
    assert got == expected


def test_common_prefixes_over_many_keys(s3, many):
    name, expected = many
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert prefixes_of(resp) == [f"p{i}/" for i in range(7)]
    assert keys_of(resp) == ["zz-last"]
    assert resp["IsTruncated"] is False
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/", Prefix="p3/", MaxKeys=1000)
    assert keys_of(resp) == [k for k in expected if k.startswith("p3/")]
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=name, Delimiter="/", PaginationConfig={"PageSize": 3}
        )
    )
    assert [p for page in pages for p in prefixes_of(page)] == [f"p{i}/" for i in range(7)]
    assert [k for page in pages for k in keys_of(page)] == ["zz-last"]


def test_key_and_prefix_with_same_name(s3):
    name = unique_bucket("same")
    s3.create_bucket(Bucket=name)
    _fill(s3, name, ["a", "a/", "a/b", "ab", "a0"])
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert keys_of(resp) == ["a", "a0", "ab"]
    assert prefixes_of(resp) == ["a/"]
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/", Prefix="a/")
    assert keys_of(resp) == ["a/", "a/b"]
    assert prefixes_of(resp) == []


def test_non_ascii_prefix_and_delimiter(s3):
    name = unique_bucket("uni")
    s3.create_bucket(Bucket=name)
    _fill(s3, name, ["été/1", "étéé/2", "été", "😀x😀y", "😀z"])
    resp = s3.list_objects_v2(Bucket=name, Prefix="été", Delimiter="é")
    assert keys_of(resp) == ["été", "été/1"]
    assert prefixes_of(resp) == ["étéé"]
    resp = s3.list_objects_v2(Bucket=name, Delimiter="😀")
    assert prefixes_of(resp) == ["😀"]
    resp = s3.list_objects_v2(Bucket=name, Prefix="😀", Delimiter="😀")
    assert prefixes_of(resp) == ["😀x😀"]
    assert keys_of(resp) == ["😀z"]


def test_continuation_token_wins_over_start_after(s3, tree):
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=3)
    resp = s3.list_objects_v2(Bucket=tree, ContinuationToken=first["NextContinuationToken"], StartAfter="a")
    assert keys_of(resp) == sorted(TREE)[3:]
