"""Per-invocation log lines and bounded output."""

from __future__ import annotations

import re
from typing import Any

from .hostkit import Client, Host, rss_kb

REPORT = re.compile(
    r"REPORT RequestId: (\S+)\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?$"
)


def test_start_end_report_with_init_duration_only_when_cold(host: Host) -> None:
    code = host.code(
        """
        import logging
        print("at import")

        def handler(event, context):
            print("in handler")
            logging.getLogger().warning("careful")
            return 1
        """
    )
    spec = host.spec(code)

    async def scenario(client: Client) -> Any:
        return [await client.invoke(spec, {}, request_id=f"req-{i}") for i in range(2)]

    first, second = host.run(scenario)
    lines = host.log_text().splitlines()
    assert lines[0] == "START RequestId: req-0 Version: 1"
    assert "in handler" in lines
    assert any(re.match(r"\[WARNING\]\t\S+Z\treq-0\tcareful$", line) for line in lines)
    reports = [REPORT.match(line) for line in lines if line.startswith("REPORT")]
    assert [m and m.group(1) for m in reports] == ["req-0", "req-1"]
    assert reports[0] and reports[0].group(2) and reports[1] and not reports[1].group(2)
    assert "END RequestId: req-1" in lines
    assert first.log_tail.startswith("START RequestId: req-0") and "Init Duration" in first.log_tail
    assert second.log_tail.startswith("START RequestId: req-1") and "Init Duration" not in second.log_tail
    assert second.log_tail.rstrip("\n\t").endswith("MB")


def test_huge_output_is_bounded(host: Host) -> None:
    code = host.code(
        """
        import sys

        def handler(event, context):
            line = "x" * 1023 + "\\n"
            for _ in range(20 * 1024):
                sys.stdout.write(line)
            return "done"
        """
    )
    spec = host.spec(code)
    before = rss_kb(host.process.pid)

    async def scenario(client: Client) -> Any:
        return [await client.invoke(spec, {}) for _ in range(2)]

    replies = host.run(scenario)
    assert [r.status for r in replies] == ["ok", "ok"]
    grown = rss_kb(host.process.pid) - before
    assert grown < 8 * 1024, f"the host grew by {grown} KiB"
    logs = host.data_dir / "functions" / "logs"
    sizes = [p.stat().st_size for p in logs.iterdir()]
    assert max(sizes) <= 1.1 * (1 << 20) and sum(sizes) <= 2.2 * (1 << 20)
    text = (logs / "f.log").read_text()
    assert f"... {20 * (1 << 20) - 256 * 1024} bytes elided" in text
    assert len(replies[1].log_tail.encode()) <= 4096
    assert replies[1].log_tail.splitlines()[-2].startswith("END RequestId")


def test_log_rotates_keeping_one_generation(host: Host) -> None:
    code = host.code(
        """
        def handler(event, context):
            print("y" * 200 * 1024)
            return 0
        """
    )
    spec = host.spec(code)

    async def scenario(client: Client) -> Any:
        return [await client.invoke(spec, {}) for _ in range(12)]

    host.run(scenario)
    logs = host.data_dir / "functions" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["f.log", "f.log.1"]
    assert (logs / "f.log").stat().st_size <= 1 << 20
    assert (logs / "f.log.1").stat().st_size <= 1 << 20
