"""SQLite specifics (meta/sqlite.py, meta/migrations): numbered migrations and the file format."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bayou.meta.migrations import MIGRATIONS
from bayou.meta.records import BucketRecord
from bayou.meta.sqlite import SqliteMetaStore, migrate


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_fresh_database_has_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = SqliteMetaStore(path, fsync=False)
    store.close()
    assert len(MIGRATIONS) >= 1
    assert _user_version(path) == len(MIGRATIONS)


def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = SqliteMetaStore(path, fsync=False)
    asyncio.run(store.write(lambda tx: tx.insert_bucket(BucketRecord("bkt", 1.0, "us-east-1", "o"))))
    store.close()
    for _ in range(2):  # re-running CREATE TABLE would raise "table already exists"
        store = SqliteMetaStore(path, fsync=False)
        assert [b.name for b in asyncio.run(store.list_buckets())] == ["bkt"]
        store.close()
    assert _user_version(path) == len(MIGRATIONS)


def test_migrate_applies_only_the_missing_steps(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    migrate(conn)  # a no-op now
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = SqliteMetaStore(path, fsync=False)
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_keys_are_stored_as_utf8_blobs(tmp_path: Path) -> None:
    """Byte order comes from BLOB memcmp; a TEXT key with another collation would break it."""
    from bayou.meta.records import ObjectRecord

    path = tmp_path / "meta.db"
    store = SqliteMetaStore(path, fsync=False)
    asyncio.run(store.write(lambda tx: tx.insert_bucket(BucketRecord("bkt", 1.0, "us-east-1", "o"))))
    asyncio.run(store.write(lambda tx: tx.put_object(ObjectRecord("bkt", "é😀", 0, "e", 1.0, "b", True), b"")))
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT typeof(key), key FROM objects").fetchone() == ("blob", "é😀".encode())
    conn.close()
