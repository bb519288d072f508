"""`bayou fn ...`: the real console script as a subprocess against a real server.

The server is started without keys, so it generates root credentials into its data dir, which
is where the CLI finds them when given none (BAYOU_DATA_DIR here).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
import typer.main

from bayou.cli_fn import build_zip, fn_app

from .helpers import BayouServer, server_env

BAYOU = Path(sys.executable).with_name("bayou")
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

ECHO = """
    import json

    def handler(event, context):
        print("echo got", json.dumps(event, sort_keys=True))
        return {"echo": event, "version": 1}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> BayouServer:
    srv = BayouServer(tmp_path_factory.mktemp("bayou-cli") / "data", access_key=None)
    srv.start()
    yield srv
    srv.stop()


def cli_env(server: BayouServer, **extra: str) -> dict[str, str]:
    return server_env({"BAYOU_ENDPOINT_URL": server.endpoint, "BAYOU_DATA_DIR": str(server.data_dir), **extra})


def bayou(server: BayouServer, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BAYOU), "fn", *args], env=env or cli_env(server), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def write_package(directory: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return directory


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in stdout.strip().splitlines())


def unique(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def echo(server: BayouServer, tmp_path_factory) -> str:
    name = unique("echo")
    package = write_package(tmp_path_factory.mktemp("echo"), {"app.py": ECHO})
    ok(bayou(server, "deploy", name, str(package), "--handler", "app.handler"))
    return name


# --- in process: no server needed -----------------------------------------------------------------


def _fn_options() -> list[str]:
    group = typer.main.get_command(fn_app)
    found = set()
    for command in group.commands.values():  # type: ignore[attr-defined]
        for param in command.params:
            found.update(opt for opt in param.opts if opt.startswith("--") and opt != "--help")
            found.update(param.envvar if isinstance(param.envvar, list) else [param.envvar] if param.envvar else [])
    return sorted(found)


@pytest.mark.parametrize("option", _fn_options())
def test_option_documented(option: str) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "functions.md").read_text()
    assert f"`{option}`" in docs or f"{option} " in docs or f"{option}]" in docs, f"{option} missing from docs/functions.md"


# --- packaging --------------------------------------------------------


def test_zip_is_deterministic_skips_caches_and_keeps_the_executable_bit(tmp_path: Path) -> None:
    write_package(tmp_path, {"app.py": "x = 1\n", "lib/util.py": "y = 2\n", "bootstrap": "#!/bin/sh\n",
                             "__pycache__/app.cpython-311.pyc": "junk", ".git/HEAD": "ref", "lib/__pycache__/u.pyc": ""})
    (tmp_path / "bootstrap").chmod(0o755)
    first = build_zip(tmp_path)
    os.utime(tmp_path / "app.py", (1, 1))
    assert build_zip(tmp_path) == first
    with zipfile.ZipFile(BytesIO(first)) as archive:
        assert archive.namelist() == ["app.py", "bootstrap", "lib/util.py"]
        modes = {info.filename: info.external_attr >> 16 & 0o777 for info in archive.infolist()}
    assert modes == {"app.py": 0o644, "bootstrap": 0o755, "lib/util.py": 0o644}


# --- deploy / invoke -----------------------------------------------------------------------------------


