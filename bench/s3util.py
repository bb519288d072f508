"""boto3 helpers: clients, presigned request targets and parallel prefill."""

from __future__ import annotations

import http.client
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from servers import ACCESS_KEY, SECRET_KEY

PRESIGN_EXPIRY = 7 * 24 * 3600  # SigV4's maximum


def client(endpoint: str, **config):
    cfg = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=32,
        **config,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=cfg,
    )


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _presign_chunk(args) -> list[str]:
    endpoint, op, bucket, keys, extra = args
    s3 = client(endpoint)
    out = []
    for key in keys:
        params = {"Bucket": bucket, **extra}
        if key is not None:
            params["Key"] = key
        out.append(_target(s3.generate_presigned_url(op, Params=params, ExpiresIn=PRESIGN_EXPIRY)))
    return out


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def presign(endpoint: str, op: str, bucket: str, keys: list, extra: dict | None = None) -> list[str]:
    """Presigned request targets (path + query) for `op` on each key, signed by boto3 itself."""
    jobs = [(endpoint, op, bucket, chunk, extra or {}) for chunk in _chunks(keys, (os.cpu_count() or 2) * 2)]
    if len(keys) < 500:
        return _presign_chunk(jobs[0]) if len(jobs) == 1 else sum(map(_presign_chunk, jobs), [])
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return [t for part in pool.map(_presign_chunk, jobs) for t in part]


def _put_chunk(args) -> int:
    """PUT each key through a presigned URL on a few keep-alive connections: much cheaper per object
    than boto3's put_object, whose request pipeline costs milliseconds of client CPU."""
    endpoint, bucket, keys, size = args
    targets = _presign_chunk((endpoint, "put_object", bucket, keys, {}))
    body = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    host = urlsplit(endpoint)

    def send(part: list[str]) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
        try:
            for t in part:
                conn.request("PUT", t, body=body)
                resp = conn.getresponse()
                data = resp.read()
                if not 200 <= resp.status < 300:
                    raise RuntimeError(f"prefill PUT {t[:80]} -> {resp.status}: {data[:300]!r}")
        finally:
            conn.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, _chunks(targets, 8)))
    return len(keys)


def prefill(endpoint: str, bucket: str, keys: list[str], size: int) -> None:
    """PUT `keys` with `size`-byte bodies from a few processes (boto3 is CPU-bound per call)."""
    jobs = [(endpoint, bucket, chunk, size) for chunk in _chunks(keys, (os.cpu_count() or 2) * 2)]
    if len(keys) < 200:
        list(map(_put_chunk, jobs))
        return
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_put_chunk, jobs))


def ensure_bucket(s3, bucket: str) -> None:
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if bucket not in names:
        s3.create_bucket(Bucket=bucket)
