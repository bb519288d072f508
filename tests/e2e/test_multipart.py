"""Multipart upload against a real server: boto3's transfer manager, the AWS CLI, UploadPartCopy,
ListParts / ListMultipartUploads paging, reads by part number, and every bad input the issue lists."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import (
    REGION,
    assert_xml_error,
    err,
    etag_of,
    key_path,
    md5_hex,
    raw,
    unique_bucket,
    xml_find,
)

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
MIN = 5 * MiB


def write_random_file(path: Path, size: int, chunk: int = MiB) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def file_digests(path: Path, part_size: int) -> dict[str, object]:
    """md5 of the file, its multipart ETag for `part_size` parts, full and composite CRC32 — streamed."""
    whole_md5, whole_crc, part_md5s, part_crcs = hashlib.md5(), 0, [], []
    with open(path, "rb") as f:
        while True:
            block = f.read(part_size)
            if not block:
                break
            whole_md5.update(block)
            whole_crc = zlib.crc32(block, whole_crc)
            part_md5s.append(hashlib.md5(block).digest())
            part_crcs.append(zlib.crc32(block).to_bytes(4, "big"))
    n = len(part_md5s)
    return {
        "md5": whole_md5.hexdigest(),
        "etag": f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-{n}"',
        "crc32_full": b64(whole_crc.to_bytes(4, "big")),
        "crc32_composite": b64(zlib.crc32(b"".join(part_crcs)).to_bytes(4, "big")) + f"-{n}",
        "parts": n,
    }


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            h.update(block)
    return h.hexdigest()


def b64(raw_bytes: bytes) -> str:
    return base64.b64encode(raw_bytes).decode()


def mp_etag(payloads: list[bytes]) -> str:
    return f'"{hashlib.md5(b"".join(hashlib.md5(p).digest() for p in payloads)).hexdigest()}-{len(payloads)}"'


def upload_parts(s3, bucket: str, key: str, payloads: list[bytes], **create_kw) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)["UploadId"]
    parts = []
    for n, payload in enumerate(payloads, 1):
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=payload)
        assert resp["ETag"] == etag_of(payload)
        parts.append({"PartNumber": n, "ETag": resp["ETag"]})
    return uid, parts


@pytest.fixture(scope="module")
def s3_once(server):
    return server.client(Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def big_parts() -> list[bytes]:
    return [os.urandom(MIN), os.urandom(MIN + 1), os.urandom(100)]


# ---------------------------------------------------------------- real clients


class PeakRss:
    """Samples the server's RSS in a thread: bodies must stream, not pile up (DESIGN.md invariant 4)."""

    def __init__(self, server) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.base = server.rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_one_get_of_a_large_object_streams_with_bounded_memory(server, s3, bucket, tmp_path):
    """A single GET of 256 MiB (not ranged) must apply back-pressure, not buffer the body in the server."""
    src = tmp_path / "big.bin"
    size = 256 * MiB
    write_random_file(src, size)
    s3.upload_file(str(src), bucket, "big/one-get.bin", Config=TransferConfig(multipart_chunksize=64 * MiB))
    digest = hashlib.md5()
    received = 0
    with PeakRss(server) as rss:
        body = s3.get_object(Bucket=bucket, Key="big/one-get.bin")["Body"]
        while chunk := body.read(4 * MiB):
            digest.update(chunk)
            received += len(chunk)
            time.sleep(0.001)  # a client slower than the disk: the server must wait, not buffer
    assert received == size
    assert digest.hexdigest() == hashlib.md5(src.read_bytes()).hexdigest()
    assert rss.peak - rss.base < 64 * MiB, (rss.base, rss.peak)


