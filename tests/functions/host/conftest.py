"""Fixtures: a real function host process per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .hostkit import Host, start_host, stop_host


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    started = start_host(tmp_path)
    yield started
    stop_host(started)


@pytest.fixture
def host_factory(tmp_path: Path) -> Iterator[Any]:
    hosts: list[Host] = []

    def make(*args: str) -> Host:
        started = start_host(tmp_path, *args)
        hosts.append(started)
        return started

    yield make
    for started in hosts:
        stop_host(started)
