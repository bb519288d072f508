"""What the registry's mixins (aliases, settings) use of `FunctionRegistry`, declared once."""

from __future__ import annotations

from bayou.errors import ResourceNotFoundException
from bayou.meta.store import MetaStore


class RegistryPart:
    # Provided by FunctionRegistry, which each subclass is a part of.
    meta: MetaStore
    account_concurrency: int

    def arn(self, name: str, qualifier: str | None = None) -> str:
        raise NotImplementedError

    def _not_found(self, name: str, qualifier: str | None = None) -> ResourceNotFoundException:
        raise NotImplementedError

    def _unqualified(self, ref: str) -> str:
        raise NotImplementedError
