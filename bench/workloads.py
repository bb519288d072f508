"""The six wrk workloads and how each server's request targets are prepared for them."""

from __future__ import annotations

import http.client
import os
import time
from dataclasses import dataclass
from pathlib import Path

from servers import HOST, Server

KiB, MiB = 1024, 1024 * 1024
LIST_KEYS = 10_000
PAGE = 1000


@dataclass(frozen=True)
class Workload:
    name: str
    label: str
    unit: str
    method: str
    size: int
    keys_full: int
    keys_quick: int

    def keys(self, quick: bool) -> int:
        return self.keys_quick if quick else self.keys_full


WORKLOADS = [
    Workload("put4k", "PUT 4 KiB", "ops/s", "PUT", 4 * KiB, 24_000, 4_000),
    Workload("get4k", "GET 4 KiB", "ops/s", "GET", 4 * KiB, 2_000, 500),
    # Large PUT bodies are pre-formatted in wrk's memory, so the key set is small and cycles (overwrites).
    Workload("put1m", "PUT 1 MiB", "MiB/s", "PUT", MiB, 128, 64),
    Workload("get1m", "GET 1 MiB", "MiB/s", "GET", MiB, 64, 32),
    Workload("get256m", "GET 256 MiB (one object)", "MiB/s", "GET", 256 * MiB, 1, 1),
    Workload("list", f"ListObjectsV2, {LIST_KEYS:,} keys, {PAGE}-key pages", "keys/s", "GET", 0, 1, 1),
]


def figure(w: Workload, rps: float, bytes_per_s: float) -> float:
    """ops/s; MiB/s of payload (PUT: completed requests x size; GET: bytes wrk read, partial ones
    included, so a slow 256 MiB GET still counts); keys/s = pages/s x 1000."""
    if w.unit == "ops/s":
        return rps
    if w.unit == "keys/s":
        return rps * PAGE
    return (rps * w.size if w.method == "PUT" else bytes_per_s) / MiB


def pattern(size: int) -> bytes:
    return (b"0123456789abcdef" * (size // 16 + 1))[:size]


def check_request(srv: Server, method: str, target: str, size: int, expect_keys: int | None = None) -> None:
    """Send one request like the ones wrk will send and insist on a 2xx and a full body."""
    conn = http.client.HTTPConnection(HOST, srv.port, timeout=120)
    try:
        body = pattern(size) if method == "PUT" else None
        conn.request(method, target, body=body)
        resp = conn.getresponse()
        n, head = 0, b""
        while chunk := resp.read(MiB):
            if len(head) < 1 << 20:
                head += chunk
            n += len(chunk)
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{srv.name}: {method} {target[:120]} -> {resp.status}: {head[:500]!r}")
        if method == "GET" and size and n != size:
            raise RuntimeError(f"{srv.name}: GET {target[:120]} returned {n} bytes, expected {size}")
        if expect_keys is not None:
            found = head.count(b"<Key>") if srv.s3 else head.count(b'"name"')
            if found != expect_keys:
                raise RuntimeError(f"{srv.name}: listing returned {found} keys, expected {expect_keys}")
    finally:
        conn.close()


class NginxTargets:
    """Plain paths: files written straight into nginx's root for GET, /dav/ for PUT."""

    def __init__(self, srv: Server):
        self.srv = srv
        self.www = srv.workdir / "www"

    def _files(self, sub: str, n: int, size: int) -> list[str]:
        d = self.www / "static" / sub
        d.mkdir(parents=True, exist_ok=True)
        data = pattern(size)
        for i in range(n):
            (d / f"{i:06d}").write_bytes(data)
        return [f"/static/{sub}/{i:06d}" for i in range(n)]

    def paths(self, w: Workload, quick: bool) -> list[str]:
        n = w.keys(quick)
        if w.name == "list":
            d = self.www / "list"
            for i in range(PAGE):
                (d / f"key-{i:05d}").write_bytes(b"x")
            return ["/list/"]
        if w.method == "PUT":
            return [f"/dav/{w.name}/{i:06d}" for i in range(n)]
        return self._files(w.name, n, w.size)


class S3Targets:
    """boto3-presigned URLs, one per distinct key; objects to GET or list are prefilled first."""

    BUCKET = "bench"
    LIST_BUCKET = "listing"

    def __init__(self, srv: Server):
        import s3util

        self.srv = srv
        self.s3util = s3util
        self.s3 = s3util.client(srv.endpoint)
        s3util.ensure_bucket(self.s3, self.BUCKET)
        s3util.ensure_bucket(self.s3, self.LIST_BUCKET)

    def _big_object(self, key: str, size: int) -> None:
        tmp = self.srv.workdir / "upload.tmp"
        with open(tmp, "wb") as f:
            block = pattern(MiB)
            for _ in range(size // MiB):
                f.write(block)
        try:
            with open(tmp, "rb") as f:
                self.s3.put_object(Bucket=self.BUCKET, Key=key, Body=f)
        finally:
            tmp.unlink(missing_ok=True)

    def paths(self, w: Workload, quick: bool) -> list[str]:
        u, ep = self.s3util, self.srv.endpoint
        if w.name == "list":
            t0 = time.monotonic()
            u.prefill(ep, self.LIST_BUCKET, [f"key-{i:05d}" for i in range(LIST_KEYS)], 16)
            print(f"    prefilled {LIST_KEYS} keys in {time.monotonic() - t0:.1f}s", flush=True)
            return u.presign(ep, "list_objects_v2", self.LIST_BUCKET, [None], {"MaxKeys": PAGE})
        keys = [f"{w.name}/{i:06d}" for i in range(w.keys(quick))]
        if w.method == "PUT":
            return u.presign(ep, "put_object", self.BUCKET, keys)
        if w.size > 64 * MiB:
            self._big_object(keys[0], w.size)
        else:
            u.prefill(ep, self.BUCKET, keys, w.size)
        return u.presign(ep, "get_object", self.BUCKET, keys)


def targets_for(srv: Server):
    return S3Targets(srv) if srv.s3 else NginxTargets(srv)


def sanity_check(srv: Server, w: Workload, paths: list[str]) -> None:
    if w.name == "list":
        check_request(srv, "GET", paths[0], 0, expect_keys=PAGE)
    elif w.method == "PUT":
        check_request(srv, "PUT", paths[-1], w.size)
    else:
        check_request(srv, "GET", paths[0], w.size)


def spec_dir(srv: Server) -> Path:
    d = srv.workdir / "wrk-specs"
    os.makedirs(d, exist_ok=True)
    return d
