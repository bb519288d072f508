"""Running the server: start-up recovery, then one or more uvicorn worker processes on one socket.

Recovery (migrations, removing blobs a crash orphaned) runs once in the parent before any
worker serves, because the orphan scan is only safe while nothing writes. With several workers
the parent binds the socket and forks; each child dies with the parent (PR_SET_PDEATHSIG), so a
kill -9 of the server never leaves workers holding the port. Background services run in worker 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import uvicorn

from bayou.app import BayouApp, open_components
from bayou.config import RootCredentials, Settings
from bayou.functions.host_process import HostOptions, start_host
from bayou.http_protocol import BayouHttpProtocol
from bayou.services.events.targets import TargetConfigError, TargetSpec, validate_spec
from bayou.services.gc import remove_orphans

log = logging.getLogger("bayou.server")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass


def recover(settings: Settings, credentials: RootCredentials) -> int:
    components = open_components(settings, credentials.access_key, credentials.secret_key)
    try:
        return remove_orphans(components.meta, components.blobs)
    finally:
        components.meta.close()


def read_config(path: Path) -> list[TargetSpec]:
    """The `[[targets]]` of a TOML config file (ValueError, naming the file, if it is not usable)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from exc
    tables = data.get("targets", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError(f"{path}: 'targets' must be an array of tables ([[targets]])")
    specs: list[TargetSpec] = []
    for index, table in enumerate(tables):
        try:
            specs.append(TargetSpec.from_doc(table))
        except TargetConfigError as exc:
            raise ValueError(f"{path}: targets[{index}]: {exc}") from exc
    if len({spec.id for spec in specs}) != len(specs):
        raise ValueError(f"{path}: two targets share an id")
    return specs


def apply_config(settings: Settings, credentials: RootCredentials) -> int:
    """Validate the config file's targets and upsert them into the registry, before any worker serves."""
    if settings.config_file is None:
        return 0
    specs = read_config(settings.config_file)
    components = open_components(settings, credentials.access_key, credentials.secret_key)

    async def save() -> None:
        for spec in specs:
            try:
                await validate_spec(spec)
            except TargetConfigError as exc:
                raise ValueError(f"{settings.config_file}: target {spec.id}: {exc}") from exc
        for spec in specs:
            await components.targets.put(spec)

    try:
        asyncio.run(save())
    finally:
        components.meta.close()
    return len(specs)


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(settings: Settings, credentials: RootCredentials, sock: socket.socket, *, run_services: bool) -> None:
    components = open_components(settings, credentials.access_key, credentials.secret_key)
    app = BayouApp(components, run_services=run_services)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=BayouHttpProtocol,
        proxy_headers=False,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        # Long-lived responses (event listeners) must not hold a shutdown forever.
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def run(settings: Settings, credentials: RootCredentials) -> None:
    removed = recover(settings, credentials)
    if removed:
        log.warning("removed %d blob(s) orphaned by an earlier crash", removed)
    try:
        saved = apply_config(settings, credentials)
    except ValueError as exc:
        raise SystemExit(f"bayou: {exc}") from None
    if saved:
        log.info("saved %d event target(s) from %s", saved, settings.config_file)
    sock = _bind(settings)
    host = FunctionHost(HostOptions(settings.data_dir, settings.fn_idle_ttl, settings.fn_account_concurrency))
    print(f"Bayou listening on {settings.public_url} (data in {settings.data_dir})", flush=True)
    if settings.workers <= 1:
        host.keep_running()
        _serve(settings, credentials, sock, run_services=True)
        host.stop()
        return
    children: dict[int, int] = {}

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                _serve(settings, credentials, sock, run_services=index == 0)
            finally:
                os._exit(0)
        children[pid] = index

    for index in range(settings.workers):
        spawn(index)
    host.keep_running()
    try:
        _supervise(children, spawn)
    finally:
        host.stop()


class FunctionHost:
    """The function host process, restarted by a watcher thread whenever it exits."""

    def __init__(self, options: HostOptions) -> None:
        self._options = options
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def keep_running(self) -> None:
        self._process = start_host(self._options)
        threading.Thread(target=self._watch, name="bayou-fnhost-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set() or code in (0, -signal.SIGTERM, -signal.SIGINT):
                return  # asked to stop (the server's process group is shutting down), not a crash
            log.error("function host (pid %d) exited with %s; restarting it", process.pid, code)
            self._stopping.wait(0.2)
            self._process = start_host(self._options)

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()


def _supervise(children: dict[int, int], spawn: object) -> None:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)  # other pids (the function host) are watched by their Popen
        if index is not None and not stopping:
            log.error("worker %d (pid %d) exited; restarting it", index, pid)
            spawn(index)  # type: ignore[operator]
