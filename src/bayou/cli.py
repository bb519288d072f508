"""The `bayou` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bayou.cli_admin import admin_app
from bayou.cli_events import events_app
from bayou.cli_fn import fn_app
from bayou.config import Settings, root_credentials

app = typer.Typer(help="Bayou: an S3-compatible object store with serverless functions built in.", no_args_is_help=True)
console = Console(stderr=True)
app.add_typer(fn_app, name="fn")
app.add_typer(admin_app, name="admin")
app.add_typer(events_app, name="events")


@app.callback()
def main() -> None:
    """Bayou command line."""


@app.command()
def server(
    address: Annotated[str, typer.Option(envvar="BAYOU_ADDRESS", help="host:port to listen on.")] = "127.0.0.1:9000",
    data_dir: Annotated[Path, typer.Option(envvar="BAYOU_DATA_DIR", help="Where metadata and blobs live.")] = Path("data"),
    access_key: Annotated[str | None, typer.Option(envvar="BAYOU_ACCESS_KEY", help="Root access key id.")] = None,
    secret_key: Annotated[str | None, typer.Option(envvar="BAYOU_SECRET_KEY", help="Root secret access key.")] = None,
    region: Annotated[str, typer.Option(envvar="BAYOU_REGION", help="The region this server answers as.")] = "us-east-1",
    fsync: Annotated[str, typer.Option(envvar="BAYOU_FSYNC", help="'on' (durable) or 'off' (development only).")] = "on",
    workers: Annotated[int, typer.Option(envvar="BAYOU_WORKERS", min=1, help="Server processes sharing the port.")] = 1,
    fn_idle_ttl: Annotated[float, typer.Option(envvar="BAYOU_FN_IDLE_TTL", min=0.1, help="Seconds an idle function environment stays warm.")] = 300.0,
    fn_concurrency: Annotated[int, typer.Option(envvar="BAYOU_FN_CONCURRENCY", min=1, help="Concurrent function executions in all (the account limit).")] = 1000,
    fn_retry_delay: Annotated[float, typer.Option(envvar="BAYOU_FN_RETRY_DELAY", min=0.0, help="Seconds before the first retry of a failed async invocation (doubles per retry).")] = 1.0,
    config: Annotated[Path | None, typer.Option(envvar="BAYOU_CONFIG", help="TOML file whose [[targets]] are saved at start-up.")] = None,
) -> None:
    """Run the S3 server on the embedded default (SQLite metadata + local files)."""
    if fsync not in ("on", "off"):
        raise typer.BadParameter("--fsync must be 'on' or 'off'")
    settings = Settings(
        address=address,
        data_dir=data_dir,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        fsync=fsync == "on",
        workers=workers,
        fn_idle_ttl=fn_idle_ttl,
        fn_account_concurrency=fn_concurrency,
        fn_retry_delay=fn_retry_delay,
        config_file=config,
    )
    if config is not None:
        from bayou.server import read_config

        try:
            read_config(config)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--config") from exc
    try:
        credentials = root_credentials(settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if credentials.generated:
        console.print(
            "[bold]Generated root credentials (shown once; kept in "
            f"{settings.data_dir / 'root-credentials.json'}):[/bold]\n"
            f"  access key: {credentials.access_key}\n  secret key: {credentials.secret_key}"
        )
    if not settings.fsync:
        console.print("[yellow]WARNING: --fsync off is for development only: acknowledged writes can be lost on a crash or power failure.[/yellow]")
    from bayou.serve import exec_server

    exec_server(settings)