def test_deploy_invoke_redeploy(server: BayouServer, tmp_path: Path) -> None:
    name = unique()
    package = write_package(tmp_path / "pkg", {"app.py": ECHO, "helpers/__init__.py": ""})
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "stale.pyc").write_bytes(os.urandom(64))

    first = ok(bayou(server, "deploy", name, str(package), "--handler", "app.handler", "--timeout", "10",
                     "--memory", "256", "--env", "GREETING=hi there", "--env", "EMPTY="))
    info = fields(first.stdout)
    assert info["FunctionArn"] == ARN + name and info["Version"] == "$LATEST" and info["CodeSha256"]
    assert f"Created function {name}" in first.stderr

    result = ok(bayou(server, "invoke", name, "--payload", '{"x": [1, 2], "s": "é"}'))
    assert json.loads(result.stdout) == {"echo": {"x": [1, 2], "s": "é"}, "version": 1}
    assert result.stdout.startswith("{\n  ")  # pretty

    again = ok(bayou(server, "deploy", name, str(package), "--handler", "app.handler"))
    assert fields(again.stdout)["CodeSha256"] == info["CodeSha256"]  # same tree, same zip
    assert f"Updated function {name}" in again.stderr

    write_package(package, {"app.py": """
        import os

        def handler(event, context):
            return {"version": 2, "greeting": os.environ.get("GREETING"), "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}
    """})
    third = ok(bayou(server, "deploy", name, str(package), "--handler", "app.handler"))
    assert fields(third.stdout)["CodeSha256"] != info["CodeSha256"]
    result = ok(bayou(server, "invoke", name))
    assert json.loads(result.stdout) == {"version": 2, "greeting": "hi there", "memory": "256"}


def test_publish_and_invoke_a_version(server: BayouServer, tmp_path: Path) -> None:
    name = unique()
    package = write_package(tmp_path, {"main.py": "def run(event, context):\n    return 'v1'\n"})
    info = fields(ok(bayou(server, "deploy", name, str(package), "--handler", "main.run", "--publish")).stdout)
    assert (info["Version"], info["FunctionArn"]) == ("1", f"{ARN}{name}:1")
    (package / "main.py").write_text("def run(event, context):\n    return 'v2'\n")
    ok(bayou(server, "deploy", name, str(package), "--handler", "main.run"))
    assert json.loads(ok(bayou(server, "invoke", name, "--qualifier", "1")).stdout) == "v1"
    assert json.loads(ok(bayou(server, "invoke", f"{name}:1")).stdout) == "v1"
    assert json.loads(ok(bayou(server, "invoke", name)).stdout) == "v2"


