"""`bayou events`: watch a bucket's events live on a running server.

Streams the listen endpoint (api/s3/listen.py) with a SigV4-signed GET over httpx and prints one
line per event until Ctrl-C. Connection options and credentials are the same as `bayou fn`'s.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote, unquote_plus
from xml.etree.ElementTree import ParseError

import typer
from defusedxml.ElementTree import fromstring
from rich.console import Console
from rich.markup import escape

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
    reported,
)

events_app = typer.Typer(help="Watch bucket events on a running Bayou server.", no_args_is_help=True)

DEFAULT_EVENTS = "s3:ObjectCreated:*,s3:ObjectRemoved:*"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: The server sends a blank line every 5 s; a silence much longer than that is a dead connection.
READ_TIMEOUT = 30.0


def listen_url(endpoint: str, bucket: str, events: list[str], prefix: str, suffix: str) -> str:
    """The listen URL, its query already in SigV4's canonical encoding (so it is signed as sent)."""
    params = [("events", name) for name in events]
    params += [(name, value) for name, value in (("prefix", prefix), ("suffix", suffix)) if value]
    query = "&".join(f"{name}={quote(value, safe='-_.~')}" for name, value in params)
    return f"{endpoint.rstrip('/')}/{quote(bucket, safe='')}?{query}"


def signed_headers(conn: Connection, url: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    SigV4Auth(Credentials(conn.access_key, conn.secret_key), "s3", conn.region).add_auth(request)
    return dict(request.headers.items())


def stream_records(conn: Connection, url: str) -> Iterator[dict[str, Any]]:
    """Each record the server sends, until the connection ends."""
    try:
        import httpx
    except ImportError:
        raise CliError("`bayou events watch` needs httpx: pip install httpx") from None
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
    try:
        with httpx.stream("GET", url, headers=signed_headers(conn, url), timeout=timeout) as response:
            if response.status_code != 200:
                raise CliError(_error_line(response.status_code, response.read()))
            for line in response.iter_lines():
                if line.strip():
                    yield from json.loads(line).get("Records", [])
    except httpx.HTTPError as exc:
        raise CliError(f"connection to {conn.endpoint} failed: {exc}") from exc
    raise CliError("the server closed the stream")


def _error_line(status: int, body: bytes) -> str:
    try:
        root = fromstring(body)
        return f"{root.findtext('Code') or status}: {root.findtext('Message') or 'no message'}"
    except (ParseError, ValueError):
        return f"HTTP {status}"


def event_line(record: dict[str, Any]) -> str:
    """time, eventName, key, size (`-` for removals)."""
    obj = record.get("s3", {}).get("object", {})
    size = obj.get("size")
    return "  ".join((
        str(record.get("eventTime", "")), str(record.get("eventName", "")).ljust(30),
        unquote_plus(str(obj.get("key", ""))), "-" if size is None else str(size),
    ))


@events_app.command()
def watch(
    bucket: Annotated[str, typer.Argument(help="The bucket whose events to print.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this.")] = "",
    suffix: Annotated[str, typer.Option("--suffix", help="Only keys ending with this.")] = "",
    events: Annotated[str, typer.Option(
        "--events", help="Comma-separated event names (s3:ObjectCreated:*, s3:ObjectRemoved:Delete, ...).")]
    = DEFAULT_EVENTS,
    as_json: Annotated[bool, typer.Option("--json", help="Print each raw event record as one JSON line.")] = False,
    endpoint_url: EndpointUrl = ENDPOINT,
    access_key: AccessKey = None,
    secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR,
    region: Region = REGION,
) -> None:
    """Print the bucket's events as they happen (time, event, key, size), until Ctrl-C.

    Delivery is at most once: events that happen while not connected are not shown.
    """
    out = Console(highlight=False, soft_wrap=True)
    names = [name.strip() for name in events.split(",") if name.strip()]
    try:
        with reported():
            conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
            for record in stream_records(conn, listen_url(conn.endpoint, bucket, names, prefix, suffix)):
                if as_json:
                    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
                else:
                    out.print(escape(event_line(record)))
                sys.stdout.flush()
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
