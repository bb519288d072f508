"""`python -m bayou.serve` is what `bayou server` execs into (bayou/serve.py); on its own it refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bayou.config import Settings
from bayou.serve import SETTINGS_FD_FLAG, _read_settings

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_run_without_bayou_server_it_says_what_to_run_instead() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    for args in ([], ["server"], [SETTINGS_FD_FLAG]):
        done = subprocess.run(
            [sys.executable, "-m", "bayou.serve", *args], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode != 0
        assert "started by `bayou server`" in done.stderr
        assert "Traceback" not in done.stderr


def test_settings_survive_the_pipe(tmp_path: Path) -> None:
    settings = Settings(
        address="127.0.0.1:9123", data_dir=tmp_path / "data", access_key="AK", secret_key="SK" * 10,
        region="eu-west-3", fsync=False, workers=3, domains=("localhost", "example.test"),
        config_file=tmp_path / "bayou.toml",
    )
    read_end, write_end = os.pipe()
    os.write(write_end, settings.to_json().encode())
    os.close(write_end)
    assert _read_settings([SETTINGS_FD_FLAG, str(read_end)]) == settings
