"""The admin API for event targets over a real server: SigV4 required, JSON in and out, validation
(SSRF refusals included), the `bayou admin` CLI, and targets from `bayou server --config`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .helpers import REGION, BayouServer, ServerFailed, err, server_env, unique_bucket

pytestmark = pytest.mark.e2e


def admin(server: BayouServer, method: str, path: str, body: Any = None, *, service: str = "s3",
          secret: str | None = None) -> httpx.Response:
    """A SigV4-signed admin request (botocore's signer), as any client would send it."""
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = AWSRequest(method=method, url=f"{server.endpoint}/_bayou/admin{path}", data=data,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(data).hexdigest()})
    SigV4Auth(Credentials(server.access_key, secret or server.secret_key), service, REGION).add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, headers=dict(prepared.headers), content=data, timeout=30)


def webhook_spec(url: str = "http://127.0.0.1:9/hook", **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "config": {"url": url, "secret": "s"}, **extra}


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["Code"] == code and body["Message"], body
    return body


def test_unsigned_and_badly_signed_requests_are_refused(server: BayouServer) -> None:
    assert_error(httpx.get(f"{server.endpoint}/_bayou/admin/targets"), 403, "AccessDenied")
    resp = admin(server, "GET", "/targets", secret="wrong-secret")
    assert resp.status_code == 403 and resp.json()["Code"] == "SignatureDoesNotMatch"
    resp = admin(server, "PUT", "/targets/sneaky", webhook_spec(), secret="wrong-secret")
    assert resp.status_code == 403
    assert admin(server, "GET", "/targets/sneaky").status_code == 404


def test_body_must_match_its_signed_hash(server: BayouServer) -> None:
    data = json.dumps(webhook_spec()).encode()
    request = AWSRequest(method="PUT", url=f"{server.endpoint}/_bayou/admin/targets/tampered", data=data,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(data).hexdigest()})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(request)
    prepared = request.prepare()
    tampered = data.replace(b"127.0.0.1", b"127.0.0.2")
    resp = httpx.put(prepared.url, headers=dict(prepared.headers), content=tampered)
    assert_error(resp, 400, "XAmzContentSHA256Mismatch")


@pytest.mark.parametrize("service", ["s3", "lambda"])
def test_put_get_list_delete(server: BayouServer, service: str) -> None:
    target_id = f"hook-{service}"
    resp = admin(server, "PUT", f"/targets/{target_id}", webhook_spec(queue_limit=50, format="cloudevents"),
                 service=service)
    assert resp.status_code == 200, resp.text
    saved = resp.json()
    assert saved["arn"] == f"arn:bayou:sqs::{target_id}:webhook"
    assert saved["queue_limit"] == 50 and saved["format"] == "cloudevents"
    assert admin(server, "GET", f"/targets/{target_id}", service=service).json() == saved
    listed = admin(server, "GET", "/targets", service=service).json()["Targets"]
    assert saved in listed
    assert admin(server, "DELETE", f"/targets/{target_id}", service=service).status_code == 204
    assert_error(admin(server, "GET", f"/targets/{target_id}"), 404, "NoSuchTarget")
    assert_error(admin(server, "DELETE", f"/targets/{target_id}"), 404, "NoSuchTarget")


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://metadata.google.internal/",
    "http://[fd00:ec2::254]/", "file:///etc/passwd", "gopher://127.0.0.1/",
])
def test_refused_webhook_urls(server: BayouServer, url: str) -> None:
    assert_error(admin(server, "PUT", "/targets/evil", webhook_spec(url)), 400, "InvalidArgument")
    assert admin(server, "GET", "/targets/evil").status_code == 404


@pytest.mark.parametrize("body", [
    {"type": "carrier-pigeon", "config": {}},
    {"type": "webhook", "config": {}},
    {"type": "webhook", "config": {"url": "http://127.0.0.1/"}, "format": "xml"},
    {"type": "webhook", "config": {"url": "http://127.0.0.1/"}, "queue_limit": 0},
    {"type": "webhook", "config": {"url": "http://127.0.0.1/"}, "dead_letter": "not-an-arn"},
    {"type": "webhook", "config": {"url": "http://127.0.0.1/"}, "dead_letter": "arn:aws:s3:::no-such-bucket-here/x"},
    {"type": "webhook", "config": {"url": "http://127.0.0.1/"}, "colour": "red"},
    {"id": "other", "type": "webhook", "config": {"url": "http://127.0.0.1/"}},
])
def test_invalid_specs(server: BayouServer, body: dict[str, Any]) -> None:
    assert_error(admin(server, "PUT", "/targets/bad", body), 400, "InvalidArgument")


