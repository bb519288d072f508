"""Shared machinery for the end-to-end tests: a real `bayou server` subprocess and raw SigV4 requests.

Raw requests exist for what boto3 will not send on its own (tampered signatures, aws-chunked bodies
over plain HTTP, skewed clocks); every such test also sends the untampered request as a control, so
a broken helper cannot make a negative test pass.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import importlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import boto3
import botocore.auth
import botocore.signers
import httpx
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCESS_KEY = "BAYOUE2EACCESSKEY"
SRC_DIR = Path(__file__).resolve().parents[2] / "src"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_bucket(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAYOU_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_DIR), os.environ.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class ServerFailed(RuntimeError):
    pass


class BayouServer:
    """One `bayou server` process tree on a free port, restartable on the same data dir."""

    running: list[BayouServer] = []  # read by the failure hook in conftest to attach logs

    def __init__(
        self,
        data_dir: Path,
        *,
        access_key: str | None = ACCESS_KEY,
        secret_key: str | None = None,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        use_flags: bool = True,
        port: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        self.access_key = access_key
        self.secret_key = (
            secret_key if secret_key is not None or access_key is None else secrets.token_hex(20)
        )
        self.extra_args = tuple(extra_args)
        self.env = dict(env or {})
        self.use_flags = use_flags
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.starts = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "bayou", "server"]
        if self.use_flags:
            cmd += ["--address", self.address, "--data-dir", str(self.data_dir)]
            if self.access_key is not None:
                cmd += ["--access-key", self.access_key]
            if self.secret_key is not None:
                cmd += ["--secret-key", self.secret_key]
        return cmd + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        extra = dict(self.env)
        if not self.use_flags:
            extra |= {"BAYOU_ADDRESS": self.address, "BAYOU_DATA_DIR": str(self.data_dir)}
            if self.access_key is not None:
                extra["BAYOU_ACCESS_KEY"] = self.access_key
            if self.secret_key is not None:
                extra["BAYOU_SECRET_KEY"] = self.secret_key
        return server_env(extra)

    def start(self, timeout: float = 30.0) -> BayouServer:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=str(self.data_dir.parent),
                start_new_session=True,  # own process group: kill9() takes the workers too
            )
        self.starts += 1
        BayouServer.running.append(self)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerFailed(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                r = httpx.get(f"{self.endpoint}/_bayou/health", timeout=2)
                if r.status_code == 200:
                    return
                last = r.status_code
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.05)
        self.kill9()
        raise ServerFailed(f"server not healthy after {timeout}s (last: {last!r}):\n{self.output()}")

    def output(self) -> str:
        """Everything the current (or last) process printed."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode("utf-8", "replace")

    def full_log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def kill9(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(10)
        self._forget()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(10)
        # leftover workers of the group, if the parent died first
        self._signal_group(signal.SIGKILL)
        self._forget()

    def _forget(self) -> None:
        with contextlib.suppress(ValueError):
            BayouServer.running.remove(self)

    def restart(self, timeout: float = 30.0) -> BayouServer:
        self.stop()
        return self.start(timeout)

    def pids(self) -> list[int]:
        """The server process and all its descendants."""
        if self.proc is None:
            return []
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return out

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def client(self, config: Config | None = None, *, endpoint: str | None = None, **kw):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=kw.pop("access_key", self.access_key),
            aws_secret_access_key=kw.pop("secret_key", self.secret_key),
            region_name=kw.pop("region", REGION),
            config=config,
            **kw,
        )


# ---------------------------------------------------------------- errors


def err(exc: ClientError) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a botocore ClientError."""
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def xml_error(resp: httpx.Response) -> dict[str, str]:
    """Parse an S3 XML error body; fails loudly on a traceback or non-XML body."""
    body = resp.content
    assert b"Traceback" not in body, body[:2000]
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:  # pragma: no cover - reported as a test failure
        raise AssertionError(f"error body is not XML ({resp.status_code}): {body[:500]!r}") from exc
    assert root.tag.split("}")[-1] == "Error", body[:500]
    return {child.tag.split("}")[-1]: (child.text or "") for child in root}


def assert_xml_error(resp: httpx.Response, status: int, code: str | tuple[str, ...]) -> dict[str, str]:
    codes = (code,) if isinstance(code, str) else code
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    fields = xml_error(resp)
    assert fields.get("Code") in codes, fields
    assert fields.get("Message"), fields
    assert fields.get("RequestId"), fields
    return fields


def xml_find(root: ET.Element, path: str) -> list[ET.Element]:
    """findall() that ignores the S3 namespace."""
    return root.findall("/".join(f"{{*}}{p}" if p not in (".", "..") else p for p in path.split("/")))


# ---------------------------------------------------------------- signing


@contextlib.contextmanager
def frozen_now(when: dt.datetime | None) -> Iterator[None]:
    """Make botocore sign as if the clock said `when` (naive UTC)."""
    if when is None:
        yield
        return
    when = when.replace(tzinfo=None)

    def fake(remove_tzinfo: bool = True) -> dt.datetime:
        return when if remove_tzinfo else when.replace(tzinfo=dt.UTC)

    targets = [botocore.auth, botocore.signers]
    with contextlib.suppress(ImportError):  # with awscrt installed, botocore signs SigV4 through CRT
        targets.append(importlib.import_module("botocore.crt.auth"))
    with contextlib.ExitStack() as stack:
        for module in targets:
            stack.enter_context(mock.patch.object(module, "get_current_datetime", fake))
        yield


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _S3RawSigner(botocore.auth.SigV4Auth):
    """SigV4 with S3's rule: the path is signed as sent, not normalised."""

    def _normalize_url_path(self, path: str) -> str:
        return path


