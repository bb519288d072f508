"""Blobs as local files (blobs/local.py): immutable, named by id, durable on commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bayou.blobs.local import FileRange, LocalBlobReader, LocalBlobStore
from bayou.blobs.store import new_blob_id, new_inline_blob_id
from bayou.meta.records import PartRecord
from bayou.storage.models import ManifestReader


@pytest.fixture(params=[False, True], ids=["nofsync", "fsync"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", fsync=request.param)


def _put(store: LocalBlobStore, *parts: bytes) -> str:
    writer = store.writer()
    for part in parts:
        writer.write(part)
    writer.commit()
    return writer.blob_id


def _tmp(store: LocalBlobStore) -> list[str]:
    return sorted(p.name for p in store.tmp_dir.iterdir())


def test_write_commit_open_read(store: LocalBlobStore) -> None:
    writer = store.writer()
    writer.write(b"hello ")
    writer.write(memoryview(b"world"))  # type: ignore[arg-type]
    writer.write(b"")
    assert writer.size == 11
    assert list(store.blob_ids()) == []  # invisible until committed
    writer.commit()
    assert list(store.blob_ids()) == [writer.blob_id]
    assert _tmp(store) == []
    reader = store.open(writer.blob_id)
    try:
        assert reader.size == 11
        assert reader.read_at(0, 11) == b"hello world"
        assert reader.read_at(6, 3) == b"wor"
        assert reader.read_at(6, 100) == b"world"  # short only at the end
        assert reader.read_at(11, 10) == b""
        assert reader.read_at(500, 10) == b""
    finally:
        reader.close()


def test_large_blob_round_trip(store: LocalBlobStore) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    blob_id = _put(store, chunk, chunk[::-1], b"tail")
    reader = store.open(blob_id)
    try:
        assert reader.size == 2 * len(chunk) + 4
        assert reader.read_at(len(chunk) - 2, 4) == chunk[-2:] + chunk[::-1][:2]
        assert reader.read_at(2 * len(chunk), 10) == b"tail"
    finally:
        reader.close()


def test_empty_blob(store: LocalBlobStore) -> None:
    blob_id = _put(store)
    reader = store.open(blob_id)
    assert reader.size == 0 and reader.read_at(0, 10) == b""
    reader.close()


def test_files_are_sharded_by_id_and_not_by_anything_else(store: LocalBlobStore) -> None:
    blob_id = _put(store, b"x")
    path = store.path_for(blob_id)
    assert path == store.root / blob_id[:2] / blob_id
    assert path.read_bytes() == b"x"


def test_blob_ids_are_random_hex(store: LocalBlobStore) -> None:
    ids = {new_blob_id() for _ in range(1000)}
    assert len(ids) == 1000
    for blob_id in ids:
        assert len(blob_id) == 32 and int(blob_id, 16) >= 0
    assert store.writer().blob_id != store.writer().blob_id


def test_inline_blob_ids_are_unique_hex_and_grow_with_time() -> None:
    ids = [new_inline_blob_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert all(len(blob_id) == 32 and blob_id.isalnum() and int(blob_id, 16) >= 0 for blob_id in ids)
    earlier = new_inline_blob_id()
    time.sleep(0.001)
    later = new_inline_blob_id()
    assert earlier < later  # appended at the right edge of the inline_blobs B-tree
    assert sorted(ids[::500]) == ids[::500]  # generated 500 apart: the clock has moved on


def test_delete_is_idempotent(store: LocalBlobStore) -> None:
    blob_id = _put(store, b"x")
    keep = _put(store, b"y")
    store.delete(blob_id)
    store.delete(blob_id)
    store.delete(new_blob_id())  # never existed
    assert list(store.blob_ids()) == [keep]
    with pytest.raises(FileNotFoundError):
        store.open(blob_id)


def test_open_missing_blob(store: LocalBlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.open(new_blob_id())


def test_open_reader_survives_delete(store: LocalBlobStore) -> None:
    """A GET in flight keeps reading after the collector removes the file (POSIX unlink)."""
    blob_id = _put(store, b"still here")
    reader = store.open(blob_id)
    store.delete(blob_id)
    assert reader.read_at(0, 100) == b"still here"
    reader.close()


def test_abort_leaves_nothing(store: LocalBlobStore) -> None:
    writer = store.writer()
    writer.write(b"partial")
    assert _tmp(store) == [writer.blob_id]
    writer.abort()
    writer.abort()  # idempotent
    assert _tmp(store) == [] and list(store.blob_ids()) == []
    with pytest.raises(FileNotFoundError):
        store.open(writer.blob_id)


def test_abort_after_commit_keeps_the_committed_blob(store: LocalBlobStore) -> None:
    writer = store.writer()
    writer.write(b"data")
    writer.commit()
    writer.abort()
    assert list(store.blob_ids()) == [writer.blob_id]


@pytest.mark.parametrize(
    "bad", ["../x", "..", ".", "", "a/b", "/etc/passwd", "tmp/../x", "ab\x00cd", "ab cd", "ab\\cd", "ab-cd", "../" + "a" * 30]
)
def test_path_for_rejects_anything_but_an_id(store: LocalBlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.path_for(bad)
    with pytest.raises(ValueError):
        store.open(bad)
    with pytest.raises(ValueError):
        store.delete(bad)


def test_clear_partial(store: LocalBlobStore) -> None:
    committed = _put(store, b"kept")
    partials = [store.writer() for _ in range(3)]
    for w in partials:
        w.write(b"crash")
    assert store.clear_partial() == 3
    assert _tmp(store) == []
    assert list(store.blob_ids()) == [committed]
    assert store.clear_partial() == 0


def test_blob_ids_lists_every_committed_blob_and_skips_tmp(store: LocalBlobStore) -> None:
    ids = {_put(store, str(i).encode()) for i in range(12)}
    store.writer().write(b"uncommitted")
    assert set(store.blob_ids()) == ids


def test_store_reopens_over_existing_files(tmp_path: Path) -> None:
    first = LocalBlobStore(tmp_path / "blobs", fsync=False)
    blob_id = _put(first, b"persisted")
    second = LocalBlobStore(tmp_path / "blobs", fsync=False)
    assert list(second.blob_ids()) == [blob_id]
    reader = second.open(blob_id)
    assert reader.read_at(0, 100) == b"persisted"
    reader.close()


def test_ranges_equal_reads_at_any_offset_and_length(tmp_path: Path) -> None:
    """range_at reads nothing; its view maps only the range (offsets need not be page-aligned)."""
    content = os.urandom(3 * 4096 + 123)
    path = tmp_path / "blob"
    path.write_bytes(content)
    reader = LocalBlobReader(path)
    try:
        for offset, length in [(0, 10), (1, 4096), (4095, 2), (4096, 4096), (5000, 100_000), (len(content) - 1, 5)]:
            piece = reader.range_at(offset, length)
            expected = content[offset : offset + length]
            assert len(piece) == len(expected) and bytes(piece.view()) == expected == reader.read_at(offset, length)
        assert len(reader.range_at(len(content), 10)) == 0
        kept = reader.range_at(100, 50).view()
    finally:
        reader.close()
    assert bytes(kept) == content[100:150]  # a view outlives its reader: the mapping is its own


def test_manifest_ranges_cross_parts_like_reads(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path, fsync=False)
    pieces = [os.urandom(n) for n in (5000, 1, 70_000)]
    parts, start = [], 0
    for number, piece in enumerate(pieces, 1):
        writer = store.writer()
        writer.write(piece)
        writer.commit()
        parts.append(PartRecord(number, writer.blob_id, len(piece), "etag", None, 0.0, start))
        start += len(piece)
    whole = b"".join(pieces)
    reader = ManifestReader(store, parts)
    try:
        for offset in (0, 4999, 5000, 5001, 40_000, len(whole) - 1):
            piece = reader.range_at(offset, 1 << 20)
            assert isinstance(piece, FileRange)
            got = bytes(piece.view())
            assert got == reader.read_at(offset, 1 << 20) and got and whole.startswith(got, offset)
        assert reader.range_at(len(whole), 10) == b""
    finally:
        reader.close()
