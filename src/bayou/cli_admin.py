"""`bayou admin`: event targets and the event dispatcher's status, over the admin API.

Talks to a running server like any client (SigV4-signed JSON requests to `/_bayou/admin/...`,
see api/admin/targets.py), with the same connection options and credentials as `bayou fn`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from bayou.cli_fn import (
    DATA_DIR,
    ENDPOINT,
    REGION,
    AccessKey,
    CliError,
    Connection,
    DataDir,
    EndpointUrl,
    Region,
    SecretKey,
    connect,
    err,
    reported,
)

admin_app = typer.Typer(help="Administer a running Bayou server (event targets, event status).", no_args_is_help=True)
target_app = typer.Typer(help="Configure event targets (webhooks, brokers).", no_args_is_help=True)
events_app = typer.Typer(help="Inspect event delivery.", no_args_is_help=True)
admin_app.add_typer(target_app, name="target")
admin_app.add_typer(events_app, name="events")

PREFIX = "/_bayou/admin"


def admin_request(conn: Connection, method: str, path: str, body: Any = None) -> Any:
    """One signed JSON request; an error answer becomes CliError("Code: Message")."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session

    data = b"" if body is None else json.dumps(body).encode()
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(data).hexdigest()}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = AWSRequest(method=method, url=conn.endpoint.rstrip("/") + PREFIX + path, data=data, headers=headers)
    SigV4Auth(Credentials(conn.access_key, conn.secret_key), "s3", conn.region).add_auth(request)
    response = URLLib3Session(timeout=60).send(request.prepare())
    try:
        answer = json.loads(response.content) if response.content else None
    except ValueError:
        answer = {"Message": response.content[:200].decode("utf-8", "replace")}
    if response.status_code >= 400:
        answer = answer if isinstance(answer, dict) else {}
        raise CliError(f"{answer.get('Code') or f'HTTP {response.status_code}'}: {answer.get('Message') or 'no message'}")
    return answer


def parse_options(pairs: list[str], hint: str) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that is JSON (5, true, [..]) is taken as such, anything else as a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=hint)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _out() -> Console:
    return Console(highlight=False)


@target_app.command("add")
def add(
    target_id: Annotated[str, typer.Argument(metavar="ID", help="Target id; its ARN is arn:bayou:sqs::ID:TYPE.")],
    type_: Annotated[str, typer.Option("--type", help="webhook, redis, nats, amqp, mqtt, postgresql or kafka.")],
    url: Annotated[str | None, typer.Option("--url", help="Webhook URL (or the broker's URL, as config.url).")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Webhook HMAC-SHA256 secret (X-Bayou-Signature).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.001, help="Seconds per request (webhook default 5).")] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Webhook: POST a JSON array per batch.")] = False,
    header: Annotated[list[str] | None, typer.Option("--header", help="Webhook: extra header NAME=VALUE; repeat.")] = None,
    format_: Annotated[str, typer.Option("--format", help="aws (S3 records) or cloudevents.")] = "aws",
    queue_limit: Annotated[int | None, typer.Option("--queue-limit", min=1, help="Events kept while the target is down (default 100000).")] = None,
    dead_letter: Annotated[str | None, typer.Option("--dead-letter", help="arn:aws:s3:::bucket/prefix for undeliverable events.")] = None,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", min=0, help="Attempts before dead-lettering (0: no limit).")] = None,
    max_age: Annotated[float | None, typer.Option("--max-age", min=0.001, help="Seconds an event is retried before dead-lettering (default 21600).")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Other config KEY=VALUE (JSON values allowed); repeat.")] = None,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Create or replace event target ID (validated by the server)."""
    config = parse_options(option or [], "--option")
    for key, value in (("url", url), ("secret", secret), ("timeout", timeout)):
        if value is not None:
            config[key] = value
    if batch:
        config["batch"] = True
    if header:
        config["headers"] = {k: str(v) for k, v in parse_options(header, "--header").items()}
    spec: dict[str, Any] = {"type": type_, "config": config, "format": format_}
    for key, value in (("queue_limit", queue_limit), ("dead_letter", dead_letter), ("max_attempts", max_attempts),
                       ("max_age_seconds", max_age)):
        if value is not None:
            spec[key] = value
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        saved = admin_request(conn, "PUT", f"/targets/{quote(target_id, safe='')}", spec)
    err.print(f"Saved target {target_id}", markup=False)
    _out().print(saved["arn"], markup=False)


@target_app.command("ls")
def ls(
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """List the configured event targets."""
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        targets = admin_request(conn, "GET", "/targets")["Targets"]
    table = Table("ID", "TYPE", "ARN", "DESTINATION", "FORMAT", "DEAD LETTER", box=None)
    for spec in targets:
        config = spec.get("config") or {}
        destination = str(config.get("url") or config.get("stream") or config.get("subject") or "")
        table.add_row(spec["id"], spec["type"], spec["arn"], destination, spec.get("format", "aws"),
                      spec.get("dead_letter") or "event-dead outbox")
    _out().print(table)


@target_app.command("show")
def show(
    target_id: Annotated[str, typer.Argument(metavar="ID")],
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Print target ID's specification as JSON."""
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        spec = admin_request(conn, "GET", f"/targets/{quote(target_id, safe='')}")
    print(json.dumps(spec, indent=2, ensure_ascii=False))


@target_app.command("rm")
def rm(
    target_id: Annotated[str, typer.Argument(metavar="ID")],
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Remove target ID; events still queued for it move to the outbox kind event-dead:<arn>."""
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        admin_request(conn, "DELETE", f"/targets/{quote(target_id, safe='')}")
    err.print(f"Removed target {target_id}", markup=False)


@events_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Per target: events pending, delivered, dropped, dead-lettered, and the last error."""
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        answer = admin_request(conn, "GET", "/events/status")
    if as_json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    table = Table("TARGET", "PENDING", "DELIVERED", "DROPPED", "DEAD-LETTERED", "FAILURES", "LAST ERROR", box=None)
    for row in answer["Targets"]:
        name = row["arn"] if row["configured"] else f"{row['arn']} (removed)"
        table.add_row(name, str(row["pending"]), str(row["delivered"]), str(row["dropped"]),
                      str(row["dead_lettered"]), str(row["failures"]),
                      row["last_error"] or "")
    _out().print(table)