def test_invoke_payload_file_and_log_tail(server: BayouServer, echo: str, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    result = ok(bayou(server, "invoke", echo, "--payload-file", str(event), "--log"))
    assert json.loads(result.stdout)["echo"] == {"from": "file"}
    assert "START RequestId:" in result.stderr and "REPORT RequestId:" in result.stderr
    assert 'echo got {"from": "file"}' in result.stderr


def test_invoke_async(server: BayouServer, echo: str) -> None:
    marker = uuid.uuid4().hex
    result = ok(bayou(server, "invoke", echo, "--async", "--payload", json.dumps({"marker": marker})))
    assert result.stdout == "" and "202" in result.stderr
    deadline = time.monotonic() + 30
    while marker not in ok(bayou(server, "logs", echo)).stdout:
        assert time.monotonic() < deadline, "the asynchronous invocation never ran"
        time.sleep(0.5)


def test_function_error_exits_1(server: BayouServer, tmp_path: Path) -> None:
    name = unique("raises")
    package = write_package(tmp_path, {"app.py": "def handler(event, context):\n    raise ValueError('boom')\n"})
    ok(bayou(server, "deploy", name, str(package), "--handler", "app.handler"))
    result = bayou(server, "invoke", name)
    assert result.returncode == 1 and result.stdout == ""
    body = json.loads(result.stderr.split("\n", 1)[1])
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom")
    assert "Unhandled" in result.stderr.splitlines()[0]


# --- ls / logs / rm ------------------------------------------------------------------------------------


def test_ls(server: BayouServer, echo: str) -> None:
    result = ok(bayou(server, "ls", "--versions"))
    row = next(line for line in result.stdout.splitlines() if echo in line)
    assert "python3" in row and "app.handler" in row and "128 MB" in row and "3 s" in row
    assert "Name" in result.stdout.splitlines()[0]


def test_logs(server: BayouServer, echo: str) -> None:
    marker = uuid.uuid4().hex
    ok(bayou(server, "invoke", echo, "--payload", json.dumps({"marker": marker})))
    out = ok(bayou(server, "logs", echo)).stdout
    assert f'echo got {{"marker": "{marker}"}}' in out
    for line in ("START RequestId:", "END RequestId:", "REPORT RequestId:", "Billed Duration:"):
        assert line in out


def _reader(stream, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _next_line(lines: queue.Queue[str], proc: subprocess.Popen[str], deadline: float) -> str:
    """The next line `proc` prints; fails at once if it exits, or at the deadline."""
    while True:
        try:
            return lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                raise AssertionError(f"logs --follow exited with {proc.returncode}: {proc.stderr.read()}") from None
            if time.monotonic() > deadline:
                raise AssertionError("no new line from logs --follow in time") from None


def test_logs_follow_prints_new_lines(server: BayouServer, echo: str) -> None:
    ok(bayou(server, "invoke", echo))  # something to print at once
    proc = subprocess.Popen(
        [str(BAYOU), "fn", "logs", echo, "--follow"], env=cli_env(server), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()
    errors: queue.Queue[str] = queue.Queue()  # drained as it comes, so a full pipe can never block the CLI
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    threading.Thread(target=_reader, args=(proc.stderr, errors), daemon=True).start()
    try:
        assert _next_line(lines, proc, time.monotonic() + 60).startswith("START RequestId:")  # running, caught up
        marker = uuid.uuid4().hex
        ok(bayou(server, "invoke", echo, "--payload", json.dumps({"marker": marker})))
        deadline = time.monotonic() + 30
        while marker not in _next_line(lines, proc, deadline):
            pass
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a quiet exit
        assert proc.wait(timeout=20) == 0
        stderr = "".join(errors.get() for _ in range(errors.qsize()))
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rm(server: BayouServer, tmp_path: Path) -> None:
    name = unique("gone")
    ok(bayou(server, "deploy", name, str(write_package(tmp_path, {"app.py": ECHO})), "--handler", "app.handler"))
    assert f"Deleted function {name}" in ok(bayou(server, "rm", name)).stderr
    assert name not in ok(bayou(server, "ls")).stdout
    for args in (("invoke", name), ("logs", name), ("rm", name)):
        result = bayou(server, *args)
        assert result.returncode == 1, args
        assert result.stderr.strip() == (
            f"error: ResourceNotFoundException: Function not found: {ARN}{name}"
        ), result.stderr


# --- credentials and connection errors --------------------------------------------------------------------


def test_credentials_from_options_and_environment(server: BayouServer, echo: str, tmp_path: Path) -> None:
    stored = json.loads((server.data_dir / "root-credentials.json").read_text())
    assert "--access-key" not in server.command()  # the server generated them
    elsewhere = str(tmp_path)  # a data dir without credentials
    by_env = cli_env(server, BAYOU_DATA_DIR=elsewhere, AWS_ACCESS_KEY_ID=stored["access_key"],
                     AWS_SECRET_ACCESS_KEY=stored["secret_key"])
    assert echo in ok(bayou(server, "ls", env=by_env)).stdout
    by_flag = ["--access-key", stored["access_key"], "--secret-key", stored["secret_key"], "--data-dir", elsewhere]
    assert echo in ok(bayou(server, "ls", *by_flag)).stdout

    wrong = bayou(server, "ls", "--access-key", stored["access_key"], "--secret-key", "not-the-secret")
    assert wrong.returncode == 1 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert wrong.stderr.startswith("error: ") and "Signature" in wrong.stderr

    none = bayou(server, "ls", "--data-dir", elsewhere)
    assert none.returncode == 1 and "no credentials" in none.stderr and len(none.stderr.strip().splitlines()) == 1


def test_unreachable_server_is_one_line(server: BayouServer) -> None:
    result = bayou(server, "ls", "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Could not connect") and len(result.stderr.strip().splitlines()) == 1
