"""The function registry's records: what a function, a version and an alias are.

Plain frozen dataclasses, serialised to JSON documents by the registry; the API renders them
in Lambda's shapes and the invoker turns a `FunctionVersion` into an environment spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "000000000000"
LATEST = "$LATEST"


def function_arn(region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True, slots=True)
class CodeRef:
    """A deployment package: the zip in the blob store, unpacked once under functions/code/<sha256_hex>/."""

    blob_id: str
    sha256_hex: str
    size: int

    @property
    def sha256_b64(self) -> str:
        """CodeSha256 as Lambda renders it: base64 of the raw digest."""
        import base64

        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


@dataclass(frozen=True, slots=True)
class FunctionVersion:
    """$LATEST (mutable) or one published, immutable version of a function."""

    name: str
    version: str  # LATEST or "1", "2", ...
    runtime: str  # "python3.11", "provided.al2023", "provided"
    handler: str  # "module.function"; for provided runtimes, passed through as _HANDLER
    code: CodeRef
    role: str = ""
    description: str = ""
    timeout: int = 3  # seconds, 1..900
    memory_size: int = 128  # MB, 128..10240
    environment: dict[str, str] = field(default_factory=dict)
    revision_id: str = ""  # changes on every update of $LATEST; fixed for a version
    last_modified: float = 0.0  # epoch seconds
    ephemeral_storage: int = 512
    extra: dict[str, Any] = field(default_factory=dict)  # accepted, stored and echoed (Layers, TracingConfig, ...)


@dataclass(frozen=True, slots=True)
class Alias:
    function: str
    name: str
    function_version: str
    description: str = ""
    #: {version: weight in [0, 1]}: the share of invocations routed to another version (canary).
    additional_weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """What an Invoke runs: the configuration of the version chosen (after alias routing)."""

    config: FunctionVersion
    executed_version: str  # the version actually run ("$LATEST" or a number)
    invoked_arn: str  # the ARN as the caller addressed it (with its qualifier, if any)
    qualifier: str | None  # the caller's qualifier (alias name, version) or None
