"""Docs that cannot drift (Datasette's test_docs): every error code and server setting is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bayou import errors
from bayou.cli import server

ROOT = Path(__file__).resolve().parents[1]
DOCS = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])

ERROR_CODES = sorted(
    cls.code
    for cls in vars(errors).values()
    if inspect.isclass(cls)
    and issubclass(cls, errors.BayouError)
    and cls not in (errors.BayouError, errors.S3Error, errors.LambdaError)
)


@pytest.mark.parametrize("code", ERROR_CODES)
def test_error_code_documented(code: str) -> None:
    assert re.search(rf"`{code}`", DOCS), f"{code} is missing from docs/"


@pytest.mark.parametrize("name", [n for n in inspect.signature(server).parameters])
def test_server_setting_documented(name: str) -> None:
    flag = "--" + name.replace("_", "-")
    env = "BAYOU_" + name.upper()
    assert flag in DOCS and env in DOCS, f"{flag} / {env} missing from README or docs/"