def test_transfer_manager_200_mib_byte_exact(server, s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    size = 200 * MiB
    write_random_file(src, size)
    part = 8 * MiB
    expected = file_digests(src, part)
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=10)
    with PeakRss(server) as rss:
        s3.upload_file(str(src), bucket, "ckpt/model.bin", Config=config)
    # ten 8 MiB parts in flight may be buffered at worst; the whole 200 MiB must never be
    assert rss.peak - rss.base < 120 * MiB, (rss.base, rss.peak)

    head = s3.head_object(Bucket=bucket, Key="ckpt/model.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["ETag"] == expected["etag"]
    # boto3's default checksum (CRC32), kept as the type the upload declared
    kind = head["ChecksumType"]
    assert kind in ("COMPOSITE", "FULL_OBJECT")
    assert head["ChecksumCRC32"] == expected["crc32_full" if kind == "FULL_OBJECT" else "crc32_composite"]
    first = s3.head_object(Bucket=bucket, Key="ckpt/model.bin", PartNumber=1)
    assert first["PartsCount"] == expected["parts"] == 25
    assert first["ContentLength"] == part

    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "ckpt/model.bin", str(dst), Config=config)
    assert dst.stat().st_size == size
    assert file_md5(dst) == expected["md5"]


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "HOME": str(home),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{cmd}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    return run


def test_awscli_cp_100_mib_up_and_down(aws, s3, bucket, tmp_path):
    src = tmp_path / "data.bin"
    size = 100 * MiB
    write_random_file(src, size)
    expected = file_digests(src, 8 * MiB)  # the CLI's default chunk size
    aws("s3", "cp", str(src), f"s3://{bucket}/datasets/data.bin")
    head = s3.head_object(Bucket=bucket, Key="datasets/data.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == expected["etag"]  # proves it went up in 13 parts
    dst = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/datasets/data.bin", str(dst))
    assert dst.stat().st_size == size
    assert file_md5(dst) == expected["md5"]


# ---------------------------------------------------------------- complete, abort, part replace


def test_complete_etag_and_content(s3, bucket, big_parts):
    uid, parts = upload_parts(
        s3, bucket, "k", big_parts, ContentType="application/x-test", Metadata={"m": "1"}
    )
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert resp["ETag"] == mp_etag(big_parts)
    assert resp["Bucket"] == bucket and resp["Key"] == "k"
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"".join(big_parts)
    assert got["ETag"] == mp_etag(big_parts)
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_complete_retried_after_success_answers_success(s3_once, bucket, big_parts):
    """The issue: 'a Complete retried after success answers success' (a client whose response was lost)."""
    uid, parts = upload_parts(s3_once, bucket, "retry", big_parts)
    first = s3_once.complete_multipart_upload(
        Bucket=bucket, Key="retry", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    second = s3_once.complete_multipart_upload(
        Bucket=bucket, Key="retry", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert second["ETag"] == first["ETag"] == mp_etag(big_parts)
    assert s3_once.get_object(Bucket=bucket, Key="retry")["Body"].read() == b"".join(big_parts)


def test_reupload_part_replaces_it(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"first version")
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"second")["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, etag_of(b"second"), 6)]
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag_of(b"first version")}]},
        )
    assert err(ei.value) == ("InvalidPart", 400)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]}
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_abort(s3, bucket):
    uid, _ = upload_parts(s3, bucket, "k", [b"a", b"b"])
    assert (
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    for call in (
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=uid),
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=3, Body=b"c"),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid),
    ):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei.value) == ("NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="k")
    assert err(ei.value)[1] == 404


def test_concurrent_uploads_to_one_key_are_independent(s3, bucket):
    a_parts = [b"A" * MIN, b"a-tail"]
    b_parts = [b"B" * MIN, b"b-tail-longer"]
    ua = s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"]
    ub = s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"]
    assert ua != ub
    ea, eb = [], []
    for n in (1, 2):  # interleaved, same part numbers
        ea.append(
            {
                "PartNumber": n,
                "ETag": s3.upload_part(
                    Bucket=bucket, Key="same", UploadId=ua, PartNumber=n, Body=a_parts[n - 1]
                )["ETag"],
            }
        )
        eb.append(
            {
                "PartNumber": n,
                "ETag": s3.upload_part(
                    Bucket=bucket, Key="same", UploadId=ub, PartNumber=n, Body=b_parts[n - 1]
                )["ETag"],
            }
        )
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix="same")["Uploads"]
    assert sorted(u["UploadId"] for u in uploads) == sorted([ua, ub])
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="same")  # nothing visible before Complete
    s3.complete_multipart_upload(Bucket=bucket, Key="same", UploadId=ub, MultipartUpload={"Parts": eb})
    assert s3.get_object(Bucket=bucket, Key="same")["Body"].read() == b"".join(b_parts)
    # A's parts are untouched by B's Complete
    assert [p["ETag"] for p in s3.list_parts(Bucket=bucket, Key="same", UploadId=ua)["Parts"]] == [
        p["ETag"] for p in ea
    ]
    s3.complete_multipart_upload(Bucket=bucket, Key="same", UploadId=ua, MultipartUpload={"Parts": ea})
    got = s3.get_object(Bucket=bucket, Key="same")
    assert got["Body"].read() == b"".join(a_parts) and got["ETag"] == mp_etag(a_parts)


