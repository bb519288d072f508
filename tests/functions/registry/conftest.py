"""Fixtures for the registry tests: a real SqliteMetaStore, LocalBlobStore and StorageService in tmp."""

from __future__ import annotations

import asyncio
import io
import random
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.functions.registry import CodeSource, FunctionRegistry, FunctionSpec
from bayou.meta.sqlite import SqliteMetaStore
from bayou.storage.release import BLOB_DELETE
from bayou.storage.service import StorageService

T0 = 1_700_000_000.0
REGION = "us-east-1"


def make_zip(files: dict[str, bytes | str], *, modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            mode = (modes or {}).get(name, 0o644)
            info.external_attr = ((stat.S_IFDIR if name.endswith("/") else stat.S_IFREG) | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


HANDLER_ZIP = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


@dataclass
class Env:
    tmp: Path
    clock: FixedClock
    meta: SqliteMetaStore
    blobs: LocalBlobStore
    storage: StorageService
    registry: FunctionRegistry

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def create(self, name: str = "f", zip_bytes: bytes = HANDLER_ZIP, **kw: Any) -> Any:
        kw.setdefault("runtime", "python3.11")
        kw.setdefault("handler", "app.handler")
        return self.run(self.registry.create_function(FunctionSpec(name=name, **kw), CodeSource(zip_bytes=zip_bytes)))

    def queued_deletes(self) -> set[str]:
        return {r.payload["blob_id"] for r in self.run(self.meta.pending_outbox((BLOB_DELETE,), 1000))}

    def reopen(self, seed: int = 0) -> None:
        self.meta.close()
        self.meta, self.blobs, self.storage, self.registry = _open(self.tmp, self.clock, seed)


def _open(tmp: Path, clock: FixedClock, seed: int) -> tuple[SqliteMetaStore, LocalBlobStore, StorageService, FunctionRegistry]:
    meta = SqliteMetaStore(tmp / "meta.db", fsync=False, now=clock.now)
    blobs = LocalBlobStore(tmp / "blobs", fsync=False)
    storage = StorageService(meta, blobs, clock, region=REGION, owner="owner", inline_limit=1024)
    registry = FunctionRegistry(
        meta, blobs, storage, tmp / "functions" / "code", clock, REGION, rng=random.Random(seed), fsync=False
    )
    return meta, blobs, storage, registry


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    e = Env(tmp_path, clock, *_open(tmp_path, clock, 0))
    yield e
    e.meta.close()
