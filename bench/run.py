#!/usr/bin/env python3
"""Benchmark Bayou against nginx and SeaweedFS on this machine, loopback only.

    python3 bench/run.py [--quick] [--only bayou,nginx,seaweedfs] [--workers N] [--skip-big]

Starts each server in a temp dir, drives it with wrk, prints a markdown table and writes it to
docs/benchmarks.md. Servers are killed and temp dirs removed on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402
from loadgen import run_wrk, write_spec  # noqa: E402
from report import Results, render  # noqa: E402
from workloads import WORKLOADS, Workload, figure, sanity_check, spec_dir, targets_for  # noqa: E402

ALL = ("nginx", "seaweedfs", "bayou")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s per workload, fewer keys, 1 GiB memory test")
    p.add_argument("--only", default=",".join(ALL), help="comma-separated subset of: " + ",".join(ALL))
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="Bayou worker processes")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 10, or 3 with --quick)")
    p.add_argument(
        "--repeat",
        type=int,
        help="wrk runs per workload and server, median reported (default 3, 1 with --quick)",
    )
    p.add_argument("--workloads", default=",".join(w.name for w in WORKLOADS), help="comma-separated subset")
    p.add_argument(
        "--skip-big", action="store_true", help="skip Bayou's large streamed upload/download memory test"
    )
    p.add_argument(
        "--big-gib", type=float, help="size of the memory test object (default 5, or 1 with --quick)"
    )
    p.add_argument(
        "--output", default=str(servers.REPO / "docs" / "benchmarks.md"), help="markdown file to write"
    )
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument(
        "--log",
        default=os.path.join(tempfile.gettempdir(), "bayou-bench-wrk.log"),
        help="where wrk's raw output is kept",
    )
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(ALL)
    if unknown:
        p.error(f"unknown server(s) {sorted(unknown)}; choose from {ALL}")
    args.workloads = [w for w in WORKLOADS if w.name in args.workloads.split(",")]
    args.repeat = max(1, args.repeat or (1 if args.quick else 3))
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.big_gib = args.big_gib or (1.0 if args.quick else 5.0)
    return args


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def start(name: str, workdir: Path, workers: int) -> servers.Server:
    if name == "nginx":
        return servers.start_nginx(workdir)
    if name == "seaweedfs":
        return servers.start_seaweedfs(workdir)
    return servers.start_bayou(workdir, workers)


def _failed(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def prepare(
    srv: servers.Server, targets, w: Workload, args: argparse.Namespace, res: Results, log
) -> Path | None:
    """Prefill and presign for one workload; the wrk spec file, or None (failure recorded)."""
    try:
        t0 = time.monotonic()
        paths = targets.paths(w, args.quick)
        sanity_check(srv, w, paths)
        spec = write_spec(
            spec_dir(srv) / f"{w.name}.lua", w.method, paths, w.size if w.method == "PUT" else 0
        )
        print(f"  {srv.name}: {len(paths)} targets ready in {time.monotonic() - t0:.1f}s", flush=True)
        return spec
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing workload must not hide the others
        res.runs.setdefault(srv.name, {})[w.name] = _failed(exc)
        print(f"  {srv.name}: FAILED {_failed(exc)}", flush=True)
        log.write(traceback.format_exc() + "\n")
        return None


def measure(
    srv: servers.Server, spec: Path, w: Workload, args: argparse.Namespace, res: Results, log
) -> None:
    runs = res.runs.setdefault(srv.name, {})
    try:
        r = run_wrk(srv.endpoint, spec, args.duration, log=log)
        done = runs.setdefault(w.name, [])
        if isinstance(done, list):
            done.append(r)
        shown = (
            f"{figure(w, r.rps, r.bytes_read / r.duration_s):,.1f} {w.unit}"
            if r.ok
            else f"ERRORS: {r.error_text()}"
        )
        print(f"  {srv.name}: {shown} ({r.requests:,} requests, p99 {r.p99_ms:.1f} ms)", flush=True)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001
        runs[w.name] = _failed(exc)
        print(f"  {srv.name}: FAILED {runs[w.name]}", flush=True)
        log.write(traceback.format_exc() + "\n")


def big_test(srv: servers.Server, args: argparse.Namespace, res: Results) -> None:
    import memory
    import s3util

    print(f"  memory: streaming a {args.big_gib:g} GiB object up and down", flush=True)
    s3 = s3util.client(srv.endpoint, read_timeout=600)
    res.big = memory.big_transfer(s3, srv.proc.pid, int(args.big_gib * memory.GiB))
    b = res.big
    print(
        f"    -> peak RSS {b.peak_rss / memory.MiB:.0f} MiB over {b.procs} processes"
        + (f"; ERROR {b.error}" if b.error else ""),
        flush=True,
    )


def start_all(args: argparse.Namespace, res: Results, root: Path, started: list, log) -> None:
    for name in [s for s in ALL if s in args.only]:
        if name == "bayou":
            usable, why = servers.bayou_usable()
            if not usable:
                res.server_notes[name] = f"not yet measured: `python -m bayou server --help` fails ({why})"
                print(f"bayou: skipped, {why}", flush=True)
                continue
        srv = None
        try:
            srv = start(name, Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root)), args.workers)
            started.append((srv, None))
            started[-1] = (srv, targets_for(srv))
            print(f"{name}: listening on {srv.endpoint}", flush=True)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the other servers are still measured
            res.server_notes[name] = (
                f"failed to start: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            )
            print(f"{name}: FAILED to start: {exc}", flush=True)
            log.write(traceback.format_exc() + "\n")
            if srv is not None:
                srv.stop()
                started[:] = [(s, t) for s, t in started if s is not srv]


def run(args: argparse.Namespace, res: Results, root: Path, log) -> None:
    """Start every server, then run each workload on each server in turn: runs of one workload
    are adjacent in time, so background load on the machine biases no server in particular."""
    started: list = []
    try:
        start_all(args, res, root, started, log)
        for w in args.workloads:
            print(f"== {w.label}: {args.repeat} x {args.duration:g} s per server", flush=True)
            specs = [(srv, prepare(srv, targets, w, args, res, log)) for srv, targets in started]
            for _ in range(args.repeat):
                for srv, spec in specs:
                    if spec is not None and isinstance(res.runs.get(srv.name, {}).get(w.name, []), list):
                        measure(srv, spec, w, args, res, log)
        bayou = next((srv for srv, _ in started if srv.name == "bayou"), None)
        if bayou is not None and args.skip_big:
            res.big_note = "--skip-big"
        elif bayou is not None:
            for srv, _ in started:  # alone on the machine for the memory test
                if srv is not bayou:
                    srv.stop()
            big_test(bayou, args, res)
    finally:
        for srv, _ in started:
            srv.stop()


def merge_doc(old: str, new: str) -> str:
    """`new`, followed by the `## ` sections of `old` that this script does not write (other
    benchmarks, e.g. bench/storage_ops.py, keep their own sections in the same page)."""
    ours = {line for line in new.splitlines() if line.startswith("## ")}
    kept, keep = [], False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line not in ours
        if keep:
            kept.append(line)
    return new.rstrip() + "\n\n" + "\n".join(kept).rstrip() + "\n" if kept else new


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    servers.ensure_tools(need_nginx="nginx" in args.only, need_weed="seaweedfs" in args.only)
    res = Results(
        command="python3 bench/run.py" + ("".join(" " + shlex.quote(a) for a in argv)),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        quick=args.quick,
        repeat=args.repeat,
        duration=args.duration,
        workers=args.workers,
        versions=servers.tool_versions(),
        load=[os.getloadavg()[0]],
    )
    root = Path(tempfile.mkdtemp(prefix="bayou-bench-"))
    try:
        with open(args.log, "w") as log:
            run(args, res, root, log)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, temp dirs removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)
    res.load.append(os.getloadavg()[0])
    text = render(res)
    print("\n" + text)
    if not args.no_write:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        out = Path(args.output)
        out.write_text(merge_doc(out.read_text() if out.exists() else "", text))
        print(f"written to {args.output}; wrk output in {args.log}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
