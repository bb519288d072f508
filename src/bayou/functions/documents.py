"""How the function registry lays out its metadata documents, and converting records to and from them.

Documents: ("function", name, "") holds $LATEST and the last version number; ("version", name,
<zero-padded n>) a published version; ("alias", name, alias); ("setting:<kind>", name, qualifier).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from typing import Any

from bayou.functions.models import Alias, CodeRef, FunctionVersion
from bayou.meta.store import MetaTx
from bayou.storage.release import BLOB_DELETE

VERSION_KIND = "version"
FUNCTION_KIND = "function"
ALIAS_KIND = "alias"
SETTING_KINDS = ("concurrency", "provisioned", "event-invoke", "policy", "url", "tags")
QUALIFIED_SETTINGS = ("provisioned", "event-invoke", "url")
PAGE = 1000


def version_sub(number: int | str) -> str:
    """The document sub key of a published version: zero-padded, so keys sort numerically."""
    return f"{int(number):010d}"


def setting_kind(kind: str) -> str:
    return f"setting:{kind}"


def version_to_doc(version: FunctionVersion) -> dict[str, Any]:
    return {"v": 1, **asdict(version)}


def version_from_doc(doc: dict[str, Any]) -> FunctionVersion:
    fields = {k: v for k, v in doc.items() if k != "v"}
    return FunctionVersion(code=CodeRef(**fields.pop("code")), **fields)


def alias_to_doc(alias: Alias) -> dict[str, Any]:
    return {"v": 1, **asdict(alias)}


def alias_from_doc(doc: dict[str, Any]) -> Alias:
    return Alias(**{k: v for k, v in doc.items() if k != "v"})


def same_snapshot(a: FunctionVersion, b: FunctionVersion) -> bool:
    """Would publishing `a` give nothing new over version `b`? (Lambda compares code and configuration.)"""
    ignored: dict[str, Any] = {"version": "", "revision_id": "", "last_modified": 0.0, "description": ""}
    return a.code.sha256_hex == b.code.sha256_hex and replace(a, code=b.code, **ignored) == replace(b, **ignored)


def release_blobs(tx: MetaTx, blob_ids: list[str]) -> None:
    for blob_id in blob_ids:
        tx.add_outbox(BLOB_DELETE, {"blob_id": blob_id})


def new_revision() -> str:
    return str(uuid.uuid4())