def test_concurrent_part_uploads_in_threads(s3, bucket):
    payloads = [os.urandom(MIN + i) for i in range(6)] + [b"end"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="threads")["UploadId"]
    etags: dict[int, str] = {}

    def send(n: int) -> None:
        etags[n] = s3.upload_part(
            Bucket=bucket, Key="threads", UploadId=uid, PartNumber=n, Body=payloads[n - 1]
        )["ETag"]

    threads = [threading.Thread(target=send, args=(n,)) for n in range(1, len(payloads) + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="threads", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert resp["ETag"] == mp_etag(payloads)
    assert s3.get_object(Bucket=bucket, Key="threads")["Body"].read() == b"".join(payloads)


# ---------------------------------------------------------------- checksums


def test_composite_sha256_checksum(s3, bucket, big_parts):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for n, payload in enumerate(big_parts, 1):
        resp = s3.upload_part(
            Bucket=bucket, Key="c", UploadId=uid, PartNumber=n, Body=payload, ChecksumAlgorithm="SHA256"
        )
        assert resp["ChecksumSHA256"] == b64(hashlib.sha256(payload).digest())
        parts.append({"PartNumber": n, "ETag": resp["ETag"], "ChecksumSHA256": resp["ChecksumSHA256"]})
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    expected = b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in big_parts)).digest()) + "-3"
    assert resp["ChecksumSHA256"] == expected
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected and head.get("ChecksumType") == "COMPOSITE"


def test_full_object_crc64nvme_checksum(s3, bucket, big_parts):
    uid = s3.create_multipart_upload(
        Bucket=bucket, Key="f", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    parts = []
    for n, payload in enumerate(big_parts, 1):
        resp = s3.upload_part(
            Bucket=bucket, Key="f", UploadId=uid, PartNumber=n, Body=payload, ChecksumAlgorithm="CRC64NVME"
        )
        parts.append({"PartNumber": n, "ETag": resp["ETag"]})
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="f", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    expected = b64(crt.crc64nvme(b"".join(big_parts)).to_bytes(8, "big"))
    assert resp["ChecksumCRC64NVME"] == expected
    head = s3.head_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == expected and head.get("ChecksumType") == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")  # botocore validates it too
    assert got["Body"].read() == b"".join(big_parts)


def test_wrong_part_checksum_in_complete_is_invalid_part(s3_once, bucket):
    uid = s3_once.create_multipart_upload(Bucket=bucket, Key="w", ChecksumAlgorithm="CRC32")["UploadId"]
    resp = s3_once.upload_part(
        Bucket=bucket, Key="w", UploadId=uid, PartNumber=1, Body=b"abc", ChecksumAlgorithm="CRC32"
    )
    wrong = b64(zlib.crc32(b"abd").to_bytes(4, "big"))
    with pytest.raises(ClientError) as ei:
        s3_once.complete_multipart_upload(
            Bucket=bucket,
            Key="w",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": resp["ETag"], "ChecksumCRC32": wrong}]},
        )
    assert err(ei.value) == ("InvalidPart", 400)


# ---------------------------------------------------------------- reads by part number


def test_get_and_head_by_part_number(s3, bucket, big_parts):
    uid, parts = upload_parts(s3, bucket, "p", big_parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="p", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = b"".join(big_parts)
    start = 0
    for n, payload in enumerate(big_parts, 1):
        got = s3.get_object(Bucket=bucket, Key="p", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == payload
        assert got["PartsCount"] == 3 and got["ContentLength"] == len(payload)
        assert got["ContentRange"] == f"bytes {start}-{start + len(payload) - 1}/{len(whole)}"
        assert got["ETag"] == mp_etag(big_parts)
        head = s3.head_object(Bucket=bucket, Key="p", PartNumber=n)
        assert head["ContentLength"] == len(payload) and head["PartsCount"] == 3
        start += len(payload)
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="p", PartNumber=4)
    assert err(ei.value) == ("InvalidPartNumber", 416)


def test_ranged_get_across_part_boundaries(s3, bucket, big_parts):
    uid, parts = upload_parts(s3, bucket, "r", big_parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="r", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = b"".join(big_parts)
    b1, b2 = len(big_parts[0]), len(big_parts[0]) + len(big_parts[1])
    for first, last in [
        (b1 - 1, b1),
        (b1 - 10, b2 + 10),
        (b2 - 1, len(whole) - 1),
        (0, b1 - 1),
        (b1, b2 - 1),
    ]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={first}-{last}")
        assert got["Body"].read() == whole[first : last + 1], (first, last)
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(whole)}"


def test_part_number_on_a_simple_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="simple", Body=b"simple body")
    got = s3.get_object(Bucket=bucket, Key="simple", PartNumber=1)
    assert got["Body"].read() == b"simple body" and got["PartsCount"] == 1
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="simple", PartNumber=2)
    assert err(ei.value)[1] == 416


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("number", [0, 10001])
def test_part_number_out_of_range_is_invalid_argument(server, s3, bucket, number):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    resp = raw(
        server, "PUT", key_path(bucket, "k"), query={"partNumber": str(number), "uploadId": uid}, body=b"x"
    )
    assert_xml_error(resp, 400, "InvalidArgument")
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=number, Body=b"x")
    assert err(ei.value) == ("InvalidArgument", 400)
    # control: the same request with a valid number works
    ok = raw(server, "PUT", key_path(bucket, "k"), query={"partNumber": "1", "uploadId": uid}, body=b"x")
    assert ok.status_code == 200, ok.text
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]] == [1]


