"""`bayou server` as a user starts it: generated credentials, env settings, --fsync off, health, addressing."""

from __future__ import annotations

import re
import socket
import sys

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import BayouServer, err, list_all_keys, raw, sign, unique_bucket

pytestmark = pytest.mark.e2e

TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{3,128}")


def _find_credentials(server: BayouServer, output: str) -> tuple[str, str]:
    """The printed (access key, secret key) pair that the server accepts."""
    lines = output.replace(str(server.data_dir.parent), "").splitlines()
    scored = []
    for i, line in enumerate(lines):
        for secret in TOKEN.findall(line):
            if len(secret) < 16:
                continue
            for j in range(max(0, i - 3), min(len(lines), i + 4)):
                for ak in TOKEN.findall(lines[j]):
                    if ak != secret:
                        # try the labelled ones first; fall back to every nearby pair
                        score = ("secret" in line.lower()) + ("access" in lines[j].lower())
                        scored.append((-score, ak, secret))
    candidates = [(ak, sk) for _, ak, sk in sorted(scored, key=lambda t: t[0])]
    for ak, sk in dict.fromkeys(candidates):
        if raw(server, "GET", "/", access_key=ak, secret_key=sk).status_code == 200:
            return ak, sk
    raise AssertionError(f"no printed credentials work; output was:\n{output}")


def test_generated_secret_printed_once_and_reused(tmp_path):
    server = BayouServer(tmp_path / "data", access_key=None, secret_key=None)
    assert "--secret-key" not in server.command() and "--access-key" not in server.command()
    server.start()
    try:
        ak, sk = _find_credentials(server, server.output())
        client = server.client(access_key=ak, secret_key=sk)
        name = unique_bucket()
        client.create_bucket(Bucket=name)
        server.restart()
        second = server.output()
        assert sk not in second, "the secret was printed again on the second start"
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == [name]  # same credentials still work
        assert sk.encode() not in (tmp_path / "data.server.log").read_bytes().split(b"===== start #2")[1]
    finally:
        server.stop()

    # anonymous and a guessed default are refused
    other = BayouServer(tmp_path / "data2", access_key=None, secret_key=None)
    other.start()
    try:
        ak2, sk2 = _find_credentials(other, other.output())
        assert sk2 != sk, "two fresh data dirs got the same secret: a well-known default"
        assert raw(other, "GET", "/", signed=False).status_code == 403
        assert raw(other, "GET", "/", access_key=ak, secret_key=sk).status_code == 403
    finally:
        other.stop()


def test_settings_from_environment(tmp_path):
    server = BayouServer(tmp_path / "data", use_flags=False, extra_args=())
    assert server.command()[-1] == "server"  # nothing on the command line
    server.start()
    try:
        client = server.client()
        name = unique_bucket()
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="k", Body=b"env")
        assert any((tmp_path / "data").iterdir())  # BAYOU_DATA_DIR honoured
        with pytest.raises(ClientError) as ei:
            server.client(secret_key="wrong").list_buckets()
        assert err(ei.value) == ("SignatureDoesNotMatch", 403)
    finally:
        server.stop()