def test_malformed_bodies_and_routes(server: BayouServer) -> None:
    assert_error(admin(server, "PUT", "/targets/bad", b"{not json"), 400, "MalformedJSON")
    assert_error(admin(server, "PUT", "/targets/bad", [1, 2]), 400, "MalformedJSON")
    assert_error(admin(server, "PUT", "/targets/-dash-first", webhook_spec()), 400, "InvalidArgument")
    assert_error(admin(server, "GET", "/nothing"), 404, "NotFound")
    assert_error(admin(server, "POST", "/targets"), 405, "MethodNotAllowed")


def test_unknown_target_arn_in_a_notification_configuration(server: BayouServer, s3: Any, bucket: str) -> None:
    config = {"QueueConfigurations": [{"QueueArn": "arn:bayou:sqs::nobody:webhook", "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    assert err(info.value) == ("InvalidArgument", 400)
    assert admin(server, "PUT", "/targets/somebody", webhook_spec()).status_code == 200
    config["QueueConfigurations"][0]["QueueArn"] = "arn:bayou:sqs::somebody:webhook"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    admin(server, "DELETE", "/targets/somebody")


def test_status_lists_targets(server: BayouServer) -> None:
    admin(server, "PUT", "/targets/watched", webhook_spec())
    rows = admin(server, "GET", "/events/status").json()["Targets"]
    row = next(r for r in rows if r["arn"] == "arn:bayou:sqs::watched:webhook")
    assert row["configured"] and row["pending"] == 0
    assert {"delivered", "dropped", "dead_lettered", "failures", "last_error"} <= set(row)


def cli(server: BayouServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bayou", "admin", *args, "--endpoint-url", server.endpoint,
         "--access-key", server.access_key, "--secret-key", server.secret_key],
        env=server_env({"COLUMNS": "250"}), capture_output=True, text=True, timeout=60,
    )


def test_cli_add_ls_status_rm(server: BayouServer) -> None:
    done = cli(server, "target", "add", "from-cli", "--type", "webhook", "--url", "http://127.0.0.1:9/x",
               "--secret", "k", "--timeout", "2", "--queue-limit", "10", "--max-age", "60",
               "--option", "batch=true", "--header", "X-Team=ml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "arn:bayou:sqs::from-cli:webhook"
    spec = admin(server, "GET", "/targets/from-cli").json()
    assert spec["config"] == {"url": "http://127.0.0.1:9/x", "secret": "k", "timeout": 2.0, "batch": True,
                              "headers": {"X-Team": "ml"}}
    assert spec["queue_limit"] == 10 and spec["max_age_seconds"] == 60
    listed = cli(server, "target", "ls")
    assert listed.returncode == 0 and "from-cli" in listed.stdout and "http://127.0.0.1:9/x" in listed.stdout
    status = cli(server, "events", "status")
    assert status.returncode == 0 and "arn:bayou:sqs::from-cli:webhook" in status.stdout
    refused = cli(server, "target", "add", "evil", "--type", "webhook", "--url", "http://169.254.169.254/")
    assert refused.returncode == 1 and "InvalidArgument" in refused.stderr and "Traceback" not in refused.stderr
    assert cli(server, "target", "rm", "from-cli").returncode == 0
    gone = cli(server, "target", "rm", "from-cli")
    assert gone.returncode == 1 and "NoSuchTarget" in gone.stderr


def test_targets_from_the_config_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("config")
    bucket = unique_bucket()
    path = root / "bayou.toml"
    path.write_text(f"""
[[targets]]
id = "cfg-hook"
type = "webhook"
format = "cloudevents"
queue_limit = 500
max_age_seconds = 120
[targets.config]
url = "http://127.0.0.1:9/events"
secret = "from-file"
headers = {{ "X-Env" = "test" }}

[[targets]]
id = "cfg-other"
type = "webhook"
dead_letter = "arn:aws:s3:::{bucket}/dead"
[targets.config]
url = "http://localhost:9/"
""")
    srv = BayouServer(root / "data", env={"BAYOU_CONFIG": str(path)})
    srv.start()
    try:
        specs = {s["id"]: s for s in admin(srv, "GET", "/targets").json()["Targets"]}
        assert specs["cfg-hook"]["config"]["headers"] == {"X-Env": "test"}
        assert specs["cfg-hook"]["format"] == "cloudevents" and specs["cfg-hook"]["queue_limit"] == 500
        assert specs["cfg-other"]["dead_letter"] == f"arn:aws:s3:::{bucket}/dead"
    finally:
        srv.stop()
    path.write_text('[[targets]]\nid = "evil"\ntype = "webhook"\n[targets.config]\nurl = "http://169.254.169.254/"\n')
    bad = BayouServer(root / "data2", extra_args=("--config", str(path)))
    with pytest.raises(ServerFailed) as info:
        bad.start(timeout=20)
    assert "169.254.169.254" in str(info.value) and "Traceback" not in str(info.value)
