"""Brokers the event-target tests talk to: make sure one is running, or skip saying why.

`ensure("redis")` returns (host, port) once the broker accepts connections on it, starting it with
its start command when nothing listens there (waiting up to ~20 s), and calls pytest.skip with the
command's output only if it truly cannot be started. Add a broker by adding a line to BROKERS.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

HOST = "127.0.0.1"
_PG_VERSION = (sorted(os.listdir("/etc/postgresql")) or ["?"])[-1] if os.path.isdir("/etc/postgresql") else "?"

#: name → (port, shell command that starts it in the background).
BROKERS: dict[str, tuple[int, str]] = {
    "postgresql": (5432, f"pg_ctlcluster --skip-systemctl-redirect {_PG_VERSION} main start"),
    "redis": (6379, "mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes "
                    "--bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no --dir /var/lib/redis "
                    "--logfile /var/log/redis/ci.log"),
    "nats": (4222, "mkdir -p /var/lib/nats-server && start-stop-daemon --start --oknodo --background "
                   "--exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server "
                   "-l /var/log/nats-server.log"),
}
START_TIMEOUT = 20.0


def listening(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure(name: str) -> tuple[str, int]:
    """(host, port) of a running `name` broker; starts it if needed, else skips the test."""
    port, command = BROKERS[name]
    if listening(port):
        return HOST, port
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=START_TIMEOUT)
        output = (done.stdout + done.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = str(exc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if listening(port):
            return HOST, port
        time.sleep(0.2)
    pytest.skip(f"{name} is not running on {HOST}:{port} and could not be started with "
                f"`{command}`: {output or 'no output'}")


def unused_port() -> int:
    """A local TCP port nothing listens on (for 'wrong address' tests)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])



def ensure_started(name: str, port: int, command: str, timeout: float) -> tuple[str, int]:
    """Like ensure(), for a broker not in BROKERS or one slower to boot than START_TIMEOUT."""
    if listening(port):
        return HOST, port
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout)
        output = (done.stdout + done.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = str(exc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return HOST, port
        time.sleep(0.2)
    pytest.skip(f"{name} is not running on {HOST}:{port} and could not be started with "
                f"`{command}` within {timeout:.0f} s: {output or 'no output'}")


def ensure_rabbitmq() -> tuple[str, int]:
    """RabbitMQ (AMQP 0.9.1, guest/guest) on 5672; its boot takes 10-20 s, so it gets a minute."""
    return ensure_started("rabbitmq", 5672, "rabbitmq-server -detached", 60.0)


def ensure_mosquitto() -> tuple[str, int]:
    """Mosquitto (MQTT) on 1883."""
    dirs = "/run/mosquitto /var/log/mosquitto /var/lib/mosquitto"
    return ensure_started("mosquitto", 1883, f"mkdir -p {dirs} && (chown mosquitto: {dirs} || true) && "
                                             "mosquitto -d -c /etc/mosquitto/mosquitto.conf", START_TIMEOUT)


@contextmanager
def silent_port() -> Iterator[int]:
    """A local port that accepts connections and never answers (for 'no hang' tests)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def s3_messages(count: int, bucket: str = "photos", first: int = 1) -> list[dict[str, Any]]:
    """`count` messages as the dispatcher hands them to a target: {"key", "body": {"Records": [...]}}."""
    out = []
    for n in range(first, first + count):
        key = f"img/{n}.jpg"
        record = {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": f"2024-05-01T10:00:{n % 60:02d}.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:bayou"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": f"req{n}", "x-amz-id-2": f"req{n}"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "to-target",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "AWS:bayou"},
                              "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": key, "size": n, "eTag": f"{n:032x}", "sequencer": f"{n:016X}"}},
        }
        out.append({"key": f"{bucket}/{key}", "body": {"Records": [record]}})
    return out


def assert_quick_target_error(make_target: Callable[[int], Any], where: str, match: str) -> None:
    """A target pointed at a port that refuses (`where="refused"`) or accepts and never answers
    (`"silent"`) fails its send with TargetError within seconds, and close() is idempotent."""
    from bayou.services.events.targets import TargetError

    async def go(port: int) -> None:
        target = make_target(port)
        start = time.monotonic()
        with pytest.raises(TargetError, match=match):
            await target.send(s3_messages(1))
        assert time.monotonic() - start < 5
        await target.close()
        await target.close()

    if where == "refused":
        asyncio.run(go(unused_port()))
    else:
        with silent_port() as port:
            asyncio.run(go(port))