def encode_query(params: Mapping[str, str] | None) -> str:
    if not params:
        return ""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(params.items())
    )


def key_path(bucket: str, key: str = "") -> str:
    return f"/{bucket}/" + quote(key, safe="/-_.~") if key else f"/{bucket}"


def sign(
    server: BayouServer,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    payload_hash: str | None = None,
    when: dt.datetime | None = None,
    region: str = REGION,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """Headers (incl. Authorization) of a SigV4-signed request; the URL must already be encoded."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    req.headers["X-Amz-Content-SHA256"] = payload_hash or hashlib.sha256(body).hexdigest()
    creds = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    with frozen_now(when):
        _S3RawSigner(creds, "s3", region).add_auth(req)
    return dict(req.headers.items())


def raw(
    server: BayouServer,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    signed: bool = True,
    timeout: float = 30,
    **sign_kw,
) -> httpx.Response:
    """One request with a body sent as-is (Content-Length), signed by default."""
    qs = encode_query(query)
    url = f"{server.endpoint}{path}" + (f"?{qs}" if qs else "")
    hdrs = dict(headers or {})
    if signed:
        hdrs = sign(server, method, url, hdrs, body, **sign_kw)
    return httpx.request(method, url, headers=hdrs, content=body, timeout=timeout)


def signing_key(secret_key: str, date: str, region: str = REGION, service: str = "s3") -> bytes:
    k = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def seed_signature(headers: Mapping[str, str]) -> str:
    m = re.search(r"Signature=([0-9a-f]{64})", headers["Authorization"])
    assert m, headers["Authorization"]
    return m.group(1)


def aws_chunked_signed(
    server: BayouServer,
    path: str,
    payload: bytes,
    *,
    chunk_size: int = 64 * 1024,
    corrupt_chunk: int | None = None,
    trailer: tuple[str, str] | None = None,
    corrupt_trailer_sig: bool = False,
    extra_headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], built by hand per the AWS docs."""
    url = f"{server.endpoint}{path}"
    chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    mode = STREAMING_SIGNED_TRAILER if trailer else STREAMING_SIGNED
    hdrs = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        **(extra_headers or {}),
    }
    if trailer:
        hdrs["X-Amz-Trailer"] = trailer[0]
    # Content-Length is signed by real clients; compute the encoded length first.
    sig_len = 64
    encoded_len = sum(len(f"{len(c):x};chunk-signature=".encode()) + sig_len + 4 + len(c) for c in chunks)
    if trailer:
        trailer_block = f"{trailer[0]}:{trailer[1]}\r\n".encode()
        encoded_len += -2 + len(trailer_block) + len(b"x-amz-trailer-signature:") + sig_len + 4
    hdrs["Content-Length"] = str(encoded_len)
    signed = sign(server, "PUT", url, hdrs, payload_hash=mode)
    ts = signed["X-Amz-Date"]
    scope = f"{ts[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(server.secret_key, ts[:8])
    prev = seed_signature(signed)
    out = bytearray()
    for i, chunk in enumerate(chunks):
        sts = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", ts, scope, prev, EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()]
        )
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if corrupt_chunk == i:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk
        if chunk or not trailer:
            out += b"\r\n"
    if trailer:
        canon = f"{trailer[0]}:{trailer[1]}\n".encode()
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", ts, scope, prev, hashlib.sha256(canon).hexdigest()])
        tsig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if corrupt_trailer_sig:
            tsig = ("0" if tsig[0] != "0" else "1") + tsig[1:]
        out += f"{trailer[0]}:{trailer[1]}\r\n".encode()
        out += f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    assert len(out) == encoded_len, (len(out), encoded_len)
    signed.pop("Content-Length", None)
    return httpx.put(url, headers=signed, content=bytes(out), timeout=30)


def aws_chunked_unsigned_trailer(
    server: BayouServer,
    path: str,
    payload: bytes,
    trailer: tuple[str, str],
    *,
    chunk_size: int = 64 * 1024,
    http_chunked: bool = False,
) -> httpx.Response:
    """PUT with STREAMING-UNSIGNED-PAYLOAD-TRAILER, the shape boto3 >= 1.36 sends over TLS."""
    url = f"{server.endpoint}{path}"
    out = bytearray()
    for i in range(0, len(payload), chunk_size):
        chunk = payload[i : i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n" + f"{trailer[0]}:{trailer[1]}\r\n\r\n".encode()
    hdrs = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "X-Amz-Trailer": trailer[0],
    }
    if not http_chunked:
        hdrs["Content-Length"] = str(len(out))
    signed = sign(server, "PUT", url, hdrs, payload_hash=STREAMING_UNSIGNED_TRAILER)
    signed.pop("Content-Length", None)
    body = bytes(out)
    if http_chunked:
        return httpx.put(url, headers=signed, content=iter([body[: len(body) // 2], body[len(body) // 2 :]]))
    return httpx.put(url, headers=signed, content=body, timeout=30)


# ---------------------------------------------------------------- checksums


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def crc32_b64(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def checksum_b64(algorithm: str, data: bytes) -> str:
    from awscrt import checksums  # shipped with boto3[crt] / awscli deps

    if algorithm == "CRC32":
        return crc32_b64(data)
    if algorithm == "CRC32C":
        return b64(checksums.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(checksums.crc64nvme(data).to_bytes(8, "big"))
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def etag_of(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def list_all_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys
