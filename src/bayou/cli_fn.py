"""`bayou fn`: deploy, invoke, list, read logs of and remove functions on a running server.

Talks to the server over the network like any client: boto3's `lambda` client for the Lambda API,
and a SigV4-signed GET for Bayou's log extension (api/lambda_/logs.py). boto3 is imported on first
use so that `bayou server` does not pay for it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from bayou.config import CREDENTIALS_FILE

fn_app = typer.Typer(help="Deploy, invoke and inspect functions on a running Bayou server.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

DEFAULT_ROLE = "arn:aws:iam::000000000000:role/bayou-cli"
SKIP_DIRS = frozenset({"__pycache__", ".git"})
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
POLL_SECONDS = 0.5
READY_TIMEOUT = 60.0

# --- connection options, shared by every command --------------------------------------------------

EndpointUrl = Annotated[str, typer.Option(
    "--endpoint-url", envvar="BAYOU_ENDPOINT_URL", help="The Bayou server to talk to.")]
AccessKey = Annotated[str | None, typer.Option(
    "--access-key", envvar="AWS_ACCESS_KEY_ID", show_default=False,
    help="Access key id (default: the data dir's root-credentials.json).")]
SecretKey = Annotated[str | None, typer.Option(
    "--secret-key", envvar="AWS_SECRET_ACCESS_KEY", show_default=False, help="Secret access key.")]
DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="BAYOU_DATA_DIR",
    help=f"Server data directory whose {CREDENTIALS_FILE} is used when no keys are given.")]
Region = Annotated[str, typer.Option(
    "--region", envvar=["BAYOU_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"], help="Region to sign requests for.")]

ENDPOINT = "http://127.0.0.1:9000"
DATA_DIR = Path("data")
REGION = "us-east-1"


class CliError(Exception):
    """A failure reported as one line on stderr, exit status 1."""


@dataclass(frozen=True, slots=True)
class Connection:
    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def lambda_client(self, *, attempts: int = 3) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=10, read_timeout=960,
            user_agent_extra="bayou-cli",
        )
        try:
            return boto3.session.Session().client(
                "lambda", endpoint_url=self.endpoint, region_name=self.region, config=config,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."
            raise CliError(str(exc)) from exc

    def get_json(self, path: str) -> dict[str, Any]:
        """A SigV4-signed (service `lambda`) GET of a Bayou extension; server errors become CliError."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from botocore.httpsession import URLLib3Session

        request = AWSRequest(method="GET", url=self.endpoint.rstrip("/") + path)
        SigV4Auth(Credentials(self.access_key, self.secret_key), "lambda", self.region).add_auth(request)
        response = URLLib3Session(timeout=60).send(request.prepare())
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {"message": response.content[:200].decode("utf-8", "replace")}
        if response.status_code >= 400:
            code = response.headers.get("x-amzn-ErrorType", "").split(":")[0] or f"HTTP {response.status_code}"
            raise CliError(f"{code}: {body.get('message') or body.get('Message') or 'no message'}")
        return body  # type: ignore[no-any-return]


def connect(endpoint_url: str, access_key: str | None, secret_key: str | None, data_dir: Path, region: str) -> Connection:
    """Keys from the options (or AWS_* variables), else the server's generated root credentials."""
    if access_key and secret_key:
        return Connection(endpoint_url, access_key, secret_key, region)
    if access_key or secret_key:
        raise CliError("set both --access-key and --secret-key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    path = data_dir / CREDENTIALS_FILE
    try:
        stored = json.loads(path.read_text())
        return Connection(endpoint_url, stored["access_key"], stored["secret_key"], region)
    except FileNotFoundError:
        raise CliError(
            f"no credentials: pass --access-key and --secret-key, set AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY, or point --data-dir at the server's data directory ({path} not found)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"cannot read credentials from {path}: {exc}") from exc


@contextmanager
def reported() -> Iterator[None]:
    """Every expected failure as one line (code: message) and exit status 1, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(f"{error.get('Code') or 'Error'}: {error.get('Message') or exc}")
    except (CliError, BotoCoreError, OSError) as exc:
        fail(str(exc))


def fail(message: str) -> None:
    err.print(f"error: {message}", style="red", markup=False)
    raise typer.Exit(1)


def _stdout() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _print_json(raw: bytes, *, stream: Any) -> None:
    """Pretty JSON (coloured on a terminal); bytes that are not JSON are written as they are."""
    try:
        value = json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace")
        stream.write(text if text.endswith("\n") or not text else text + "\n")
        stream.flush()
        return
    if stream.isatty():
        Console(file=stream).print_json(data=value)
    else:
        stream.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        stream.flush()


def _steps() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True)


# --- packaging -------------------------------------------------------------------------------------


def package_files(directory: Path) -> list[tuple[str, Path]]:
    """(name in the zip, file) in a deterministic order, without __pycache__ and .git."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            path = Path(root) / name
            if path.is_file():
                found.append((path.relative_to(directory).as_posix(), path))
    return sorted(found)


def build_zip(directory: Path, progress: Progress | None = None) -> bytes:
    """A reproducible zip: fixed timestamps, sorted names, permissions kept (0755 if executable, else 0644)."""
    files = package_files(directory)
    if not files:
        raise CliError(f"nothing to deploy: {directory} has no files")
    task = progress.add_task(f"zipping {directory}", total=len(files)) if progress else None
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
            if progress is not None and task is not None:
                progress.advance(task)
    return buffer.getvalue()


def _check_entry_point(directory: Path, runtime: str | None, handler: str) -> None:
    """Warn (not fail) when the package cannot contain the handler: the server would say so only at invoke."""
    if runtime is not None and runtime.startswith("provided"):
        if not os.access(directory / "bootstrap", os.X_OK):
            err.print(f"warning: {directory}/bootstrap is missing or not executable", style="yellow", markup=False)
        return
    module = handler.rpartition(".")[0].replace(".", "/")
    if module and not (directory / f"{module}.py").is_file() and not (directory / module / "__init__.py").is_file():
        err.print(f"warning: handler {handler!r}: no {module}.py in {directory}", style="yellow", markup=False)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


def wait_ready(lam: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    """The configuration once State is Active and no update is in progress."""
    deadline = time.monotonic() + READY_TIMEOUT
    extra = {"Qualifier": qualifier} if qualifier else {}
    while True:
        config: dict[str, Any] = lam.get_function_configuration(FunctionName=name, **extra)
        if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
            reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
            raise CliError(f"function {name} failed: {reason}")
        if config.get("State") == "Active" and config.get("LastUpdateStatus") != "InProgress":
            return config
        if time.monotonic() > deadline:
            raise CliError(f"function {name} not active after {READY_TIMEOUT:.0f} s (State {config.get('State')})")
        time.sleep(0.2)


def _not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ResourceNotFoundException")


# --- commands ----------------------------------------------------------------------------------------


@fn_app.command()
def deploy(
    name: Annotated[str, typer.Argument(help="Function name.")],
    directory: Annotated[Path, typer.Argument(
        exists=True, file_okay=False, dir_okay=True, help="Directory to package (its contents are the zip's root).")],
    handler: Annotated[str, typer.Option("--handler", help="module.function, e.g. app.handler.")],
    runtime: Annotated[str | None, typer.Option(
        "--runtime", show_default=False,
        help="Runtime, e.g. python3.11 or provided.al2023 (default on create: this interpreter's pythonX.Y).")] = None,
    timeout: Annotated[int | None, typer.Option("--timeout", min=1, max=900, help="Timeout in seconds.")] = None,
    memory: Annotated[int | None, typer.Option("--memory", min=128, max=10240, help="Memory size in MB.")] = None,
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="KEY=VALUE environment variable; repeat for more (replaces the whole set).")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish a numbered version.")] = False,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Zip DIRECTORY and create function NAME, or update its code and configuration if it exists."""
    variables = parse_env(env) if env is not None else None
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        _check_entry_point(directory, runtime, handler)
        lam = conn.lambda_client()
        with _steps() as progress:
            data = build_zip(directory, progress)
            task = progress.add_task(f"uploading {len(data) / 1024:.1f} KiB to {conn.endpoint}")
            config: dict[str, Any] = {"Handler": handler}
            if runtime is not None:
                config["Runtime"] = runtime
            if timeout is not None:
                config["Timeout"] = timeout
            if memory is not None:
                config["MemorySize"] = memory
            if variables is not None:
                config["Environment"] = {"Variables": variables}
            created = _create_or_update(lam, name, data, config, publish)
            progress.update(task, description=f"waiting for {name} to become active")
            final = wait_ready(lam, name)
            if publish:
                version = lam.publish_version(FunctionName=name, CodeSha256=final["CodeSha256"])["Version"]
                final = wait_ready(lam, name, version)
        err.print(f"{'Created' if created else 'Updated'} function {name}", markup=False)
        out = _stdout()
        for key in ("FunctionArn", "Version", "CodeSha256"):
            out.print(f"{key:<12} {final[key]}", markup=False)


def _create_or_update(lam: Any, name: str, data: bytes, config: dict[str, Any], publish: bool) -> bool:
    """True if the function was created. Code first, then configuration; publishing comes after both."""
    from botocore.exceptions import ClientError

    try:
        lam.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if not _not_found(exc):
            raise
        config.setdefault("Runtime", f"python{sys.version_info.major}.{sys.version_info.minor}")
        lam.create_function(FunctionName=name, Role=DEFAULT_ROLE, Code={"ZipFile": data}, **config)
        return True
    lam.update_function_code(FunctionName=name, ZipFile=data)
    wait_ready(lam, name)
    lam.update_function_configuration(FunctionName=name, **config)
    return False


@fn_app.command()
def invoke(
    name: Annotated[str, typer.Argument(help="Function name (or name:qualifier, or ARN).")],
    payload: Annotated[str | None, typer.Option("--payload", help="JSON event (default {}).")] = None,
    payload_file: Annotated[Path | None, typer.Option(
        "--payload-file", help="Read the JSON event from this file ('-' for stdin).")] = None,
    qualifier: Annotated[str | None, typer.Option("--qualifier", help="Version or alias to invoke.")] = None,
    async_: Annotated[bool, typer.Option("--async", help="Queue an asynchronous invocation (Event).")] = False,
    log: Annotated[bool, typer.Option("--log", help="Print the invocation's log tail to stderr.")] = False,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Invoke NAME and print its result as JSON; a function error exits with status 1."""
    if payload is not None and payload_file is not None:
        raise typer.BadParameter("give --payload or --payload-file, not both", param_hint="--payload")
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        if payload_file is not None:
            body = sys.stdin.buffer.read() if str(payload_file) == "-" else payload_file.read_bytes()
        else:
            body = (payload if payload is not None else "{}").encode()
        params: dict[str, Any] = {"FunctionName": name, "Payload": body,
                                  "InvocationType": "Event" if async_ else "RequestResponse"}
        if qualifier:
            params["Qualifier"] = qualifier
        if log and not async_:
            params["LogType"] = "Tail"
        response = conn.lambda_client(attempts=1).invoke(**params)  # no retries: never run a function twice
        result = response["Payload"].read()
    if async_:
        err.print(f"Queued ({response['StatusCode']} Accepted)", markup=False)
        return
    if log and response.get("LogResult"):
        sys.stderr.write(base64.b64decode(response["LogResult"]).decode("utf-8", "replace"))
        sys.stderr.flush()
    if response.get("FunctionError"):
        err.print(f"error: function error ({response['FunctionError']}):", style="red", markup=False)
        _print_json(result, stream=sys.stderr)
        raise typer.Exit(1)
    _print_json(result, stream=sys.stdout)


@fn_app.command("ls")
def list_functions(
    versions: Annotated[bool, typer.Option("--versions", help="Also count published versions (one request each).")] = False,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """List functions."""
    with reported():
        lam = connect(endpoint_url, access_key, secret_key, data_dir, region).lambda_client()
        functions = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
        counts = {f["FunctionName"]: _version_count(lam, f["FunctionName"]) for f in functions} if versions else {}
    if not functions:
        err.print("No functions.", markup=False)
        return
    table = Table(box=None, header_style="bold")
    for column in ("Name", "Runtime", "Handler", "Memory", "Timeout", "Last modified", *(["Versions"] if versions else [])):
        table.add_column(column, justify="right" if column in ("Memory", "Timeout", "Versions") else "left")
    for f in functions:
        row = [f["FunctionName"], f.get("Runtime", ""), f.get("Handler", ""), f"{f.get('MemorySize', '')} MB",
               f"{f.get('Timeout', '')} s", str(f.get("LastModified", ""))[:19].replace("T", " ")]
        table.add_row(*row, *([str(counts[f["FunctionName"]])] if versions else []))
    _stdout().print(table)


def _version_count(lam: Any, name: str) -> int:
    pages = lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
    return sum(1 for page in pages for v in page["Versions"] if v["Version"] != "$LATEST")


@fn_app.command()
def logs(
    name: Annotated[str, typer.Argument(help="Function name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Print NAME's log (START / END / REPORT lines and what the handler printed)."""
    with reported():
        conn = connect(endpoint_url, access_key, secret_key, data_dir, region)
        if not follow:
            _print_logs(conn, name, follow=False, stopped=lambda: False)
            return
        # Ctrl-C sets a flag that the poll loop checks, instead of raising KeyboardInterrupt wherever
        # the main thread happens to be: raised inside a finalizer (each poll's HTTP connection is
        # collected as the loop runs), the exception is only printed and the loop goes on for ever.
        stop: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
        try:
            _print_logs(conn, name, follow=True, stopped=lambda: bool(stop))
        finally:
            signal.signal(signal.SIGINT, previous)
            sys.stdout.flush()


def _print_logs(conn: Connection, name: str, *, follow: bool, stopped: Callable[[], bool]) -> None:
    """Print the log from the start, until a poll finds nothing new (or, following, until `stopped()`)."""
    path = f"/2015-03-31/functions/{quote(name, safe='')}/logs"
    offset = 0
    while True:
        chunk = conn.get_json(f"{path}?offset={offset}")
        if chunk.get("note"):
            err.print(f"note: {chunk['note']}", style="yellow", markup=False)
        events = str(chunk.get("events", ""))
        if events:
            sys.stdout.write(events)
            sys.stdout.flush()
        offset = int(chunk.get("nextOffset", offset))
        if stopped() or (not events and not follow):
            return
        if not events:
            time.sleep(POLL_SECONDS)


@fn_app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Function name.")],
    endpoint_url: EndpointUrl = ENDPOINT, access_key: AccessKey = None, secret_key: SecretKey = None,
    data_dir: DataDir = DATA_DIR, region: Region = REGION,
) -> None:
    """Delete function NAME with all its versions and aliases."""
    with reported():
        connect(endpoint_url, access_key, secret_key, data_dir, region).lambda_client().delete_function(FunctionName=name)
    err.print(f"Deleted function {name}", markup=False)
