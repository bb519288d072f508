"""Per-function settings (concurrency, provisioned concurrency, event-invoke config, policy, URL, tags),
stored as documents in the shapes Lambda's API uses.

Part of `FunctionRegistry` (a mixin over its metadata store and naming helpers).
"""

from __future__ import annotations

from typing import Any

from bayou.errors import (
    InvalidParameterValueException,
)
from bayou.functions import validation
from bayou.functions.documents import (
    ALIAS_KIND,
    FUNCTION_KIND,
    PAGE,
    SETTING_KINDS,
    VERSION_KIND,
    setting_kind,
    version_sub,
)
from bayou.functions.models import LATEST
from bayou.functions.registry_part import RegistryPart
from bayou.meta.store import MetaTx


class SettingOperations(RegistryPart):
    # --- per-function settings (JSON documents as Lambda's API shapes them) -------------------------

    def _setting_target(self, function: str, kind: str, qualifier: str) -> tuple[str, str]:
        if kind not in SETTING_KINDS:
            raise InvalidParameterValueException(f"Unknown setting kind: {kind}")
        fn, q = validation.merge_qualifier(function, qualifier or None)
        return fn, q or ""

    async def get_setting(self, function: str, kind: str, qualifier: str = "") -> dict[str, Any] | None:
        """kind: "concurrency" ({"ReservedConcurrentExecutions": n}), "provisioned" (per qualifier),
        "event-invoke" (per qualifier, "" = unqualified), "policy" ({"Statement": [...]}),
        "url" (per qualifier), "tags" ({"k": "v"}). The function must exist; None if the setting does not."""
        fn, q = self._setting_target(function, kind, qualifier)
        if await self.meta.get_doc(FUNCTION_KIND, fn, "") is None:
            raise self._not_found(fn)
        return await self.meta.get_doc(setting_kind(kind), fn, q)

    async def put_setting(self, function: str, kind: str, value: dict[str, Any], qualifier: str = "") -> None:
        fn, q = self._setting_target(function, kind, qualifier)
        validation.check_setting(kind, value, q, self.account_concurrency)

        def put(tx: MetaTx) -> None:
            if tx.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn)
            if q and q != LATEST and tx.get_doc(*self._qualifier_doc(fn, q)) is None:
                raise self._not_found(fn, q)
            tx.put_doc(setting_kind(kind), fn, q, dict(value))

        await self.meta.write(put)

    def _qualifier_doc(self, fn: str, qualifier: str) -> tuple[str, str, str]:
        if validation.is_version_number(qualifier):
            return VERSION_KIND, fn, version_sub(qualifier)
        return ALIAS_KIND, fn, qualifier

    async def delete_setting(self, function: str, kind: str, qualifier: str = "") -> None:
        """Idempotent for a missing setting; the function must exist."""
        fn, q = self._setting_target(function, kind, qualifier)

        def delete(tx: MetaTx) -> None:
            if tx.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn)
            tx.delete_doc(setting_kind(kind), fn, q)

        await self.meta.write(delete)

    async def list_settings(self, kind: str, function: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(function, qualifier, value) of every setting of that kind (e.g. all provisioned configs)."""
        if kind not in SETTING_KINDS:
            raise InvalidParameterValueException(f"Unknown setting kind: {kind}")
        fn = None if function is None else self._unqualified(function)
        found: list[tuple[str, str, dict[str, Any]]] = []
        if fn is not None:  # a name's listing starts after a sub, and "" is the unqualified setting
            unqualified = await self.meta.get_doc(setting_kind(kind), fn, "")
            found += [(fn, "", unqualified)] if unqualified is not None else []
        cursor = ("", "")
        while rows := await self.meta.list_docs(setting_kind(kind), fn, cursor[1], PAGE, after_name=cursor[0]):
            found += rows
            cursor = (rows[-1][0], rows[-1][1])
        return found
