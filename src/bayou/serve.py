"""The process `bayou server` becomes once its command line is checked: the server, without the CLI.

The command line's libraries (typer, rich, and pydantic, which typer loads to parse options) are
~15 MiB of resident memory that the server never uses, and the server's workers are forked from
its first process, so each of them would carry that memory too. `bayou server` therefore parses
and checks its options, prints what it must print (generated credentials, warnings), and replaces
itself with `python -m bayou.serve` (exec: same pid, same stdio, same process group), which reads
the settings from a pipe and runs the server. The settings travel through a pipe rather than the
command line or the environment, where the secret key would be visible to `ps` or inherited by
every child process.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from bayou.config import Settings, root_credentials

SETTINGS_FD_FLAG = "--settings-fd"


def exec_server(settings: Settings) -> NoReturn:
    """Replace this process with the server (the rest of argv is kept for `ps` only)."""
    read_end, write_end = os.pipe()
    os.write(write_end, settings.to_json().encode())  # a few hundred bytes: far below the pipe's buffer
    os.close(write_end)
    os.set_inheritable(read_end, True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "bayou.serve", SETTINGS_FD_FLAG, str(read_end), *sys.argv[1:]])


def _read_settings(argv: list[str]) -> Settings:
    if len(argv) < 2 or argv[0] != SETTINGS_FD_FLAG:
        raise SystemExit("bayou.serve is started by `bayou server`; run that instead")
    with os.fdopen(int(argv[1]), "rb") as pipe:
        return Settings.from_json(pipe.read().decode())


def main(argv: list[str]) -> None:
    settings = _read_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from bayou.server import run

    run(settings, root_credentials(settings))


if __name__ == "__main__":
    main(sys.argv[1:])
