"""One typed settings object; the CLI fills it from flags or BAYOU_* environment variables."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

from bayou.meta.records import DEFAULT_INLINE_LIMIT

CREDENTIALS_FILE = "root-credentials.json"


@dataclass(frozen=True, slots=True)
class Settings:
    address: str = "127.0.0.1:9000"
    data_dir: Path = Path("data")
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    fsync: bool = True
    workers: int = 1
    #: Host suffixes for virtual-host-style addressing (`bucket.localhost:9000`).
    domains: tuple[str, ...] = field(default=("localhost",))
    inline_limit: int = DEFAULT_INLINE_LIMIT
    #: Seconds an idle execution environment is kept warm before it is reaped.
    fn_idle_ttl: float = 300.0
    #: Concurrent executions across all functions (Lambda's account limit).
    fn_account_concurrency: int = 1000
    #: Delay before the first retry of a failed asynchronous invocation (doubles per retry).
    fn_retry_delay: float = 1.0
    #: A TOML file whose `[[targets]]` are saved into the target registry at start-up.
    config_file: Path | None = None

    def to_json(self) -> str:
        """For `bayou.serve`, which runs the server in a fresh process image (see there)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields["data_dir"] = str(self.data_dir)
        fields["config_file"] = None if self.config_file is None else str(self.config_file)
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        fields = json.loads(text)
        fields["data_dir"] = Path(fields["data_dir"])
        fields["config_file"] = None if fields["config_file"] is None else Path(fields["config_file"])
        fields["domains"] = tuple(fields["domains"])
        return cls(**fields)

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1]) if ":" in self.address else 9000

    @property
    def public_url(self) -> str:
        return f"http://{self.address}"


@dataclass(frozen=True, slots=True)
class RootCredentials:
    access_key: str
    secret_key: str
    generated: bool  # True only on the start that created them: print them once


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def root_credentials(settings: Settings) -> RootCredentials:
    """The configured root credentials, or ones generated on first start and kept in the data dir.

    There is no well-known default: a server started without credentials invents a random
    secret once, stores it (mode 0600) and reuses it on later starts.
    """
    if settings.access_key and settings.secret_key:
        return RootCredentials(settings.access_key, settings.secret_key, False)
    if settings.access_key or settings.secret_key:
        raise ValueError("set both --access-key and --secret-key, or neither")
    path = settings.data_dir / CREDENTIALS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        return RootCredentials(stored["access_key"], stored["secret_key"], False)
    access = "BAYOU" + _random(string.ascii_uppercase + string.digits, 15)
    secret = _random(string.ascii_letters + string.digits + "+/", 40)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"access_key": access, "secret_key": secret}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return RootCredentials(access, secret, True)
