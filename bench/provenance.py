"""Where a benchmark ran: the machine and the state of the source it measured (for docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def machine(*, python: bool = True) -> str:
    mem = "?"
    try:
        kib = int(next(ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal")).split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    cpu = "?"
    try:
        cpu = next(ln for ln in open("/proc/cpuinfo") if ln.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    text = f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, Linux {platform.release()}"
    return f"{text}, Python {platform.python_version()}" if python else text


def source_state() -> str:
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=repo, capture_output=True, text=True).stdout
    state = f"`src/` at {head or '?'}"
    if dirty.strip():
        state += f", with {len(dirty.splitlines())} uncommitted file(s) in `src/` from work in progress in the same tree"
    return state
