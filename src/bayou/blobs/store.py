"""The `BlobStore` interface: immutable byte blobs named by id (DESIGN.md invariants 1 and 5).

A blob is written once through a `BlobWriter`, made durable by `commit()`, and only then
referenced by a metadata row. Nothing is overwritten in place; object keys never reach here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Protocol


def new_blob_id() -> str:
    """128 random bits in hex: unique without coordination, and never derived from a key."""
    return secrets.token_hex(16)


def new_inline_blob_id() -> str:
    """A blob id for bytes kept in the metadata store: the clock in nanoseconds, then 64 random bits.

    Inline blobs are rows of a table ordered by id. Random ids put each new 4 KiB row into a random
    leaf of that B-tree (a page to write, and often to split, per PUT); ids that grow with time append
    at its right edge, so the PUTs of one commit share their pages. Still unique without
    coordination (the random half), and never derived from a key. File blobs keep random ids: their
    first two characters name the directory they are spread over.
    """
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


class BlobWriter(Protocol):
    blob_id: str
    size: int

    def write(self, data: bytes) -> None:
        """Append bytes (buffered by the OS; durability comes from commit)."""
        ...

    def commit(self) -> None:
        """Make the blob durable and visible under `blob_id`. Blocking: run it off the event loop."""
        ...

    def abort(self) -> None:
        """Discard the partial blob. Idempotent; safe after a failed commit."""
        ...


class BlobReader(Protocol):
    size: int

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (short only at the end of the blob)."""
        ...

    def close(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def open(self, blob_id: str) -> BlobReader:
        """Open for reading; raises FileNotFoundError if the blob does not exist."""
        ...

    def delete(self, blob_id: str) -> None:
        """Remove a blob. Idempotent: deleting a missing blob is not an error."""
        ...

    def blob_ids(self) -> Iterator[str]:
        """Every committed blob id (for the start-up orphan scan)."""
        ...

    def clear_partial(self) -> int:
        """Remove blobs that were never committed (left by a crash); return how many."""
        ...
