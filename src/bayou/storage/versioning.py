"""S3 versioning: what a write or delete does to a key's versions, and ListObjectVersions.

The current version of a key (if it is not a delete marker) lives in `objects`, so unversioned
reads and listings never look at history. Noncurrent versions and delete markers live in
`versions`. Invariant: a key's `objects` row, when present, is newer than all its `versions`
rows; when absent, the newest `versions` row (if any) is a delete marker.
Bucket states: "" (never enabled: writes replace), "Enabled" (every write keeps the previous
version), "Suspended" (writes and deletes replace the `null` version, keep the others).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from bayou.errors import InvalidArgument
from bayou.meta.records import BucketRecord, ObjectRecord
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage.listing import common_prefix, successor
from bayou.storage.release import release_blob

NULL = "null"
_VERSION_ID = re.compile(r"[0-9a-f]{24}")
_AFTER_CURRENT = 2**63 - 1


def next_seq(tx: MetaTx, bucket: str, key: str, now: float) -> int:
    """The sequence number of a new version of `key`: after every existing one, and near `now`.

    Taken inside the write transaction from the key's newest rows, so it is strictly increasing
    per key even when several server processes write the same key within one clock tick.
    """
    current = tx.get_object(bucket, key)
    newest = tx.newest_version(bucket, key)
    return _after(max(current.seq if current else 0, newest.seq if newest else 0), now)


def seq_after(tx: MetaTx, bucket: BucketRecord, key: str, current: ObjectRecord | None, now: float) -> int:
    """`next_seq` for a caller that has read the key's current row in this transaction.

    The history is read only when it could hold the newest row: a current row is newer than all
    of it (the module's invariant), and a bucket never versioned has none ("" is never set again
    once versioning is enabled, and nothing else writes history rows).
    """
    top = current.seq if current is not None else 0
    if current is None and bucket.versioning != "":
        newest = tx.newest_version(bucket.name, key)
        top = newest.seq if newest is not None else 0
    return _after(top, now)


def _after(top: int, now: float) -> int:
    return max(int(now * 1e9), top + 1)


def new_version_id(seq: int) -> str:
    """Opaque, unique, and ordered by time: the sequence number in hex plus random bits."""
    return f"{seq:016x}{secrets.token_hex(4)}"


def check_version_id(version_id: str) -> None:
    if version_id != NULL and not _VERSION_ID.fullmatch(version_id):
        raise InvalidArgument("Invalid version id specified", ArgumentName="versionId", ArgumentValue=version_id)


def version_for_write(bucket: BucketRecord, seq: int) -> str:
    return new_version_id(seq) if bucket.versioning == "Enabled" else NULL


def _drop_null_version(tx: MetaTx, bucket: str, key: str) -> None:
    """Suspended buckets: a new null version or marker replaces the null one in the history.

    Called once the key has no current row, so `get_version` can only find the history's.
    """
    old = tx.get_version(bucket, key, NULL)
    if old is not None:
        tx.delete_version(bucket, key, NULL)
        release_blob(tx, old)


def _retire_current(tx: MetaTx, bucket: BucketRecord, current: ObjectRecord | None) -> None:
    """The current version stops being current: kept as noncurrent, or freed if it may be replaced."""
    if current is None:
        return
    if bucket.versioning == "" or (bucket.versioning == "Suspended" and current.version_id == NULL):
        release_blob(tx, current)
    else:
        tx.put_version(current)


def install_current(
    tx: MetaTx, bucket: BucketRecord, record: ObjectRecord, current: ObjectRecord | None, inline_data: bytes | None
) -> None:
    """Make `record` the current version of its key (PUT, POST, copy, Complete)."""
    _retire_current(tx, bucket, current)
    if bucket.versioning == "Suspended":
        tx.delete_object(record.bucket, record.key)
        _drop_null_version(tx, record.bucket, record.key)
    tx.put_object(record, inline_data)


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    delete_marker: bool = False
    version_id: str | None = None


def delete_current(
    tx: MetaTx, bucket: BucketRecord, key: str, current: ObjectRecord | None, seq: int, now: float
) -> DeleteOutcome:
    """DELETE without a version id: remove (unversioned) or hide behind a new delete marker.

    `current` is the key's current row, read in this transaction."""
    if bucket.versioning == "":
        if current is not None:
            tx.delete_object(bucket.name, key)
            release_blob(tx, current)
        return DeleteOutcome()
    if current is not None:
        tx.delete_object(bucket.name, key)
        _retire_current(tx, bucket, current)
    if bucket.versioning == "Suspended":
        _drop_null_version(tx, bucket.name, key)
    marker_id = version_for_write(bucket, seq)
    marker = ObjectRecord(
        bucket=bucket.name, key=key, size=0, etag="", last_modified=now, blob_id="", inline=False,
        version_id=marker_id, seq=seq, delete_marker=True,
    )
    tx.put_version(marker)
    return DeleteOutcome(True, marker_id)