@pytest.mark.parametrize(
    "case", ["missing", "wrong-etag", "out-of-order", "duplicate", "too-small", "unknown-upload"]
)
def test_complete_bad_input(s3_once, bucket, big_parts, case):
    payloads = [big_parts[0], big_parts[1], big_parts[2]]
    if case == "too-small":
        payloads = [b"x" * (MIN - 1), b"tail"]
    uid, parts = upload_parts(s3_once, bucket, "bad", payloads)
    expected = {
        "missing": ("InvalidPart", 400),
        "wrong-etag": ("InvalidPart", 400),
        "out-of-order": ("InvalidPartOrder", 400),
        "duplicate": ("InvalidPartOrder", 400),
        "too-small": ("EntityTooSmall", 400),
        "unknown-upload": ("NoSuchUpload", 404),
    }[case]
    target = uid
    if case == "missing":
        parts = parts + [{"PartNumber": 4, "ETag": etag_of(b"never sent")}]
    elif case == "wrong-etag":
        parts[1] = {"PartNumber": 2, "ETag": etag_of(b"something else")}
    elif case == "out-of-order":
        parts = [parts[1], parts[0], parts[2]]
    elif case == "duplicate":
        parts = [parts[0], parts[0], parts[1], parts[2]]
    elif case == "unknown-upload":
        target = "0" * len(uid)
    with pytest.raises(ClientError) as ei:
        s3_once.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=target, MultipartUpload={"Parts": parts}
        )
    assert err(ei.value) == expected
    with pytest.raises(ClientError):
        s3_once.head_object(Bucket=bucket, Key="bad")  # nothing became visible
    # the failed Complete left the upload intact
    assert len(s3_once.list_parts(Bucket=bucket, Key="bad", UploadId=uid)["Parts"]) == len(payloads)


def test_complete_with_empty_part_list_is_malformed_xml(server, s3, bucket):
    uid, parts = upload_parts(s3, bucket, "e", [b"x"])
    path = key_path(bucket, "e")
    for body in (
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>',
        b"<CompleteMultipartUpload/>",
    ):
        resp = raw(server, "POST", path, query={"uploadId": uid}, body=body)
        assert_xml_error(resp, 400, "MalformedXML")
    # control: the same request with the part works
    good = (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{parts[0]['ETag']}</ETag></Part>"
        "</CompleteMultipartUpload>"
    ).encode()
    resp = raw(server, "POST", path, query={"uploadId": uid}, body=good)
    assert resp.status_code == 200, resp.text
    etag = xml_find(ET.fromstring(resp.content), "ETag")[0].text
    assert etag == mp_etag([b"x"])


