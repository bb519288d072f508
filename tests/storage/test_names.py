"""S3 naming rules (storage/names.py): AWS "General purpose bucket naming rules" and key length."""

from __future__ import annotations

import pytest

from bayou.errors import InvalidBucketName, KeyTooLongError
from bayou.storage.names import MAX_KEY_BYTES, check_bucket_name, check_key

VALID = [
    "abc",
    "a1b",
    "123",
    "my-bucket",
    "my.bucket.name",
    "a-b.c-d",
    "docexamplebucket1",
    "log-delivery-march-2020",
    "my-hosted-content",
    "docexamplewebsite.com",
    "www.docexamplewebsite.com",
    "my.example.s3.bucket",
    "a" * 63,
    "1.2.3",  # dotted numbers that are not an IPv4 address
    "xn-abc",
    "bucket-s3alias-x",
]

INVALID = [
    "",
    "a",
    "ab",  # shorter than 3
    "a" * 64,  # longer than 63
    "ABC",
    "myBucket",
    "my_bucket",  # underscores are not allowed (and keep /_bayou/ free)
    "_bayou",
    "-abc",
    "abc-",
    ".abc",
    "abc.",
    "a..b",
    "a.-b",
    "a-.b",
    "a b",
    "abc/",
    "abc\n",  # a trailing newline (from a percent-encoded path) is not a bucket name
    "\nabc",
    "ab\tc",
    "abé",
    "192.168.5.4",
    "10.0.0.1",
    "xn--abc",  # reserved prefixes
    "sthree-abc",
    "amzn-s3-demo-bucket",
    "abc-s3alias",  # reserved suffixes
    "abc--ol-s3",
    "abc.mrap",
    "abc--x-s3",
    "abc--table-s3",
    "doc_example_bucket",
    "DocExampleBucket",
    "doc-example-bucket-",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_bucket_names(name: str) -> None:
    check_bucket_name(name)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName) as info:
        check_bucket_name(name)
    assert info.value.status == 400
    assert info.value.fields["BucketName"] == name


@pytest.mark.parametrize(
    "key",
    ["a" * 1024, "é" * 512, "😀" * 256, "a" * 1021 + "é" + "a", "", "/", "../x", "a\x00b", "\x01\r\n"],
)
def test_keys_up_to_1024_utf8_bytes(key: str) -> None:
    assert len(key.encode()) <= MAX_KEY_BYTES
    check_key(key)


@pytest.mark.parametrize("key", ["a" * 1025, "é" * 512 + "a", "😀" * 256 + "a", "a" * 1023 + "é", "a" * 1022 + "😀"])
def test_keys_over_1024_utf8_bytes(key: str) -> None:
    size = len(key.encode())
    assert size > MAX_KEY_BYTES
    with pytest.raises(KeyTooLongError) as info:
        check_key(key)
    assert info.value.status == 400
    assert info.value.fields == {"MaxSizeAllowed": "1024", "Size": str(size)}
