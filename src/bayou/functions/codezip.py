"""Deployment packages: validate a zip and unpack it safely into the code cache.

A zip is hostile input. Nothing in its headers is trusted: entry names are checked before anything
is written (no absolute paths, no `..`, no symlinks or other special files), and the size limit is
enforced on the bytes actually written, so a compression bomb or a header that lies stops at the
limit. The tree is built in a temporary directory next to the target and renamed into place, so a
reader never sees half a tree and a crash leaves only a `.tmp-*` directory behind.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import stat
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

from bayou.blobs.store import BlobReader
from bayou.errors import InvalidParameterValueException, RequestTooLargeException

MAX_ZIPPED = 50 * 1024 * 1024  # a ZipFile in the request (larger packages come from S3)
MAX_UNZIPPED = 262_144_000
MAX_ENTRIES = 10_000
#: The central directory is parsed in memory: bound it before zipfile reads it.
MAX_CENTRAL_DIRECTORY = MAX_ENTRIES * 1024
_CHUNK = 1024 * 1024

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
TOO_BIG_UNZIPPED = f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_zipped_size(size: int) -> None:
    if size > MAX_ZIPPED:
        raise RequestTooLargeException(f"Zipped size must be smaller than {MAX_ZIPPED} bytes")


def unpack(source: IO[bytes], target: Path, *, fsync: bool = True) -> Path:
    """Validate the zip in `source` (seekable) and unpack it as `target`; idempotent if it exists.

    Raises InvalidParameterValueException with Lambda's messages for anything unacceptable.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(4)}"
    tmp.mkdir(mode=0o755)
    try:
        with _open_zip(source) as archive:
            entries = _checked_entries(archive)
            _extract(archive, entries, tmp, fsync=fsync)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # lost a race with another unpacker of the same code: fine
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if fsync:
            _fsync_dir(target.parent)
        return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _open_zip(source: IO[bytes]) -> zipfile.ZipFile:
    _check_end_record(source)
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise InvalidParameterValueException(UNZIP_FAILED) from exc


def _check_end_record(source: IO[bytes]) -> None:
    """Refuse, from the end-of-central-directory record, more entries or directory than we accept."""
    size = source.seek(0, io.SEEK_END)
    tail_len = min(size, 22 + 65535)
    source.seek(size - tail_len)
    tail = source.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise InvalidParameterValueException(UNZIP_FAILED)
    _, _, _, _, entries, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
    if at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64: the real counts are elsewhere
        (zip64_offset,) = struct.unpack("<Q", tail[at - 12 : at - 4])
        source.seek(zip64_offset)
        record = source.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise InvalidParameterValueException(UNZIP_FAILED)
        entries, cd_size = struct.unpack("<QQ", record[32:48])
    if entries > MAX_ENTRIES:
        raise InvalidParameterValueException(f"Uploaded file must not contain more than {MAX_ENTRIES} entries.")
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise InvalidParameterValueException(UNZIP_FAILED)
    source.seek(0)


def _safe_parts(name: str) -> list[str]:
    """The path components of an entry name, or an error for names that would escape the tree."""
    if "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise InvalidParameterValueException(f"{UNZIP_FAILED} Entry has an absolute path: {name!r}")
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterValueException(f"{UNZIP_FAILED} Entry escapes the package: {name!r}")
    return parts


def _checked_entries(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise InvalidParameterValueException(f"Uploaded file must not contain more than {MAX_ENTRIES} entries.")
    declared = 0
    entries = []
    for info in infos:
        parts = _safe_parts(info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise InvalidParameterValueException(f"{UNZIP_FAILED} Symbolic links are not supported: {info.filename!r}")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise InvalidParameterValueException(f"{UNZIP_FAILED} Unsupported file type: {info.filename!r}")
        if info.flag_bits & 0x1:
            raise InvalidParameterValueException(f"{UNZIP_FAILED} Encrypted entries are not supported.")
        declared += info.file_size
        if declared > MAX_UNZIPPED:
            raise InvalidParameterValueException(TOO_BIG_UNZIPPED)
        if parts:
            entries.append((info, parts))
    return entries


def _extract(
    archive: zipfile.ZipFile, entries: list[tuple[zipfile.ZipInfo, list[str]]], root: Path, *, fsync: bool
) -> None:
    written = 0
    for info, parts in entries:
        path = root.joinpath(*parts)
        try:
            if info.is_dir():
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
            written = _write_entry(archive, info, path, mode, written, fsync=fsync)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError, OSError) as exc:
            raise InvalidParameterValueException(UNZIP_FAILED) from exc


def _write_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, mode: int, written: int, *, fsync: bool
) -> int:
    """Copy one entry, counting the bytes really produced; returns the running total."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                written += len(chunk)
                if written > MAX_UNZIPPED:
                    raise InvalidParameterValueException(TOO_BIG_UNZIPPED)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return written


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobFile(io.RawIOBase):
    """A seekable, read-only file over a `BlobReader`, so zipfile reads a blob without loading it."""

    def __init__(self, reader: BlobReader) -> None:
        super().__init__()
        self._reader = reader
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read_at(self._pos, min(len(view), max(0, self._reader.size - self._pos)))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)
