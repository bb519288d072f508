"""S3 XML (api/s3/xml.py): golden strings for the builder, a hardened parser for requests."""

from __future__ import annotations

import pytest

from bayou.api.s3.xml import MAX_XML_BODY, S3_NS, Node, child_text, document, escape, iso8601, parse
from bayou.errors import MalformedXML

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
NS = f'xmlns="{S3_NS}"'


def test_namespace_constant() -> None:
    assert S3_NS == "http://s3.amazonaws.com/doc/2006-03-01/"


def test_empty_root_gets_the_s3_namespace() -> None:
    assert document(Node("ListAllMyBucketsResult")) == f"{HEAD}<ListAllMyBucketsResult {NS}/>".encode()


def test_without_namespace() -> None:
    assert document(Node("Error"), namespace=False) == f"{HEAD}<Error></Error>".encode()


def test_existing_namespace_is_kept() -> None:
    root = Node("Result", attrs={"xmlns": "urn:other"})
    assert document(root) == f'{HEAD}<Result xmlns="urn:other"/>'.encode()


def test_list_bucket_result_golden() -> None:
    root = Node("ListBucketResult")
    root.add("Name", "bucket")
    root.add("Prefix", "")
    root.add("KeyCount", 1)
    root.add("MaxKeys", 1000)
    root.add("IsTruncated", False)
    contents = root.add("Contents")
    contents.add("Key", "my-image.jpg")
    contents.add("LastModified", iso8601(1_255_368_630.0))
    contents.add("ETag", '"fba9dede5f27731c9771645a39863328"')
    contents.add("Size", 434234)
    contents.add("StorageClass", "STANDARD")
    owner = contents.add("Owner")
    owner.add("ID", "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a")
    owner.add("DisplayName", "mtd@amazon.com")
    root.add("CommonPrefixes").add("Prefix", "photos/")
    expected = (
        HEAD
        + f"<ListBucketResult {NS}>"
        "<Name>bucket</Name>"
        "<Prefix></Prefix>"
        "<KeyCount>1</KeyCount>"
        "<MaxKeys>1000</MaxKeys>"
        "<IsTruncated>false</IsTruncated>"
        "<Contents>"
        "<Key>my-image.jpg</Key>"
        "<LastModified>2009-10-12T17:30:30.000Z</LastModified>"
        "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>"
        "<Size>434234</Size>"
        "<StorageClass>STANDARD</StorageClass>"
        "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>"
        "<DisplayName>mtd@amazon.com</DisplayName></Owner>"
        "</Contents>"
        "<CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>"
        "</ListBucketResult>"
    )
    assert document(root).decode() == expected


def test_error_document_golden() -> None:
    root = Node("Error")
    root.add("Code", "NoSuchKey")
    root.add("Message", "The resource you requested does not exist")
    root.add("Key", "a&b<c>")
    root.add("RequestId", "4442587FB7D0A2F9")
    assert document(root, namespace=False) == (
        f"{HEAD}<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>"
        "<Key>a&amp;b&lt;c&gt;</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    ).encode()


def test_true_and_empty_elements() -> None:
    root = Node("R")
    root.add("IsTruncated", True)
    root.add("Empty", "")
    root.add("Container")
    assert document(root, namespace=False) == f"{HEAD}<R><IsTruncated>true</IsTruncated><Empty></Empty><Container></Container></R>".encode()


def test_extend() -> None:
    root = Node("R")
    root.extend([Node("A", "1"), Node("B", "2")])
    assert document(root, namespace=False) == f"{HEAD}<R><A>1</A><B>2</B></R>".encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a&b", "a&amp;b"),
        ("<tag>", "&lt;tag&gt;"),
        ('say "hi"', "say &quot;hi&quot;"),
        ("it's", "it's"),
        ("&amp;", "&amp;amp;"),
        ("tab\tnl\n", "tab\tnl\n"),  # legal XML characters stay literal
        ("cr\r", "cr&#13;"),  # a literal CR would be normalised away by parsers
        ("\x00", "&#x0;"),
        ("\x01\x08", "&#x1;&#x8;"),
        ("\x0b\x0c", "&#xB;&#xC;"),
        ("\x0e\x1f", "&#xE;&#x1F;"),
        ("\x7f", "\x7f"),
        ("\ufffe\uffff", "&#xFFFE;&#xFFFF;"),
        ("é😀\ue000", "é😀\ue000"),
        ("]]>", "]]&gt;"),
    ],
)
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_escaping_in_documents_and_attributes() -> None:
    root = Node("R", attrs={"a": 'x"&<'})
    root.add("Key", "dir/\x01file&<>\"'😀")
    assert document(root, namespace=False) == (
        f'{HEAD}<R a="x&quot;&amp;&lt;"><Key>dir/&#x1;file&amp;&lt;&gt;&quot;\'😀</Key></R>'
    ).encode()


