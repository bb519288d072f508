"""A listing's <Contents> entries are serialised directly (listing.contents_xml) for speed; they
must be exactly what the element builder writes for the same entry."""

from __future__ import annotations

import dataclasses

import pytest

from bayou.api.s3.listing import contents_xml, key_encoder
from bayou.api.s3.xml import Markup, Node, document, escape, iso8601, serialise
from bayou.meta.records import Checksum, ObjectRecord

BASE = ObjectRecord(
    bucket="b", key="photos/2026/a.jpg", size=434234, etag="fba9dede5f27731c9771645a39863328",
    last_modified=1_255_368_630.123, blob_id="x", inline=False,
)
OWNER = Node("Owner")
OWNER.add("ID", "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a")
OWNER.add("DisplayName", "owner & co")


def _as_nodes(record: ObjectRecord, enc, owner: bool) -> str:
    """The element-builder form the listing used before contents_xml."""
    entry = Node("Contents")
    entry.add("Key", enc(record.key))
    entry.add("LastModified", iso8601(record.last_modified))
    entry.add("ETag", f'"{record.etag}"')
    if record.checksum is not None:
        entry.add("ChecksumAlgorithm", record.checksum.algorithm)
        entry.add("ChecksumType", record.checksum.type)
    entry.add("Size", record.size)
    entry.add("StorageClass", record.storage_class)
    if owner:
        entry.children.append(OWNER)
    return serialise(entry)


RECORDS = [
    BASE,
    dataclasses.replace(BASE, key="a&b<c>\"d'.txt", storage_class="STANDARD_IA"),
    dataclasses.replace(BASE, key="ctl\x01\x1f\r\n\tend", size=0),
    dataclasses.replace(BASE, key="ünïcode/😀 key+%20", checksum=Checksum("CRC32", "AAAAAA==", "FULL_OBJECT")),
    dataclasses.replace(BASE, key="sp ace/~tilde_-.", last_modified=0.9995),
]


@pytest.mark.parametrize("record", RECORDS, ids=range(len(RECORDS)))
@pytest.mark.parametrize("url", [False, True])
@pytest.mark.parametrize("owner", [False, True])
def test_contents_xml_equals_the_element_builder(record: ObjectRecord, url: bool, owner: bool) -> None:
    enc = key_encoder(url)
    assert contents_xml(record, enc, serialise(OWNER) if owner else "") == _as_nodes(record, enc, owner)


def test_markup_is_written_as_is_inside_a_document() -> None:
    root = Node("ListBucketResult")
    root.add("Name", "b")
    root.extend([Markup("<Contents><Key>k</Key></Contents>")])
    assert document(root, namespace=False).endswith(b"<Name>b</Name><Contents><Key>k</Key></Contents></ListBucketResult>")
    assert Markup("<a/>") != Markup("<b/>") and Markup("<a/>") == Markup("<a/>")


@pytest.mark.parametrize("key", ["plain/key.txt", "a b", "ü", "x+y", "~_.-/", "%", "a\x00b"])
def test_url_encoding_fast_path_agrees_with_quote(key: str) -> None:
    from urllib.parse import quote

    assert key_encoder(True)(key) == quote(key, safe="/")
    assert escape(key_encoder(False)(key)) == escape(key)
