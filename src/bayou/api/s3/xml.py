"""S3 XML both ways: a small element builder for responses, a hardened parser for requests.

Responses are trees of `Node`s serialised with proper escaping (never string templates).
Characters XML 1.0 cannot carry literally (control characters in keys) are written as numeric
references, as S3 does; clients that need them exact ask for encoding-type=url.
Requests are parsed with defusedxml (no DTDs, no entity expansion) under a size cap.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from bayou.errors import MalformedXML

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BODY = 2 * 1024 * 1024

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}
_NEEDS_ESCAPE = re.compile(r'[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _ESCAPES.get(char) or f"&#x{ord(char):X};"


def escape(text: str) -> str:
    return _NEEDS_ESCAPE.sub(_escape_char, text)


class Node:
    """One element. A plain slotted class: listings build thousands per response."""

    __slots__ = ("tag", "text", "children", "attrs")

    def __init__(
        self,
        tag: str,
        text: str | None = None,
        children: list[Node] | None = None,
        attrs: dict[str, str] | None = None,
    ) -> None:
        self.tag = tag
        self.text = text
        self.children: list[Node] = children if children is not None else []
        self.attrs: dict[str, str] = attrs if attrs is not None else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and (self.tag, self.text, self.children, self.attrs) == (
            other.tag, other.text, other.children, other.attrs
        )

    def __repr__(self) -> str:
        return f"Node({self.tag!r}, {self.text!r}, {self.children!r}, {self.attrs!r})"

    def add(self, tag: str, text: str | int | bool | None = None) -> Node:
        """Append a child; a text of None means an element with children (returned to fill)."""
        if isinstance(text, bool):
            text = "true" if text else "false"
        child = Node(tag, None if text is None else str(text))
        self.children.append(child)
        return child

    def extend(self, nodes: Iterable[Node]) -> None:
        self.children.extend(nodes)

    def write(self, out: list[str]) -> None:
        attrs = "".join(f' {k}="{escape(v)}"' for k, v in self.attrs.items())
        if self.text is None and not self.children:
            out.append(f"<{self.tag}{attrs}/>" if attrs else f"<{self.tag}{attrs}></{self.tag}>")
            return
        out.append(f"<{self.tag}{attrs}>")
        if self.text is not None:
            out.append(escape(self.text))
        for child in self.children:
            child.write(out)
        out.append(f"</{self.tag}>")


class Markup(Node):
    """Serialised XML, written as is: for the thousands of uniform entries of a listing, where a
    node per element cost more than the rest of the request. Build it with `escape` for all text."""

    __slots__ = ("markup",)

    def __init__(self, markup: str) -> None:
        super().__init__("#markup")
        self.markup = markup

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Markup) and self.markup == other.markup

    def __repr__(self) -> str:
        return f"Markup({self.markup!r})"

    def write(self, out: list[str]) -> None:
        out.append(self.markup)


def serialise(node: Node) -> str:
    out: list[str] = []
    node.write(out)
    return "".join(out)


def document(root: Node, *, namespace: bool = True) -> bytes:
    if namespace and "xmlns" not in root.attrs:
        root.attrs = {"xmlns": S3_NS, **root.attrs}
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    root.write(out)
    return "".join(out).encode("utf-8")


def iso8601(seconds: float) -> str:
    """S3's timestamp form in XML: 2009-10-12T17:50:30.000Z."""
    whole, millis = divmod(round(seconds * 1000), 1000)  # round once, carrying into the seconds
    return f"{_whole_seconds(whole)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _whole_seconds(whole: int) -> str:
    """Objects written together share their second: a listing formats each second once."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


# --- parsing ------------------------------------------------------------------------------------


def parse(body: bytes) -> Element:
    """Parse a request document; anything malformed, oversized or entity-laden is MalformedXML."""
    if len(body) > MAX_XML_BODY:
        raise MalformedXML("The XML you provided was larger than the maximum allowed size.")
    if not body.strip():
        raise MalformedXML()
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXML() from exc
    for element in root.iter():
        element.tag = local_name(element.tag)
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child_text(element: Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""