def test_upload_part_to_unknown_upload(s3_once, bucket):
    with pytest.raises(ClientError) as ei:
        s3_once.upload_part(Bucket=bucket, Key="k", UploadId="0" * 32, PartNumber=1, Body=b"x")
    assert err(ei.value) == ("NoSuchUpload", 404)
    uid = s3_once.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    with pytest.raises(ClientError) as ei:  # a real upload id, but of another key
        s3_once.upload_part(Bucket=bucket, Key="b", UploadId=uid, PartNumber=1, Body=b"x")
    assert err(ei.value) == ("NoSuchUpload", 404)


# ---------------------------------------------------------------- UploadPartCopy


@pytest.fixture
def source(s3, bucket):
    data = os.urandom(12 * MiB + 17)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    return bucket, data


def test_upload_part_copy_with_ranges(s3, source):
    bucket, data = source
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    ranges = [(0, MIN - 1), (6_000_000, len(data) - 1), (3, 3)]
    parts = []
    for n, (first, last) in enumerate(ranges, 1):
        resp = s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=uid,
            PartNumber=n,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes={first}-{last}",
        )
        assert resp["CopyPartResult"]["ETag"] == etag_of(data[first : last + 1])
        parts.append({"PartNumber": n, "ETag": resp["CopyPartResult"]["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]
    assert [p["Size"] for p in listed] == [last - first + 1 for first, last in ranges]
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts})
    expected = b"".join(data[first : last + 1] for first, last in ranges)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == expected


def test_upload_part_copy_whole_object(s3, source):
    bucket, data = source
    uid = s3.create_multipart_upload(Bucket=bucket, Key="whole")["UploadId"]
    resp = s3.upload_part_copy(
        Bucket=bucket, Key="whole", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src"
    )
    parts = [{"PartNumber": 1, "ETag": resp["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="whole", UploadId=uid, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="whole")["Body"].read() == data


@pytest.mark.parametrize(
    "rng",
    ["bytes=10-5", "bytes=0-{size}", "bytes={size}-{size}", "bytes=abc", "0-10", "bytes=-10", "bytes=5-"],
)
def test_upload_part_copy_invalid_range(s3_once, source, rng):
    bucket, data = source
    uid = s3_once.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as ei:
        s3_once.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=uid,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=rng.format(size=len(data)),
        )
    code, status = err(ei.value)
    assert code in ("InvalidArgument", "InvalidRequest", "InvalidRange"), code
    assert status in (400, 416)
    assert s3_once.list_parts(Bucket=bucket, Key="dst", UploadId=uid).get("Parts", []) == []
    # control: the last valid byte works
    last = len(data) - 1
    s3_once.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes={last}-{last}",
    )


def test_upload_part_copy_from_a_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"version one bytes")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"version two bytes, longer")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    resp = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1},
        CopySourceRange="bytes=8-10",
    )
    assert resp["CopySourceVersionId"] == v1
    assert resp["CopyPartResult"]["ETag"] == etag_of(b"one")
    resp2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=8-10",
    )
    assert resp2["CopyPartResult"]["ETag"] == etag_of(b"two")
    parts = [
        {"PartNumber": 1, "ETag": resp["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": resp2["CopyPartResult"]["ETag"]},
    ]
    with pytest.raises(ClientError) as ei:  # part 1 is 3 bytes: too small unless last
        s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts})
    assert err(ei.value) == ("EntityTooSmall", 400)
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts[:1]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"one"
    with pytest.raises(ClientError) as ei:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"],
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src", "VersionId": "0" * 24},
        )
    assert err(ei.value) == ("NoSuchVersion", 404)


# ---------------------------------------------------------------- listings


