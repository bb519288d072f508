"""Anything unexpected becomes S3's InternalError: a 500 with an XML body carrying the request id, one
log line naming that id, no traceback to the client or in the log, nothing stored, and a server that
goes on serving. The fault is a real one: the blob store's temporary directory replaced by a file, as
a broken disk or a careless operator would leave it."""

from __future__ import annotations

import os
import shutil

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import BayouServer, assert_xml_error, err, unique_bucket

pytestmark = pytest.mark.e2e


@pytest.fixture
def broken_server(tmp_path):
    server = BayouServer(tmp_path / "data").start()
    yield server
    server.stop()


def test_unexpected_failure_is_internal_error_with_request_id(broken_server):
    server = broken_server
    s3 = server.client(Config(retries={"max_attempts": 1}))
    bucket = unique_bucket("ie")
    s3.create_bucket(Bucket=bucket)
    tmp_dir = server.data_dir / "blobs" / "tmp"
    shutil.rmtree(tmp_dir)
    tmp_dir.write_bytes(b"")  # a file where the store writes its temporary blobs
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "big"})

    resp = httpx.put(url, content=os.urandom(1 << 20))  # past the inline limit: a blob file is needed

    error = assert_xml_error(resp, 500, "InternalError")
    request_id = resp.headers["x-amz-request-id"]
    assert error["RequestId"] == request_id and error["Resource"] == f"/{bucket}/big"
    assert b"Traceback" not in resp.content and b"NotADirectoryError" not in resp.content
    log = server.output()
    assert [line for line in log.splitlines() if request_id in line and "internal error" in line], log
    assert sum(request_id in line for line in log.splitlines()) == 1, log
    assert "Traceback" not in log
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="big")
    assert err(missing.value) == ("404", 404)

    tmp_dir.unlink()
    tmp_dir.mkdir()
    body = os.urandom(1 << 20)
    assert httpx.put(url, content=body).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body
