"""Aliases of a function: named pointers to a version, with an optional weighted canary version.

Part of `FunctionRegistry` (a mixin over its metadata store and naming helpers).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bayou.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from bayou.functions import validation
from bayou.functions.documents import (
    ALIAS_KIND,
    FUNCTION_KIND,
    PAGE,
    QUALIFIED_SETTINGS,
    VERSION_KIND,
    alias_from_doc,
    alias_to_doc,
    new_revision,
    setting_kind,
    version_sub,
)
from bayou.functions.models import LATEST, Alias
from bayou.functions.registry_part import RegistryPart
from bayou.meta.store import MetaTx


class AliasOperations(RegistryPart):
    # --- aliases --------------------------------------------------------------------------------

    def _alias_not_found(self, fn: str, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Alias not found: {self.arn(fn, name)}")

    def _check_alias_targets(self, tx: MetaTx, fn: str, alias: Alias) -> None:
        validation.check_description(alias.description)
        validation.check_routing(alias.function_version, alias.additional_weights)
        for version in (alias.function_version, *alias.additional_weights):
            if version == LATEST:
                continue
            if not validation.is_version_number(version) or tx.get_doc(VERSION_KIND, fn, version_sub(version)) is None:
                raise self._not_found(fn, version)

    async def create_alias(self, alias: Alias) -> Alias:
        fn = self._unqualified(alias.function)
        validation.check_alias_name(alias.name)
        created = replace(
            alias, function=fn, additional_weights=dict(alias.additional_weights), revision_id=new_revision()
        )

        def create(tx: MetaTx) -> Alias:
            if tx.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn)
            if tx.get_doc(ALIAS_KIND, fn, alias.name) is not None:
                raise ResourceConflictException(f"Alias already exists: {self.arn(fn, alias.name)}")
            self._check_alias_targets(tx, fn, created)
            tx.put_doc(ALIAS_KIND, fn, alias.name, alias_to_doc(created))
            return created

        return await self.meta.write(create)

    async def get_alias(self, function: str, name: str) -> Alias:
        fn = self._unqualified(function)
        doc = await self.meta.get_doc(ALIAS_KIND, fn, name)
        if doc is None:
            if await self.meta.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn)
            raise self._alias_not_found(fn, name)
        return alias_from_doc(doc)

    async def update_alias(
        self, function: str, name: str, changes: dict[str, Any], *, revision_id: str | None = None
    ) -> Alias:
        """changes keys: function_version, description, additional_weights (None or {} clears them)."""
        fn = self._unqualified(function)
        unknown = set(changes) - {"function_version", "description", "additional_weights"}
        if unknown:
            raise InvalidParameterValueException(f"Unsupported alias change: {', '.join(sorted(unknown))}")

        def update(tx: MetaTx) -> Alias:
            doc = tx.get_doc(ALIAS_KIND, fn, name)
            if doc is None:
                raise self._alias_not_found(fn, name) if tx.get_doc(FUNCTION_KIND, fn, "") else self._not_found(fn)
            current = alias_from_doc(doc)
            if revision_id and revision_id != current.revision_id:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            values = dict(changes)
            if "additional_weights" in values:
                values["additional_weights"] = dict(values["additional_weights"] or {})
            updated = replace(current, **values, revision_id=new_revision())
            self._check_alias_targets(tx, fn, updated)
            tx.put_doc(ALIAS_KIND, fn, name, alias_to_doc(updated))
            return updated

        return await self.meta.write(update)

    async def delete_alias(self, function: str, name: str) -> None:
        """Idempotent for a missing alias (as Lambda); the alias's own settings go with it."""
        fn = self._unqualified(function)

        def delete(tx: MetaTx) -> None:
            if tx.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn)
            tx.delete_doc(ALIAS_KIND, fn, name)
            for kind in QUALIFIED_SETTINGS:
                tx.delete_doc(setting_kind(kind), fn, name)

        await self.meta.write(delete)

    def _aliases_in(self, tx: MetaTx, fn: str) -> list[Alias]:
        found: list[Alias] = []
        after = ""
        while page := tx.list_docs(ALIAS_KIND, fn, after, PAGE):
            found += [alias_from_doc(doc) for _, doc in page]
            after = page[-1][0]
        return found

    async def list_aliases(
        self, function: str, version: str | None, marker: str | None, limit: int
    ) -> tuple[list[Alias], str | None]:
        """Aliases in name order (only those routing to `version` when given); marker: the last name."""
        fn = self._unqualified(function)
        if await self.meta.get_doc(FUNCTION_KIND, fn, "") is None:
            raise self._not_found(fn)
        found: list[Alias] = []
        after = marker or ""
        while len(found) <= limit:
            rows = await self.meta.list_docs(ALIAS_KIND, fn, after, PAGE)
            if not rows:
                break
            aliases = [alias_from_doc(doc) for _, _, doc in rows]
            found += [a for a in aliases if version is None or version in (a.function_version, *a.additional_weights)]
            after = rows[-1][1]
        page = found[:limit]
        return page, (page[-1].name if len(found) > limit and page else None)