def test_list_parts_pagination(s3, bucket):
    numbers = [1, 2, 3, 5, 8, 13, 21]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="lp")["UploadId"]
    for n in numbers:
        s3.upload_part(Bucket=bucket, Key="lp", UploadId=uid, PartNumber=n, Body=b"p" * n)
    seen, marker, pages = [], 0, 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2, PartNumberMarker=marker)
        pages += 1
        assert page["MaxParts"] == 2 and page.get("PartNumberMarker", 0) == marker
        got = page.get("Parts", [])
        seen += [(p["PartNumber"], p["Size"], p["ETag"]) for p in got]
        if not page["IsTruncated"]:
            break
        assert len(got) == 2
        marker = page["NextPartNumberMarker"]
        assert marker == got[-1]["PartNumber"]
    assert seen == [(n, n, etag_of(b"p" * n)) for n in numbers]
    assert pages == 4
    tail = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, PartNumberMarker=8)
    assert [p["PartNumber"] for p in tail["Parts"]] == [13, 21] and not tail["IsTruncated"]
    paginated = [
        p["PartNumber"]
        for page in s3.get_paginator("list_parts").paginate(
            Bucket=bucket, Key="lp", UploadId=uid, PaginationConfig={"PageSize": 3}
        )
        for p in page.get("Parts", [])
    ]
    assert paginated == numbers


def test_list_multipart_uploads(s3, bucket2):
    bucket = bucket2
    keys = ["a/1", "a/2", "b", "b", "b", "c/d/e", "c/x", "d"]
    uploads = sorted((k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys)

    def ls(**kw):  # type: ignore[no-untyped-def]
        page = s3.list_multipart_uploads(Bucket=bucket, **kw)
        return (
            [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])],
            [p["Prefix"] for p in page.get("CommonPrefixes", [])],
            page["IsTruncated"],
        )

    assert ls() == (uploads, [], False)
    assert ls(Prefix="c/") == ([u for u in uploads if u[0].startswith("c/")], [], False)
    assert ls(Delimiter="/") == ([u for u in uploads if "/" not in u[0]], ["a/", "c/"], False)
    assert ls(Prefix="c/", Delimiter="/") == ([("c/x", dict(uploads)["c/x"])], ["c/d/"], False)
    assert ls(KeyMarker="b") == ([u for u in uploads if u[0] > "b"], [], False)
    b_uploads = [u for u in uploads if u[0] == "b"]
    assert ls(KeyMarker="b", UploadIdMarker=b_uploads[0][1]) == (
        b_uploads[1:] + [u for u in uploads if u[0] > "b"],
        [],
        False,
    )
    seen, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == uploads
    paginated = [
        (u["Key"], u["UploadId"])
        for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 3}
        )
        for u in page.get("Uploads", [])
    ]
    assert paginated == uploads
    for key, uid in uploads:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert ls() == ([], [], False)


def test_list_multipart_uploads_of_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.list_multipart_uploads(Bucket=unique_bucket())
    assert err(ei.value) == ("NoSuchBucket", 404)


def test_multipart_object_copy_and_md5(s3, bucket, big_parts):
    uid, parts = upload_parts(s3, bucket, "orig", big_parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="orig", UploadId=uid, MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "orig"})
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert md5_hex(got["Body"].read()) == md5_hex(b"".join(big_parts))


def test_list_multipart_uploads_pages_through_common_prefixes(s3, bucket2):
    """Paging with a delimiter: a page that ends on a CommonPrefix must say where to resume."""
    bucket = bucket2
    keys = ["a/1", "a/2", "b", "c/x", "c/y", "d"]
    ids = {k: s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in keys}
    uploads, prefixes, kw = [], [], {}
    for _ in range(10):
        page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1, **kw)
        uploads += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        assert page.get("NextKeyMarker"), f"truncated page without NextKeyMarker: {page}"
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page.get("NextUploadIdMarker", "")}
    assert uploads == [("b", ids["b"]), ("d", ids["d"])]
    assert prefixes == ["a/", "c/"]


def test_get_with_part_number_and_range_is_invalid(s3_once, bucket, big_parts):
    uid, parts = upload_parts(s3_once, bucket, "pr", big_parts)
    s3_once.complete_multipart_upload(Bucket=bucket, Key="pr", UploadId=uid, MultipartUpload={"Parts": parts})
    with pytest.raises(ClientError) as ei:
        s3_once.get_object(Bucket=bucket, Key="pr", PartNumber=2, Range="bytes=0-9")
    assert err(ei.value) == ("InvalidRequest", 400)


