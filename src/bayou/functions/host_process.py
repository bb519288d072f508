"""Starting the function host next to the server workers, and where its socket lives.

The host is a separate interpreter (`python -m bayou.functions.host`) so that it shares nothing
with the workers' event loops and threads; it dies with the process that started it
(PR_SET_PDEATHSIG), and the server restarts it if it exits.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("bayou.functions")
_PR_SET_PDEATHSIG = 1
#: sun_path is 108 bytes on Linux; deep test directories would overflow it.
_MAX_SOCKET_PATH = 100


def host_socket_path(data_dir: Path) -> str:
    """`<data>/run/fnhost.sock`, or, when that is too long for sun_path, a name in a private
    per-user directory of the temp dir (never a guessable name in a shared, world-writable one)."""
    path = str(data_dir.resolve() / "run" / "fnhost.sock")
    if len(path) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return str(_private_dir() / f"fnhost-{digest}.sock")


def _private_dir() -> Path:
    directory = Path(tempfile.gettempdir()) / f"bayou-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{directory} must be a directory owned by this user with mode 0700")
    return directory


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@dataclass(frozen=True, slots=True)
class HostOptions:
    data_dir: Path
    idle_ttl: float = 300.0
    account_concurrency: int = 1000


def start_host(options: HostOptions) -> subprocess.Popen[bytes]:
    socket_path = host_socket_path(options.data_dir)
    Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "bayou.functions.host",
        "--socket", socket_path,
        "--data-dir", str(options.data_dir.resolve()),
        "--idle-ttl", str(options.idle_ttl),
        "--account-concurrency", str(options.account_concurrency),
    ]
    return subprocess.Popen(command, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
