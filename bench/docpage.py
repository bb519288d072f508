"""docs/benchmarks.md is shared by several benchmark scripts: each rewrites only its own `## ` section."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(heading: str, text: str, doc_path: Path = DOC) -> None:
    """Replace the section that starts with the line `heading` (up to the next `## `), or append it."""
    doc = doc_path.read_text() if doc_path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(heading) + r"\n.*?(?=\n## |\Z)", re.S)
    if re.search("^" + re.escape(heading) + "$", doc, re.M):
        doc = pattern.sub(lambda _m: text.rstrip() + "\n", doc)
    else:
        doc = doc.rstrip() + "\n\n" + text
    doc_path.write_text(doc)
