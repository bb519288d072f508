"""The per-process object cache and the shared write generation that keeps it exact."""

from __future__ import annotations

import asyncio

from bayou.meta import object_cache
from bayou.meta.change_signal import ChangeSignal
from bayou.meta.object_cache import ObjectCache
from bayou.meta.records import BucketRecord, ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore


def _record(key: str = "k") -> ObjectRecord:
    return ObjectRecord(bucket="b", key=key, size=1, etag="e", last_modified=0.0, blob_id="x", inline=True)


def test_generation_is_shared_between_handles_and_odd_while_writing(tmp_path):
    a, b = ChangeSignal(tmp_path / "g"), ChangeSignal(tmp_path / "g")
    start = a.read()
    a.begin_write()
    assert b.read() % 2 == 1 and b.read() != start
    a.end_write()
    assert b.read() % 2 == 0 and b.read() > start


def test_a_writer_killed_mid_write_does_not_disable_caching_for_good(tmp_path):
    signal = ChangeSignal(tmp_path / "g")
    signal.begin_write()  # ... and the process dies: the value stays odd
    stuck = signal.read()
    signal.begin_write()
    assert signal.read() % 2 == 1 and signal.read() != stuck
    signal.end_write()
    assert signal.read() % 2 == 0


def test_entry_served_until_any_write_begins(tmp_path):
    signal = ChangeSignal(tmp_path / "g")
    cache = ObjectCache(signal)
    entry = (_record(), b"d")
    found, generation = cache.lookup(("b", "k", True))
    assert found is None
    cache.store(("b", "k", True), entry, generation)
    assert cache.lookup(("b", "k", True))[0] is entry
    signal.begin_write()
    assert cache.lookup(("b", "k", True))[0] is None
    signal.end_write()
    assert cache.lookup(("b", "k", True))[0] is None  # dropped, not revived


def test_read_overlapping_a_write_is_not_kept(tmp_path):
    signal = ChangeSignal(tmp_path / "g")
    cache = ObjectCache(signal)
    _, generation = cache.lookup(("b", "k", True))
    signal.begin_write()  # a write began (and maybe committed) while the row was being read
    signal.end_write()
    cache.store(("b", "k", True), (_record(), b"old"), generation)
    assert cache.lookup(("b", "k", True))[0] is None


def test_nothing_is_kept_while_a_write_is_in_flight(tmp_path):
    signal = ChangeSignal(tmp_path / "g")
    cache = ObjectCache(signal)
    signal.begin_write()
    _, generation = cache.lookup(("b", "k", True))
    cache.store(("b", "k", True), (_record(), b"d"), generation)
    assert cache.lookup(("b", "k", True))[0] is None


def test_bounded_by_bytes_and_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(object_cache, "MAX_BYTES", 10)
    monkeypatch.setattr(object_cache, "MAX_ENTRIES", 3)
    monkeypatch.setattr(object_cache, "MAX_ITEM_BYTES", 6)
    cache = ObjectCache(ChangeSignal(tmp_path / "g"))
    _, generation = cache.lookup(("b", "0", True))
    for i in range(5):
        cache.store(("b", str(i), True), (_record(str(i)), b"1234"), generation)
    cache.store(("b", "big", True), (_record("big"), b"1234567"), generation)
    kept = [k for k in ("0", "1", "2", "3", "4", "big") if cache.lookup(("b", k, True))[0] is not None]
    assert kept == ["3", "4"]  # oldest evicted first; 3 x 4 bytes would exceed 10; too big never kept


def test_store_write_invalidates_other_store_on_same_file(tmp_path):
    """Two stores on one database (two server processes): a write through one is seen by the other."""
    path = tmp_path / "meta.db"

    async def scenario() -> None:
        one, two = SqliteMetaStore(path), SqliteMetaStore(path)
        try:
            await one.write(lambda tx: tx.insert_bucket(BucketRecord("b", 0.0, "us-east-1", "o")))
            await one.write(lambda tx: tx.put_object(_record(), b"A"))
            first = await two.get_object("b", "k", with_data=True)
            assert first is not None and first[1] == b"A"
            assert await two.get_object("b", "k", with_data=True) is first  # served from its cache
            await one.write(lambda tx: tx.put_object(_record(), b"B"))
            second = await two.get_object("b", "k", with_data=True)
            assert second is not None and second[1] == b"B"
        finally:
            one.close()
            two.close()

    asyncio.run(scenario())