class _DefaultsServer(BayouServer):
    """`bayou server` with credentials only: address and data dir are the server's defaults."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bayou", "server", "--access-key", self.access_key or "",
                "--secret-key", self.secret_key or ""]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_defaults_are_127_0_0_1_9000_and_data_in_the_working_directory(tmp_path):
    assert _port_free(9000), "port 9000 is taken on this machine: the default address cannot be tested"
    server = _DefaultsServer(tmp_path / "data", use_flags=True, port=9000)
    assert "--address" not in server.command() and "--data-dir" not in server.command()
    server.start()  # waits for /_bayou/health on 127.0.0.1:9000
    try:
        client = server.client()
        name = unique_bucket()
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="k", Body=b"defaults")
        assert any((tmp_path / "data").iterdir())  # ./data, relative to where the server started
    finally:
        server.stop()


def test_the_server_runs_without_the_cli_and_keeps_the_secret_off_command_lines(tmp_path):
    """`bayou server` replaces itself with `bayou.serve` (same pid): the settings, secret included,
    travel through a pipe, never through a command line or the environment children inherit."""
    server = BayouServer(tmp_path / "data", use_flags=False, extra_args=("--workers", "2"))
    server.start()
    try:
        assert server.proc is not None
        cmdlines = {pid: _read(f"/proc/{pid}/cmdline") for pid in server.pids()}
        environs = {pid: _read(f"/proc/{pid}/environ") for pid in server.pids()}
        assert b"bayou.serve" in cmdlines[server.proc.pid]  # the launched pid is the server
        assert len(cmdlines) >= 4  # supervisor, two workers, function host
        secret = server.secret_key.encode()
        assert secret in environs[server.proc.pid]  # the control: it was given as BAYOU_SECRET_KEY ...
        assert not any(secret in line for line in cmdlines.values())  # ... and no command line shows it
        server.client().list_buckets()
    finally:
        server.stop()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_region_setting(tmp_path):
    server = BayouServer(tmp_path / "data", extra_args=("--region", "eu-central-1"))
    server.start()
    try:
        client = server.client(region="eu-central-1")
        name = unique_bucket()
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-central-1"
        resp = raw(server, "GET", f"/{name}", region="us-east-1")
        assert resp.status_code in (400, 403), resp.text
    finally:
        server.stop()


def _fsync_warning(server: BayouServer) -> list[str]:
    output = server.output().replace(str(server.data_dir.parent), "<tmp>")
    return [
        line
        for line in output.splitlines()
        if "fsync" in line.lower() and re.search(r"develop|unsafe|not durable|data loss|warn", line, re.I)
    ]


def test_fsync_off_warns(tmp_path):
    server = BayouServer(tmp_path / "data", extra_args=("--fsync", "off"))
    server.start()
    try:
        assert _fsync_warning(server), server.output()
        client = server.client()
        name = unique_bucket()
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="k", Body=b"fast")
        assert client.get_object(Bucket=name, Key="k")["Body"].read() == b"fast"
    finally:
        server.stop()
    durable = BayouServer(tmp_path / "data2")
    durable.start()
    try:
        assert not _fsync_warning(durable), durable.output()
    finally:
        durable.stop()


def test_bad_fsync_value_refused(tmp_path):
    server = BayouServer(tmp_path / "data", extra_args=("--fsync", "maybe"))
    with pytest.raises(Exception) as ei:
        server.start(timeout=15)
    assert "exited" in str(ei.value)
    assert "Traceback" not in server.output()


def test_health(server):
    resp = httpx.get(f"{server.endpoint}/_bayou/health")
    assert resp.status_code == 200
    signed = raw(server, "GET", "/_bayou/health")
    assert signed.status_code == 200


def test_reserved_prefix_not_a_bucket(server, s3):
    resp = raw(server, "PUT", "/_bayou")
    assert resp.status_code >= 400
    assert "_bayou" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_restart_keeps_data(server, s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="persist", Body=b"across restarts", Metadata={"m": "1"})
    server.restart()
    got = server.client().get_object(Bucket=name, Key="persist")
    assert got["Body"].read() == b"across restarts" and got["Metadata"] == {"m": "1"}


@pytest.fixture
def localhost_subdomains(monkeypatch):
    """Resolve *.localhost to 127.0.0.1 in this process (glibc here does not)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_virtual_host_addressing_boto3(server, s3, localhost_subdomains):
    vclient = server.client(
        Config(s3={"addressing_style": "virtual"}), endpoint=f"http://localhost:{server.port}"
    )
    name = unique_bucket("vh")
    vclient.create_bucket(Bucket=name)
    vclient.put_object(Bucket=name, Key="dir/v.txt", Body=b"virtual")
    # visible through path-style too: same bucket, same key
    assert s3.get_object(Bucket=name, Key="dir/v.txt")["Body"].read() == b"virtual"
    assert vclient.get_object(Bucket=name, Key="dir/v.txt")["Body"].read() == b"virtual"
    assert list_all_keys(vclient, name) == ["dir/v.txt"]
    url = vclient.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "dir/v.txt"})
    assert f"//{name}.localhost:{server.port}/" in url
    vclient.delete_object(Bucket=name, Key="dir/v.txt")
    assert list_all_keys(s3, name) == []


def test_virtual_host_raw_host_header(server, s3):
    name = unique_bucket("vh")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="raw.txt", Body=b"by host header")
    host = f"{name}.localhost:{server.port}"
    url = f"http://{host}/raw.txt"
    headers = sign(server, "GET", url)
    headers["Host"] = host
    resp = httpx.get(f"{server.endpoint}/raw.txt", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"by host header"
    # a bucket-less path on the bare host is not that object
    resp = raw(server, "GET", "/raw.txt")
    assert resp.status_code == 404
