"""Drive wrk with a generated request list and read its results."""

from __future__ import annotations

import json
import re
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA_DRIVER = Path(__file__).resolve().parent / "wrk" / "requests.lua"


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    rps: float
    transfer_per_s: str
    non2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    client_cpu_s: float = 0.0  # wrk's user + system CPU time

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.requests > 0

    def error_text(self) -> str:
        parts = [f"{self.non2xx} non-2xx"] if self.non2xx else []
        parts += [f"{v} {k}" for k, v in self.socket_errors.items() if v]
        if not self.requests:
            parts.append("no request completed")
        return ", ".join(parts)


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_spec(path: Path, method: str, paths: list[str], body_size: int = 0) -> Path:
    """Write the Lua table that requests.lua loads: one request target per line."""
    lines = [f"return {{ method = {_lua_string(method)}, body_size = {body_size}, paths = {{"]
    lines += [f"  {_lua_string(p)}," for p in paths]
    lines.append("} }")
    path.write_text("\n".join(lines) + "\n")
    return path


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TRANSFER = re.compile(r"Transfer/sec:\s+(\S+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse(output: str) -> WrkResult:
    """Parse wrk's text summary, completed by the exact counters that done() prints."""
    m = re.search(r"^BENCH_JSON (.*)$", output, re.M)
    if not m:
        raise RuntimeError("wrk produced no summary:\n" + output[-2000:])
    exact = json.loads(m.group(1))
    rps_m = _RPS.search(output)
    transfer_m = _TRANSFER.search(output)
    non2xx_m = _NON2XX.search(output)
    sock_m = _SOCKET.search(output)
    kinds = ("connect", "read", "write", "timeout")
    counts = [int(g) for g in sock_m.groups()] if sock_m else [exact[k] for k in kinds]
    socket_errors = dict(zip(kinds, counts, strict=True))
    duration_s = exact["duration_us"] / 1e6
    return WrkResult(
        requests=exact["requests"],
        duration_s=duration_s,
        bytes_read=exact["bytes"],
        rps=float(rps_m.group(1)) if rps_m else exact["requests"] / duration_s,
        transfer_per_s=transfer_m.group(1) if transfer_m else "",
        non2xx=int(non2xx_m.group(1)) if non2xx_m else exact["status"],
        socket_errors=socket_errors,
        p50_ms=exact["p50_us"] / 1000,
        p99_ms=exact["p99_us"] / 1000,
    )


def run_wrk(
    base_url: str,
    spec: Path,
    duration: float,
    connections: int = 16,
    threads: int = 2,
    timeout_s: int = 60,
    log=None,
) -> WrkResult:
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        f"{timeout_s}s",
        "--latency",
        "-s",
        str(LUA_DRIVER),
        base_url,
        "--",
        str(spec),
        str(threads),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 60)
    if log is not None:
        log.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
        log.flush()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse(proc.stdout)
    result.client_cpu_s = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return result
