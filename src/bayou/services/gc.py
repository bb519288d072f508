"""Blob garbage collection: the consumer of `blob.delete` outbox rows, and the start-up orphan scan.

Deleting the file first and the outbox row second makes a crash between them harmless: the row
is still there, and deleting a missing blob is a no-op (BlobStore.delete is idempotent).
"""

from __future__ import annotations

import asyncio

from bayou.blobs.store import BlobStore
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage.release import BLOB_DELETE

BATCH = 256


class BlobCollector:
    name = "blob-gc"

    def __init__(self, meta: MetaStore, blobs: BlobStore, *, idle_seconds: float = 1.0) -> None:
        self._meta = meta
        self._blobs = blobs
        self._idle = idle_seconds
        self.deleted = 0

    async def work(self) -> int:
        rows = await self._meta.pending_outbox((BLOB_DELETE,), BATCH)
        if not rows:
            return 0
        for row in rows:
            await asyncio.to_thread(self._blobs.delete, row.payload["blob_id"])

        def forget(tx: MetaTx) -> None:
            for row in rows:
                tx.delete_outbox(row.id)

        await self._meta.write(forget)
        self.deleted += len(rows)
        return len(rows)

    async def wait_for_work(self) -> None:
        await asyncio.sleep(self._idle)

    def status(self) -> dict[str, object]:
        return {"deleted": self.deleted}


def remove_orphans(meta: MetaStore, blobs: BlobStore) -> int:
    """Remove blobs no metadata row refers to: writes a crash interrupted before their commit.

    Only safe while no writer runs (start-up, before serving), since a blob between its
    rename and its commit is an orphan too.
    """
    removed = blobs.clear_partial()
    referenced = set(meta.referenced_blob_ids())
    for blob_id in list(blobs.blob_ids()):
        if blob_id not in referenced:
            blobs.delete(blob_id)
            removed += 1
    return removed