def delete_version(
    tx: MetaTx, bucket: str, key: str, version_id: str, current: ObjectRecord | None
) -> DeleteOutcome:
    """DELETE ?versionId=: remove exactly that version; deleting the newest promotes the next one.

    `current` is the key's current row, read in this transaction."""
    if current is not None and current.version_id == version_id:
        tx.delete_object(bucket, key)
        release_blob(tx, current)
        _promote(tx, bucket, key)
        return DeleteOutcome(False, version_id)
    found = tx.get_version(bucket, key, version_id)
    if found is None:
        return DeleteOutcome(False, version_id)  # S3: deleting a version that is not there succeeds
    tx.delete_version(bucket, key, version_id)
    release_blob(tx, found)
    if current is None:
        _promote(tx, bucket, key)
    return DeleteOutcome(found.delete_marker, version_id)


def _promote(tx: MetaTx, bucket: str, key: str) -> None:
    newest = tx.newest_version(bucket, key)
    if newest is not None and not newest.delete_marker:
        tx.delete_version(bucket, key, newest.version_id)
        tx.put_object(newest, None)


# --- ListObjectVersions --------------------------------------------------------------------------


@dataclass(slots=True)
class VersionEntry:
    record: ObjectRecord
    is_latest: bool


@dataclass(slots=True)
class VersionsPage:
    entries: list[VersionEntry] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    #: The last entry returned; rendered as NextKeyMarker / NextVersionIdMarker when truncated.
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


def _position(record: ObjectRecord, from_objects: bool) -> tuple[bytes, int]:
    """Sort position: key ascending, then newest first (the current row before any history)."""
    return record.key.encode(), -(_AFTER_CURRENT if from_objects else record.seq)


async def start_position(
    meta: MetaStore, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str
) -> tuple[bytes, int | None]:
    """(key, below_seq) to resume from; below_seq None = the key's versions all still to come."""
    if not key_marker or key_marker.encode() < prefix.encode():
        return prefix.encode(), None
    if not version_marker:
        if delimiter and common_prefix(key_marker, prefix, delimiter) == key_marker:
            after = successor(key_marker.encode())
            return (after, None) if after is not None else (b"\xff" * 4, None)
        return key_marker.encode() + b"\x00", None
    found = await meta.get_version(bucket, key_marker, version_marker)
    if found is None:
        raise InvalidArgument("Invalid version id specified", ArgumentName="version-id-marker")
    current = await meta.get_object(bucket, key_marker, with_data=False)
    if current is not None and current[0].version_id == version_marker:
        return key_marker.encode(), _AFTER_CURRENT
    return key_marker.encode(), found.seq


async def list_versions_page(
    meta: MetaStore, bucket: str, *, prefix: str, delimiter: str, key_marker: str, version_marker: str,
    max_keys: int,
) -> VersionsPage:
    page = VersionsPage()
    key, below = await start_position(meta, bucket, prefix, delimiter, key_marker, version_marker)
    end = successor(prefix.encode()) if prefix else None
    mid_key = below is not None  # earlier entries of `key` were on an earlier page
    count = 0
    batch = min(max_keys + 1, 1000)
    while True:
        vers = await meta.list_versions(bucket, key, below, end, batch)
        # Current rows past the last history row fetched would sort after the cutoff anyway.
        objs_end = vers[-1].key.encode() + b"\x00" if len(vers) == batch else end
        objs = await meta.list_objects(bucket, key, below is None, objs_end, batch)
        merged = sorted([(_position(r, True), r, True) for r in objs] + [(_position(r, False), r, False) for r in vers])
        cutoffs = [_position(objs[-1], True)] if len(objs) == batch else []
        cutoffs += [_position(vers[-1], False)] if len(vers) == batch else []
        limit = min(cutoffs) if cutoffs else None
        if not merged:
            return page
        last_key = page.entries[-1].record.key if page.entries else (key_marker if mid_key else None)
        restart: tuple[bytes, int | None] | None = None
        for position, record, current in merged:
            if limit is not None and position > limit:
                break
            common = common_prefix(record.key, prefix, delimiter)
            if count == max_keys:
                page.is_truncated = True
                return page
            count += 1
            if common is not None:
                page.common_prefixes.append(common)
                page.next_key_marker, page.next_version_id_marker = common, None
                nxt = successor(common.encode())
                if nxt is None:
                    return page
                restart = (nxt, None)
                break
            page.entries.append(VersionEntry(record, current or record.key != last_key))
            page.next_key_marker, page.next_version_id_marker = record.key, record.version_id
            last_key = record.key
            restart = (record.key.encode(), _AFTER_CURRENT if current else record.seq)
        else:
            if limit is None:
                return page
        if restart is None:
            return page
        key, below = restart
