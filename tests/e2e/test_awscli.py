"""The AWS CLI (awscli from PyPI), unmodified and with its default configuration, against a real server."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REGION, list_all_keys, md5_hex, unique_bucket

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "config"),  # absent: defaults only
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "HOME": str(home),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if check:
            assert proc.returncode == 0, f"{cmd}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    return run


def test_cp_20_mib_up_and_down(aws, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = os.urandom(20 * 1024 * 1024)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/big.bin")
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
    assert head["ContentLength"] == len(data)
    dst = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/big.bin", str(dst))
    assert dst.stat().st_size == len(data)
    assert md5_hex(dst.read_bytes()) == md5_hex(data)


def test_cp_small_file_and_stdout(aws, bucket, tmp_path):
    src = tmp_path / "small.txt"
    src.write_text("hello from the cli\n")
    aws("s3", "cp", str(src), f"s3://{bucket}/small.txt")
    out = aws("s3", "cp", f"s3://{bucket}/small.txt", "-")
    assert out.stdout == "hello from the cli\n"


def _make_tree(root: Path, n: int = 50) -> dict[str, bytes]:
    files = {}
    for i in range(n):
        rel = f"sub{i % 4}/nested{i % 3}/file-{i:03d}.dat" if i % 5 else f"top-{i:03d} with space.txt"
        content = os.urandom(100 + i * 37)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files[rel] = content
    return files


def _tree_equal(a: Path, b: Path) -> None:
    left = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    right = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert left == right
    _, mismatch, errors = filecmp.cmpfiles(a, b, left, shallow=False)
    assert mismatch == [] and errors == []


def test_sync_both_ways(aws, s3, bucket, tmp_path):
    up = tmp_path / "up"
    files = _make_tree(up)
    aws("s3", "sync", str(up), f"s3://{bucket}/tree")
    assert sorted(list_all_keys(s3, bucket, "tree/")) == sorted(f"tree/{k}" for k in files)
    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree", str(down))
    _tree_equal(up, down)
    # a second sync has nothing to do
    again = aws("s3", "sync", str(up), f"s3://{bucket}/tree")
    assert "upload:" not in again.stdout
    # a changed file is uploaded again, and only it
    changed = next(iter(files))
    (up / changed).write_bytes(b"changed content, different size")
    out = aws("s3", "sync", str(up), f"s3://{bucket}/tree")
    assert out.stdout.count("upload:") == 1
    assert (
        s3.get_object(Bucket=bucket, Key=f"tree/{changed}")["Body"].read()
        == b"changed content, different size"
    )


def test_ls(aws, s3, bucket):
    for key in ("a.txt", "dir/b.txt", "dir/c.txt", "other/d.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"12345")
    out = aws("s3", "ls").stdout
    assert bucket in out
    out = aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE dir/" in out and "PRE other/" in out and "a.txt" in out
    assert "b.txt" not in out
    out = aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
    assert all(k in out for k in ("a.txt", "dir/b.txt", "dir/c.txt", "other/d.txt"))
    missing = aws("s3", "ls", f"s3://{bucket}-missing/", check=False)
    assert missing.returncode != 0
    assert "NoSuchBucket" in missing.stderr


def test_rm_recursive(aws, s3, bucket):
    for i in range(30):
        s3.put_object(Bucket=bucket, Key=f"gone/{i}", Body=b"x")
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    aws("s3", "rm", "--recursive", f"s3://{bucket}/gone/")
    assert list_all_keys(s3, bucket) == ["kept"]


def test_mb_rb(aws, s3, tmp_path):
    name = unique_bucket("cli")
    aws("s3", "mb", f"s3://{name}")
    s3.head_bucket(Bucket=name)
    (tmp_path / "f").write_bytes(b"api")
    aws("s3api", "put-object", "--bucket", name, "--key", "k", "--body", str(tmp_path / "f"))
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"api"
    assert aws("s3", "rb", f"s3://{name}", check=False).returncode != 0  # not empty
    aws("s3", "rb", "--force", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
