"""The function registry: functions, versions, aliases and per-function settings, stored durably.

Everything lives in the metadata store as JSON documents (one transaction per change) and code
zips live in the blob store; the unpacked tree of a zip is a cache under `<data>/functions/code/`
that can always be rebuilt from the blob. Values are validated here, not in the API, so the CLI
and the API share one set of rules (Lambda's ranges and patterns); violations raise
`InvalidParameterValueException`. Missing things raise `ResourceNotFoundException`, existing ones
`ResourceConflictException`, failed RevisionId/CodeSha256 preconditions `PreconditionFailedException`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayou.functions.models import Alias, FunctionVersion, Resolved


@dataclass(frozen=True, slots=True)
class CodeSource:
    """Where new code comes from: a zip in the request, or an object in one of Bayou's buckets."""

    zip_bytes: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_version: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """CreateFunction's parameters, already parsed from JSON (not yet validated)."""

    name: str
    runtime: str
    handler: str
    role: str = ""
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    publish: bool = False
    extra: dict[str, Any] | None = None


class FunctionRegistry:
    """Interface (implemented by the control-plane work): every method is async and durable."""

    # --- functions and code ---------------------------------------------------------------------
    async def create_function(self, spec: FunctionSpec, code: CodeSource) -> FunctionVersion:
        """Validate, store the zip (rejecting bombs, `../` and absolute entries), unpack; return $LATEST
        (or the published version 1 when spec.publish)."""
        raise NotImplementedError

    async def get_function(self, name: str, qualifier: str | None = None) -> FunctionVersion:
        """$LATEST, a version, or the version an alias points at (primary, not weighted)."""
        raise NotImplementedError

    async def list_functions(self, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        """$LATEST of each function in name order, and the next marker."""
        raise NotImplementedError

    async def update_code(
        self, name: str, code: CodeSource, *, publish: bool = False, revision_id: str | None = None
    ) -> FunctionVersion: ...

    async def update_configuration(
        self, name: str, changes: dict[str, Any], *, revision_id: str | None = None
    ) -> FunctionVersion:
        """changes keys: runtime, handler, role, description, timeout, memory_size, environment, extra."""
        raise NotImplementedError

    async def delete_function(self, name: str, qualifier: str | None = None) -> None:
        """Without qualifier: the function and everything of it; with one: that version only
        (not $LATEST; a version an alias points at → ResourceConflictException)."""
        raise NotImplementedError

    async def publish_version(
        self, name: str, *, code_sha256: str | None = None, revision_id: str | None = None, description: str = ""
    ) -> FunctionVersion:
        """Snapshot $LATEST; if $LATEST is unchanged since the last version, return that version."""
        raise NotImplementedError

    async def list_versions(self, name: str, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        """$LATEST then versions in ascending order."""
        raise NotImplementedError

    def code_dir(self, version: FunctionVersion) -> Path:
        """The unpacked code of that version (re-unpacked from the blob if the cache is gone). Blocking."""
        raise NotImplementedError

    async def code_zip(self, version: FunctionVersion) -> bytes:
        """The deployment package (for GetFunction's Code.Location)."""
        raise NotImplementedError

    # --- aliases --------------------------------------------------------------------------------
    async def create_alias(self, alias: Alias) -> Alias: ...
    async def get_alias(self, function: str, name: str) -> Alias: ...
    async def update_alias(self, function: str, name: str, changes: dict[str, Any], *, revision_id: str | None = None) -> Alias: ...
    async def delete_alias(self, function: str, name: str) -> None: ...
    async def list_aliases(self, function: str, version: str | None, marker: str | None, limit: int) -> tuple[list[Alias], str | None]: ...

    # --- invocation ----------------------------------------------------------------------------
    async def resolve(self, ref: str, qualifier: str | None) -> Resolved:
        """What an Invoke of `ref` (name, full or partial ARN, optionally with `:qualifier`) runs.

        An alias with AdditionalVersionWeights picks a version at random by those weights.
        Unknown function, version or alias → ResourceNotFoundException.
        """
        raise NotImplementedError

    # --- per-function settings (JSON documents as Lambda's API shapes them) -------------------------
    async def get_setting(self, function: str, kind: str, qualifier: str = "") -> dict[str, Any] | None:
        """kind: "concurrency" ({"ReservedConcurrentExecutions": n}), "provisioned" (per qualifier),
        "event-invoke" (per qualifier, "" = unqualified), "policy" ({"Statement": [...]}),
        "url" (per qualifier), "tags" ({"k": "v"})."""
        raise NotImplementedError

    async def put_setting(self, function: str, kind: str, value: dict[str, Any], qualifier: str = "") -> None: ...
    async def delete_setting(self, function: str, kind: str, qualifier: str = "") -> None: ...
    async def list_settings(self, kind: str, function: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(function, qualifier, value) of every setting of that kind (e.g. all provisioned configs)."""
        raise NotImplementedError
