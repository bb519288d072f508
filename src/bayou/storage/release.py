"""Freeing an object's bytes once no row references them (inline now, files after the commit)."""

from __future__ import annotations

from bayou.meta.records import ObjectRecord
from bayou.meta.store import MetaTx

BLOB_DELETE = "blob.delete"


def release_blob(tx: MetaTx, record: ObjectRecord) -> None:
    """Queue the record's bytes for deletion in the caller's transaction (DESIGN.md invariant 3)."""
    if record.delete_marker:
        return
    if record.inline:
        tx.delete_inline(record.blob_id)
    elif record.parts_count:
        for blob_id in tx.delete_manifest(record.blob_id):
            tx.add_outbox(BLOB_DELETE, {"blob_id": blob_id})
    else:
        tx.add_outbox(BLOB_DELETE, {"blob_id": record.blob_id})
