"""`python -m bayou.functions.host --socket PATH --data-dir DIR [--idle-ttl 300] [--account-concurrency 1000]`."""

from __future__ import annotations

import argparse
import logging
import os

from bayou.functions.host.server import HostConfig, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bayou.functions.host")
    parser.add_argument("--socket", required=True, help="unix socket to listen on")
    parser.add_argument(
        "--data-dir", required=True, help="Bayou's data directory (logs go to functions/logs)"
    )
    parser.add_argument(
        "--idle-ttl", type=float, default=300.0, help="seconds before an idle environment stops"
    )
    parser.add_argument("--account-concurrency", type=int, default=1000, help="unreserved concurrency limit")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("BAYOU_FN_HOST_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run(HostConfig(args.socket, args.data_dir, args.idle_ttl, args.account_concurrency))


if __name__ == "__main__":
    main()