def test_upload_part_copy_range_across_parts_of_a_multipart_source(s3, bucket, big_parts):
    uid, parts = upload_parts(s3, bucket, "mpsrc", big_parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mpsrc", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = b"".join(big_parts)
    first, last = MIN - 1000, MIN + MIN + 50  # spans all three parts
    dst = s3.create_multipart_upload(Bucket=bucket, Key="mpdst")["UploadId"]
    resp = s3.upload_part_copy(Bucket=bucket, Key="mpdst", UploadId=dst, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "mpsrc"}, CopySourceRange=f"bytes={first}-{last}")
    assert resp["CopyPartResult"]["ETag"] == etag_of(whole[first : last + 1])
    s3.complete_multipart_upload(Bucket=bucket, Key="mpdst", UploadId=dst,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": resp["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mpdst")["Body"].read() == whole[first : last + 1]


def test_complete_in_a_versioned_bucket(s3, bucket, big_parts):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="v", Body=b"old")["VersionId"]
    uid, parts = upload_parts(s3, bucket, "v", big_parts)
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="v", UploadId=uid, MultipartUpload={"Parts": parts})
    new = resp["VersionId"]
    assert new not in (None, "null", old)
    assert s3.head_object(Bucket=bucket, Key="v")["VersionId"] == new
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=old)["Body"].read() == b"old"
    got = s3.get_object(Bucket=bucket, Key="v", VersionId=new, PartNumber=3)
    assert got["Body"].read() == big_parts[2] and got["VersionId"] == new
    listed = s3.list_object_versions(Bucket=bucket, Prefix="v")["Versions"]
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in listed] == [
        (new, True, sum(map(len, big_parts))), (old, False, 3)]


def test_upload_part_with_a_bad_content_md5(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="md5")["UploadId"]
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = raw(server, "PUT", key_path(bucket, "md5"), query={"partNumber": "1", "uploadId": uid},
               headers={"Content-MD5": wrong}, body=b"payload")
    assert_xml_error(resp, 400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key="md5", UploadId=uid).get("Parts", []) == []
    right = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    resp = raw(server, "PUT", key_path(bucket, "md5"), query={"partNumber": "1", "uploadId": uid},
               headers={"Content-MD5": right}, body=b"payload")
    assert resp.status_code == 200 and resp.headers["ETag"] == etag_of(b"payload")


# Not C0 controls: they can only travel as &#x1; in CreateMultipartUpload's XML, which XML 1.0 parsers
# (botocore's included) refuse, on AWS as here.
HOSTILE_KEYS = ["dir/with space/ü€𝄞.bin", "a?b&c=d#e%25f", "..//../x", "trailing/", "plus+sign;semi:colon", "del\u007f<&>"]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_multipart_with_hostile_keys(s3, bucket, key):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]  # boto3 asks for url encoding, decodes
    assert [(u["Key"], u["UploadId"]) for u in listed] == [(key, uid)]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"body")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert parts["Key"] == key and [p["ETag"] for p in parts["Parts"]] == [etag]
    resp = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert resp["Key"] == key
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"body"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def test_upload_part_copy_source_preconditions(s3_once, source):
    bucket, data = source
    good = etag_of(data)
    uid = s3_once.create_multipart_upload(Bucket=bucket, Key="pre")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as ei:
        s3_once.upload_part_copy(Bucket=bucket, Key="pre", UploadId=uid, PartNumber=1, CopySource=src,
                                 CopySourceIfMatch=etag_of(b"other"), CopySourceRange="bytes=0-9")
    assert err(ei.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as ei:
        s3_once.upload_part_copy(Bucket=bucket, Key="pre", UploadId=uid, PartNumber=1, CopySource=src,
                                 CopySourceIfNoneMatch=good, CopySourceRange="bytes=0-9")
    assert err(ei.value) == ("PreconditionFailed", 412)
    resp = s3_once.upload_part_copy(Bucket=bucket, Key="pre", UploadId=uid, PartNumber=1, CopySource=src,
                                    CopySourceIfMatch=good, CopySourceRange="bytes=0-9")
    assert resp["CopyPartResult"]["ETag"] == etag_of(data[:10])