def test_document_is_utf8() -> None:
    out = document(Node("K", "é😀"), namespace=False)
    assert out.endswith("<K>é😀</K>".encode())


def test_escaped_text_reads_back_through_the_parser() -> None:
    text = "a&b<c>d\"e'f\tg\nh\ré😀"
    root = parse(document(Node("Delete", children=[Node("Key", text)])))
    assert child_text(root, "Key") == text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_255_369_830, "2009-10-12T17:50:30.000Z"),
        (1_255_369_830.5, "2009-10-12T17:50:30.500Z"),
        (1_255_369_830.123, "2009-10-12T17:50:30.123Z"),
        (1_709_251_199.25, "2024-02-29T23:59:59.250Z"),
    ],
)
def test_iso8601(seconds: float, expected: str) -> None:
    assert iso8601(seconds) == expected


@pytest.mark.parametrize("seconds", [1.9996, 1_255_369_830.9999, 59.9999])
def test_iso8601_never_goes_back_almost_a_second(seconds: float) -> None:
    """Milliseconds that round up to 1000 must carry into the seconds (or be truncated)."""
    whole = int(seconds)
    truncated = iso8601(whole)[:-5] + ".999Z"
    rounded = iso8601(whole + 1)
    assert iso8601(seconds) in (truncated, rounded)


# --- parsing ------------------------------------------------------------------------------------


def test_parse_strips_namespaces() -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="{S3_NS}"><Object><Key>a</Key></Object>'
        "<Object><Key>b &amp; c</Key><VersionId>v</VersionId></Object><Quiet>true</Quiet></Delete>"
    ).encode()
    root = parse(body)
    assert root.tag == "Delete"
    assert [child_text(o, "Key") for o in root.findall("Object")] == ["a", "b & c"]
    assert child_text(root, "Quiet") == "true"
    assert child_text(root, "Missing") is None
    assert child_text(parse(b"<A><B/></A>"), "B") == ""


def test_parse_without_declaration_or_namespace() -> None:
    assert parse(b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>").tag == (
        "CreateBucketConfiguration"
    )


def test_parse_numeric_character_references() -> None:
    assert child_text(parse(b"<A><K>&#233;&#x1F600;</K></A>"), "K") == "é😀"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Delete><Object><Key>&lol9;</Key></Object></Delete>"""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"<Delete>",
        b"<Delete></Other>",
        b"not xml at all",
        b"<A>&undefined;</A>",
        b"<A><B></A></B>",
        b"<A/><B/>",
        b"\xff\xfe<\x00A\x00",
        b"<A>\x01</A>",  # a raw control character is not XML 1.0
        b"<A>&#x1;</A>",  # nor as a reference
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.com/evil.dtd"><d/>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://example.com/x">%p;]><d/>',
        b"<?xml version='1.0'?><!DOCTYPE d><d/>",
    ],
    ids=lambda b: repr(b[:30]),
)
def test_parse_rejects_malformed_and_dangerous_documents(body: bytes) -> None:
    with pytest.raises(MalformedXML) as info:
        parse(body)
    assert info.value.status == 400


def test_parse_rejects_oversize_bodies() -> None:
    body = b"<A>" + b"x" * MAX_XML_BODY + b"</A>"
    with pytest.raises(MalformedXML):
        parse(body)


def test_parse_accepts_a_large_but_allowed_body() -> None:
    # DeleteObjects with 1000 keys of 1024 bytes each is under the cap.
    keys = "".join(f"<Object><Key>{'k' * 1020}{i:04d}</Key></Object>" for i in range(1000))
    body = f'<Delete xmlns="{S3_NS}">{keys}</Delete>'.encode()
    assert len(body) <= MAX_XML_BODY
    assert len(parse(body).findall("Object")) == 1000
