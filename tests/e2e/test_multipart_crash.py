"""kill -9 during CompleteMultipartUpload: after a restart the key holds the old object or the new
one, byte-exact, never a mix; an acknowledged Complete is never lost; an unfinished one can be retried."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .helpers import BayouServer, err, unique_bucket

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PART = 5 * MiB
ONCE = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=20)


def mp_etag(payloads: list[bytes]) -> str:
    return f'"{hashlib.md5(b"".join(hashlib.md5(p).digest() for p in payloads)).hexdigest()}-{len(payloads)}"'


def prepare(client, bucket: str, key: str, payloads: list[bytes]) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    uid = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, payload in enumerate(payloads, 1):
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=payload)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    return uid, parts


def read_state(client, bucket: str, key: str) -> tuple[bytes, str] | None:  # type: ignore[no-untyped-def]
    try:
        got = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        assert err(exc) == ("NoSuchKey", 404), exc.response
        return None
    return got["Body"].read(), got["ETag"]


def versions_of(client, bucket: str, key: str) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    page = client.list_object_versions(Bucket=bucket, Prefix=key)
    assert page.get("DeleteMarkers", []) == []
    return [(v["VersionId"], v["IsLatest"]) for v in page.get("Versions", []) if v["Key"] == key]


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_kill9_during_complete_multipart_upload(tmp_path, versioned):
    server = BayouServer(tmp_path / "data")
    server.start()
    try:
        client = server.client(ONCE)
        bucket = unique_bucket("crash")
        client.create_bucket(Bucket=bucket)
        if versioned:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

        # how long a Complete takes here, to spread the kills over its duration
        warm = [os.urandom(PART), os.urandom(100)]
        uid, parts = prepare(client, bucket, "warm", warm)
        start = time.perf_counter()
        client.complete_multipart_upload(Bucket=bucket, Key="warm", UploadId=uid, MultipartUpload={"Parts": parts})
        took = time.perf_counter() - start
        delays = [0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, took * 0.5, took * 1.5]
        if versioned:
            delays = delays[1::2]

        for round_no, delay in enumerate(delays):
            key = f"round-{round_no}"
            old: tuple[bytes, str] | None = None
            old_versions: list[tuple[str, bool]] = []
            if round_no % 3 == 1:  # an old single-PUT object
                body = os.urandom(300 * 1024)
                old = (body, client.put_object(Bucket=bucket, Key=key, Body=body)["ETag"])
            elif round_no % 3 == 2:  # an old multipart object
                old_parts = [os.urandom(PART), os.urandom(4096)]
                ouid, oparts = prepare(client, bucket, key, old_parts)
                client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=ouid, MultipartUpload={"Parts": oparts})
                old = (b"".join(old_parts), mp_etag(old_parts))
            if versioned:
                old_versions = versions_of(client, bucket, key)
                assert len(old_versions) == (0 if old is None else 1)
            new_parts = [os.urandom(PART), os.urandom(PART), os.urandom(777)]
            new = (b"".join(new_parts), mp_etag(new_parts))
            uid, parts = prepare(client, bucket, key, new_parts)

            result: dict[str, object] = {}

            def complete(uid=uid, parts=parts, key=key, result=result, client=client) -> None:  # type: ignore[no-untyped-def]
                try:
                    resp = client.complete_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}
                    )
                    result["etag"], result["version"] = resp["ETag"], resp.get("VersionId")
                except (ClientError, BotoCoreError, OSError) as exc:
                    result["error"] = exc

            thread = threading.Thread(target=complete)
            thread.start()
            time.sleep(delay)
            server.kill9()
            thread.join(30)
            assert not thread.is_alive()
            server.start()
            client = server.client(ONCE)

            state = read_state(client, bucket, key)
            acked = "etag" in result
            if acked:
                assert result["etag"] == new[1]
                assert state is not None and state[1] == new[1], f"round {round_no}: acknowledged Complete lost"
            if state is None:
                assert old is None, f"round {round_no}: the old object vanished"
            else:
                assert state in (old, new), f"round {round_no}: neither old nor new (size {len(state[0])})"
            if versioned:
                after = versions_of(client, bucket, key)
                old_ids = [(vid, False) for vid, _ in old_versions]
                if state == new:
                    assert len(after) == len(old_versions) + 1 and after[0][1] is True
                    assert after[1:] == old_ids
                else:
                    assert after == old_versions

            # the Complete can be retried either way: it finishes, or it answers as the first one did
            resp = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
            assert resp["ETag"] == new[1]
            assert read_state(client, bucket, key) == new
            if versioned:
                after = versions_of(client, bucket, key)
                assert after == [(resp["VersionId"], True)] + old_ids, "the retry added or lost a version"
                if acked:
                    assert resp["VersionId"] == result["version"]
            first, last = PART - 10, 2 * PART + 5  # a read spanning all three parts
            got = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()
            assert got == new[0][first : last + 1]
            assert client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) == []
        # the earlier rounds' objects are all still intact after every restart
        assert read_state(client, bucket, "warm") == (b"".join(warm), mp_etag(warm))
        for round_no in range(len(delays)):
            assert client.head_object(Bucket=bucket, Key=f"round-{round_no}")["ContentLength"] == 2 * PART + 777
    finally:
        server.stop()
