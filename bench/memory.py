"""Peak memory of a server's process tree during a streamed multi-GiB upload and download."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
ABORT_RSS = 2 * GiB


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _kib(path: Path, field: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int, list[int]]:
    """(sum of RSS, sum of PSS, RSS of each process) over the tree, in bytes."""
    pids = process_tree(root)
    each = [_kib(Path(f"/proc/{p}/status"), "VmRSS") * 1024 for p in pids]
    pss = sum(_kib(Path(f"/proc/{p}/smaps_rollup"), "Pss") for p in pids)
    return sum(each), pss * 1024, each


class Sampler(threading.Thread):
    def __init__(self, root: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_pss = self.procs = self.peak_one = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss, pss, each = tree_memory(self.root)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.procs, self.peak_one = max(self.procs, len(each)), max([self.peak_one, *each])
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class PatternReader:
    """A file object producing `size` bytes of a repeating pattern without holding them.

    Non-seekable by default (boto3 then streams it as multipart); `seekable=True` lets botocore
    find the length for one streaming PutObject."""

    UNIT = b"bayou-bench-5gib"

    def __init__(self, size: int, seekable: bool = False):
        self.size, self.pos, self._seekable = size, 0, seekable
        self.block = self.UNIT * (8 * MiB // len(self.UNIT) + 1)

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        n = left if n is None or n < 0 else min(n, left)
        n = min(n, 8 * MiB)
        start = self.pos % len(self.UNIT)
        self.pos += n
        return self.block[start : start + n]

    def seekable(self) -> bool:
        return self._seekable

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise OSError("not seekable")
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, min(self.size, base + offset))
        return self.pos


@dataclass
class BigResult:
    size: int
    baseline_rss: int
    peak_rss: int
    peak_pss: int
    procs: int
    peak_one: int
    upload_s: float
    download_s: float
    error: str = ""
    upload_mode: str = "multipart"


def big_transfer(s3, root_pid: int, size: int = 5 * GiB, bucket: str = "big") -> BigResult:
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError
    from s3util import ensure_bucket

    ensure_bucket(s3, bucket)
    baseline, _, _ = tree_memory(root_pid)
    sampler = Sampler(root_pid)
    sampler.start()
    up = down = 0.0
    error, mode = "", "multipart"
    try:
        t0 = time.monotonic()
        try:
            s3.upload_fileobj(
                PatternReader(size),
                bucket,
                "five-gib",
                Config=TransferConfig(multipart_chunksize=64 * MiB, max_concurrency=4),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NotImplemented":
                raise
            mode = "one streaming PutObject (multipart not implemented)"
            t0 = time.monotonic()
            s3.put_object(Bucket=bucket, Key="five-gib", Body=PatternReader(size, seekable=True))
        up = time.monotonic() - t0
        t0 = time.monotonic()
        body = s3.get_object(Bucket=bucket, Key="five-gib")["Body"]
        got = 0
        for chunk in body.iter_chunks(MiB):
            got += len(chunk)
            if sampler.peak_rss > ABORT_RSS:  # spare a shared machine: the verdict is clear already
                body.close()
                break
        down = time.monotonic() - t0
        if sampler.peak_rss > ABORT_RSS:
            error = (
                f"download aborted after {got / MiB:,.0f} MiB: server RSS passed {ABORT_RSS / MiB:,.0f} MiB"
            )
        elif got != size:
            error = f"download returned {got} bytes, expected {size}"
    except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal for the run
        error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        sampler.stop()
    try:
        s3.delete_object(Bucket=bucket, Key="five-gib")
    except Exception:  # noqa: BLE001
        pass
    return BigResult(
        size,
        baseline,
        sampler.peak_rss,
        sampler.peak_pss,
        sampler.procs,
        sampler.peak_one,
        up,
        down,
        error,
        mode,
    )
