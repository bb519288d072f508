"""functions/codezip.py: hostile deployment packages are refused before (or while) writing."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from bayou.errors import InvalidParameterValueException
from bayou.functions import codezip

from .conftest import make_zip

GB = 1024**3


def unpack(data: bytes, root: Path) -> Path:
    return codezip.unpack(io.BytesIO(data), root / "code" / "abc", fsync=False)


def leftovers(root: Path) -> list[str]:
    code = root / "code"
    return sorted(p.name for p in code.iterdir()) if code.exists() else []


def test_unpacks_files_dirs_and_modes(tmp_path: Path) -> None:
    data = make_zip(
        {"bootstrap": "#!/bin/sh\n", "pkg/": b"", "pkg/mod.py": "x = 1\n", "./lib/./deep/a.txt": "a"},
        modes={"bootstrap": 0o755, "pkg/mod.py": 0o600},
    )
    target = unpack(data, tmp_path)
    assert (target / "bootstrap").read_text() == "#!/bin/sh\n"
    assert stat.S_IMODE((target / "bootstrap").stat().st_mode) == 0o755
    assert os.access(target / "bootstrap", os.X_OK)
    assert stat.S_IMODE((target / "pkg" / "mod.py").stat().st_mode) == 0o644
    assert (target / "lib" / "deep" / "a.txt").read_text() == "a"
    assert leftovers(tmp_path) == ["abc"]


def test_unpack_is_idempotent(tmp_path: Path) -> None:
    data = make_zip({"a.py": "1"})
    first = unpack(data, tmp_path)
    (first / "marker").write_text("kept")
    assert unpack(data, tmp_path) == first
    assert (first / "marker").read_text() == "kept"


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04garbage" * 10, make_zip({"a": "b"})[:-30]])
def test_not_a_zip(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidParameterValueException) as info:
        unpack(data, tmp_path)
    assert info.value.message == codezip.UNZIP_FAILED
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/evil", "\\evil", "..\\evil", "C:/evil", "a/.."]
)
def test_escaping_entries_are_refused(tmp_path: Path, name: str) -> None:
    data = make_zip({"fine.py": "1", name: "pwned"})
    with pytest.raises(InvalidParameterValueException):
        unpack(data, tmp_path)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "code" / "evil.py").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidParameterValueException, match="Symbolic links"):
        unpack(buffer.getvalue(), tmp_path)
    assert leftovers(tmp_path) == []


def test_too_many_entries(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(codezip.MAX_ENTRIES + 1):
            archive.writestr(f"f{i}", b"")
    with pytest.raises(InvalidParameterValueException, match="10000"):
        unpack(buffer.getvalue(), tmp_path)
    assert leftovers(tmp_path) == []


def _zeros_zip(size: int) -> bytes:
    """One entry of `size` zero bytes, deflated (~1 MB per GB), built without holding `size` in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 22)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(compressor.flush())
    crc = 0
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    return _raw_zip(b"zeros.bin", b"".join(parts), crc, size)


def _raw_zip(name: bytes, compressed: bytes, crc: int, declared: int) -> bytes:
    """A one-entry deflated zip whose headers declare `declared` bytes (zip64 sizes)."""
    extra_local = struct.pack("<HHQQ", 1, 16, declared, len(compressed))
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra_local))
    local += name + extra_local
    extra_central = struct.pack("<HHQQ", 1, 16, declared, len(compressed))
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(name), len(extra_central), 0, 0, 0, 0o100644 << 16, 0,
    ) + name + extra_central
    cd_offset = len(local) + len(compressed)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), cd_offset, 0)
    return local + compressed + central + end


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _zeros_zip(GB)


def test_zip_bomb_is_refused_without_writing_it(tmp_path: Path, bomb: bytes) -> None:
    assert len(bomb) < 2 * 1024 * 1024
    with pytest.raises(InvalidParameterValueException) as info:
        unpack(bomb, tmp_path)
    assert info.value.message == codezip.TOO_BIG_UNZIPPED
    assert leftovers(tmp_path) == []


def test_zip_bomb_with_lying_headers_writes_only_what_they_claim(tmp_path: Path, bomb: bytes) -> None:
    """Headers claim 1000 bytes while 1 GB would inflate: the extraction stops at 1000."""
    compressed_start = bomb.index(b"zeros.bin") + len(b"zeros.bin") + 20
    compressed = bomb[compressed_start : bomb.index(b"PK\x01\x02")]
    liar = _raw_zip(b"zeros.bin", compressed, zlib.crc32(bytes(1000)), 1000)
    target = unpack(liar, tmp_path)
    assert (target / "zeros.bin").stat().st_size == 1000


def test_written_bytes_are_counted_whatever_the_headers_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declared sizes pass (the check is patched out); the count of bytes written stops the unpack."""
    monkeypatch.setattr(codezip, "MAX_UNZIPPED", 5 * 1024 * 1024)
    real_checked = codezip._checked_entries

    def checked_with_lies(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, list[str]]]:
        monkeypatch.setattr(codezip, "MAX_UNZIPPED", 1 << 62)
        try:
            return real_checked(archive)
        finally:
            monkeypatch.setattr(codezip, "MAX_UNZIPPED", 5 * 1024 * 1024)

    monkeypatch.setattr(codezip, "_checked_entries", checked_with_lies)
    data = make_zip({f"f{i}": bytes(1024 * 1024) for i in range(8)})
    with pytest.raises(InvalidParameterValueException):
        unpack(data, tmp_path)
    assert leftovers(tmp_path) == []
