"""The function registry: functions, versions, aliases and per-function settings, stored durably.

Everything lives in the metadata store as JSON documents (one transaction per change) and code
zips live in the blob store; the unpacked tree of a zip is a cache under `<data>/functions/code/`
that can always be rebuilt from the blob. Values are validated here, not in the API, so the CLI
and the API share one set of rules (Lambda's ranges and patterns); violations raise
`InvalidParameterValueException`. Missing things raise `ResourceNotFoundException`, existing ones
`ResourceConflictException`, failed RevisionId/CodeSha256 preconditions `PreconditionFailedException`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bayou.blobs.store import BlobStore
from bayou.clock import Clock
from bayou.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    S3Error,
    ServiceException,
)
from bayou.functions import codezip, validation
from bayou.functions.aliases import AliasOperations
from bayou.functions.documents import (
    ALIAS_KIND,
    FUNCTION_KIND,
    QUALIFIED_SETTINGS,
    SETTING_KINDS,
    VERSION_KIND,
    alias_from_doc,
    new_revision,
    release_blobs,
    same_snapshot,
    setting_kind,
    version_from_doc,
    version_sub,
    version_to_doc,
)
from bayou.functions.models import LATEST, Alias, CodeRef, FunctionVersion, Resolved, function_arn
from bayou.functions.settings import SettingOperations
from bayou.functions.validation import parse_function_ref
from bayou.meta.store import MetaStore, MetaTx
from bayou.storage.service import StorageService

__all__ = ["CodeSource", "FunctionRegistry", "FunctionSpec", "parse_function_ref", "setting_kind", "version_sub"]

T = TypeVar("T")


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


class FunctionRegistry(AliasOperations, SettingOperations):
    """Functions, versions, aliases and settings as documents in the metadata store (see module doc).
    Aliases (`aliases.py`) and settings (`settings.py`) are mixins of it; the document layout is in
    `documents.py`.

    Documents: ("function", name, "") holds $LATEST and the last version number (numbers are never
    reused); ("version", name, <zero-padded n>) a published version; ("alias", name, alias);
    ("setting:<kind>", name, qualifier) a setting. Version and function documents name their code
    blob, which keeps it alive for the orphan scan; the write that drops the last reference queues
    the blob's deletion in the same transaction.
    """

    def __init__(
        self,
        meta: MetaStore,
        blobs: BlobStore,
        storage: StorageService,
        code_root: Path,
        clock: Clock,
        region: str,
        *,
        rng: random.Random | None = None,
        account_concurrency: int = 1000,
        fsync: bool = True,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.storage = storage
        self.code_root = code_root
        self.clock = clock
        self.region = region
        self.account_concurrency = account_concurrency
        self._rng = rng or random.Random()
        self._fsync = fsync

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, name, qualifier)

    def _not_found(self, name: str, qualifier: str | None = None) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {self.arn(name, qualifier)}")

    # --- functions and code ---------------------------------------------------------------------

    async def create_function(self, spec: FunctionSpec, code: CodeSource) -> FunctionVersion:
        """Validate, store the zip (rejecting bombs, `../` and absolute entries), unpack; return $LATEST
        (or the published version 1 when spec.publish)."""
        name, qualifier = validation.parse_function_ref(spec.name)
        if qualifier is not None:
            raise InvalidParameterValueException("Unsupported: CreateFunction with a qualified function name.")
        extra = dict(spec.extra or {})
        latest = FunctionVersion(
            name=name, version=LATEST, runtime=spec.runtime, handler=spec.handler, code=CodeRef("", "", 0),
            role=spec.role, description=spec.description, timeout=spec.timeout, memory_size=spec.memory_size,
            environment=dict(spec.environment or {}), ephemeral_storage=_ephemeral_storage(extra, 512), extra=extra,
        )
        _validate_config(latest)
        tags = dict(spec.tags or {})
        validation.check_tags(tags)
        if await self.meta.get_doc(FUNCTION_KIND, name, "") is not None:
            raise ResourceConflictException(f"Function already exist: {name}")
        ref = await self._store_code(code)
        latest = replace(latest, code=ref, revision_id=new_revision(), last_modified=self.clock.now())

        def create(tx: MetaTx) -> FunctionVersion:
            if tx.get_doc(FUNCTION_KIND, name, "") is not None:
                raise ResourceConflictException(f"Function already exist: {name}")
            doc = {"v": 1, "latest": version_to_doc(latest), "last_version": 0}
            tx.put_doc(FUNCTION_KIND, name, "", doc, blob_id=ref.blob_id)
            if tags:
                tx.put_doc(setting_kind("tags"), name, "", tags)
            return self._publish_in(tx, name, "") if spec.publish else latest

        return await self._commit_code(create, ref)

    async def _commit_code(self, fn: Callable[[MetaTx], T], ref: CodeRef) -> T:
        """Commit a change that references a freshly stored blob; the blob goes if the commit fails."""
        try:
            return await self.meta.write(fn)
        except BaseException:
            await asyncio.to_thread(self.blobs.delete, ref.blob_id)
            raise

    async def get_function(self, name: str, qualifier: str | None = None) -> FunctionVersion:
        """$LATEST, a version, or the version an alias points at (primary, not weighted)."""
        fn, q = validation.merge_qualifier(name, qualifier)
        config, _ = await self._lookup(fn, q, weighted=False)
        return config

    async def list_functions(self, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        """$LATEST of each function in name order, and the next marker (the last name returned)."""
        rows = await self.meta.list_docs(FUNCTION_KIND, None, "", limit + 1, after_name=marker or "")
        found = [version_from_doc(doc["latest"]) for _, _, doc in rows[:limit]]
        return found, (found[-1].name if len(rows) > limit and found else None)

    async def any_function(self) -> bool:
        return bool(await self.meta.list_docs(FUNCTION_KIND, None, "", 1))

    async def update_code(
        self, name: str, code: CodeSource, *, publish: bool = False, revision_id: str | None = None
    ) -> FunctionVersion:
        fn = self._unqualified(name)
        if await self.meta.get_doc(FUNCTION_KIND, fn, "") is None:
            raise self._not_found(fn)
        ref = await self._store_code(code)
        now = self.clock.now()

        def update(tx: MetaTx) -> FunctionVersion:
            doc, latest = self._latest_in(tx, fn, revision_id)
            latest = replace(latest, code=ref, revision_id=new_revision(), last_modified=now)
            doc["latest"] = version_to_doc(latest)
            release_blobs(tx, tx.put_doc(FUNCTION_KIND, fn, "", doc, blob_id=ref.blob_id))
            return self._publish_in(tx, fn, "") if publish else latest

        return await self._commit_code(update, ref)

    async def update_configuration(
        self, name: str, changes: dict[str, Any], *, revision_id: str | None = None
    ) -> FunctionVersion:
        """changes keys: runtime, handler, role, description, timeout, memory_size, environment, extra."""
        fn = self._unqualified(name)
        unknown = set(changes) - {"runtime", "handler", "role", "description", "timeout", "memory_size", "environment", "extra"}
        if unknown:
            raise InvalidParameterValueException(f"Unsupported configuration change: {', '.join(sorted(unknown))}")
        now = self.clock.now()

        def update(tx: MetaTx) -> FunctionVersion:
            doc, latest = self._latest_in(tx, fn, revision_id)
            values = dict(changes)
            if "environment" in values:
                values["environment"] = dict(values["environment"] or {})
            if "extra" in values:
                values["extra"] = {**latest.extra, **(values["extra"] or {})}
                values["ephemeral_storage"] = _ephemeral_storage(values["extra"], latest.ephemeral_storage)
            latest = replace(latest, **values, revision_id=new_revision(), last_modified=now)
            _validate_config(latest)
            doc["latest"] = version_to_doc(latest)
            tx.put_doc(FUNCTION_KIND, fn, "", doc, blob_id=latest.code.blob_id)
            return latest

        return await self.meta.write(update)

    def _latest_in(self, tx: MetaTx, name: str, revision_id: str | None) -> tuple[dict[str, Any], FunctionVersion]:
        doc = tx.get_doc(FUNCTION_KIND, name, "")
        if doc is None:
            raise self._not_found(name)
        latest = version_from_doc(doc["latest"])
        if revision_id and revision_id != latest.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        return doc, latest

    def _unqualified(self, ref: str) -> str:
        name, qualifier = validation.parse_function_ref(ref)
        if qualifier is not None:
            raise InvalidParameterValueException("Current operation does not support versions other than $LATEST. "
                                                 "Please set the version to $LATEST or do not set a version in your request.")
        return name

    async def delete_function(self, name: str, qualifier: str | None = None) -> None:
        """Without qualifier: the function and everything of it; with one: that version only
        (not $LATEST; a version an alias points at → ResourceConflictException)."""
        fn, q = validation.merge_qualifier(name, qualifier)
        if q == LATEST:
            raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
        if q is not None and not validation.is_version_number(q):
            raise InvalidParameterValueException("Deletion of aliases is not currently supported.")

        def delete(tx: MetaTx) -> None:
            if tx.get_doc(FUNCTION_KIND, fn, "") is None:
                raise self._not_found(fn, q)
            if q is None:
                for kind in (FUNCTION_KIND, VERSION_KIND, ALIAS_KIND, *map(setting_kind, SETTING_KINDS)):
                    release_blobs(tx, tx.delete_docs(kind, fn))
                return
            self._delete_version_in(tx, fn, q)

        await self.meta.write(delete)

    def _delete_version_in(self, tx: MetaTx, fn: str, version: str) -> None:
        if tx.get_doc(VERSION_KIND, fn, version_sub(version)) is None:
            raise self._not_found(fn, version)
        users = [a.name for a in self._aliases_in(tx, fn) if version in (a.function_version, *a.additional_weights)]
        if users:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
            )
        release_blobs(tx, tx.delete_doc(VERSION_KIND, fn, version_sub(version)))
        for kind in QUALIFIED_SETTINGS:
            tx.delete_doc(setting_kind(kind), fn, version)

    async def publish_version(
        self, name: str, *, code_sha256: str | None = None, revision_id: str | None = None, description: str = ""
    ) -> FunctionVersion:
        """Snapshot $LATEST; if $LATEST is unchanged since the last version, return that version."""
        fn = self._unqualified(name)
        validation.check_description(description)

        def publish(tx: MetaTx) -> FunctionVersion:
            _, latest = self._latest_in(tx, fn, revision_id)
            if code_sha256 and code_sha256 not in (latest.code.sha256_b64, latest.code.sha256_hex):
                raise PreconditionFailedException(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code.sha256_b64}). Please try again with the current CodeSHA256."
                )
            return self._publish_in(tx, fn, description)

        return await self.meta.write(publish)

    def _publish_in(self, tx: MetaTx, name: str, description: str) -> FunctionVersion:
        doc = tx.get_doc(FUNCTION_KIND, name, "")
        assert doc is not None
        latest = version_from_doc(doc["latest"])
        last = int(doc.get("last_version", 0))
        previous = tx.get_doc(VERSION_KIND, name, version_sub(last)) if last else None
        if previous is not None and same_snapshot(latest, version_from_doc(previous)):
            return version_from_doc(previous)
        number = last + 1
        version = replace(
            latest, version=str(number), description=description or latest.description,
            revision_id=new_revision(), last_modified=self.clock.now(),
        )
        tx.put_doc(VERSION_KIND, name, version_sub(number), version_to_doc(version), blob_id=version.code.blob_id)
        doc["last_version"] = number
        tx.put_doc(FUNCTION_KIND, name, "", doc, blob_id=latest.code.blob_id)
        return version

    async def list_versions(self, name: str, marker: str | None, limit: int) -> tuple[list[FunctionVersion], str | None]:
        """$LATEST then versions in ascending order; the marker is the last version returned."""
        fn = self._unqualified(name)
        doc = await self.meta.get_doc(FUNCTION_KIND, fn, "")
        if doc is None:
            raise self._not_found(fn)
        found: list[FunctionVersion] = []
        if not marker:
            found.append(version_from_doc(doc["latest"]))
        after = "" if not marker or marker == LATEST else version_sub(marker) if marker.isdigit() else "~"
        rows = await self.meta.list_docs(VERSION_KIND, fn, after, limit + 1)
        found += [version_from_doc(d) for _, _, d in rows]
        page = found[:limit]
        return page, (page[-1].version if len(found) > limit and page else None)

    def code_dir(self, version: FunctionVersion) -> Path:
        """The unpacked code of that version (re-unpacked from the blob if the cache is gone). Blocking."""
        target = self.code_root / version.code.sha256_hex
        if target.is_dir():
            return target
        try:
            reader = self.blobs.open(version.code.blob_id)
        except FileNotFoundError as exc:
            raise ServiceException(f"The code of {version.name}:{version.version} is missing.") from exc
        try:
            return codezip.unpack(io.BufferedReader(codezip.BlobFile(reader), 1 << 20), target, fsync=self._fsync)
        finally:
            reader.close()

    async def code_zip(self, version: FunctionVersion) -> bytes:
        """The deployment package (for GetFunction's Code.Location)."""

        def read() -> bytes:
            reader = self.blobs.open(version.code.blob_id)
            try:
                return reader.read_at(0, reader.size)
            finally:
                reader.close()

        try:
            return await asyncio.to_thread(read)
        except FileNotFoundError as exc:
            raise ServiceException(f"The code of {version.name}:{version.version} is missing.") from exc

    async def _store_code(self, code: CodeSource) -> CodeRef:
        """Write the zip to a new blob, validate and unpack it; the blob is not referenced yet."""
        if code.zip_bytes is not None:
            codezip.check_zipped_size(len(code.zip_bytes))
            ref = await asyncio.to_thread(self._write_blob, [code.zip_bytes])
        elif code.s3_bucket and code.s3_key:
            ref = await self._blob_from_s3(code.s3_bucket, code.s3_key, code.s3_version)
        else:
            raise InvalidParameterValueException("Please provide a source for function code.")
        try:
            await asyncio.to_thread(self.code_dir, FunctionVersion("", "", "", "", ref))
        except BaseException:
            await asyncio.to_thread(self.blobs.delete, ref.blob_id)
            raise
        return ref

    def _write_blob(self, chunks: Iterable[bytes]) -> CodeRef:
        writer = self.blobs.writer()
        digest = hashlib.sha256()
        try:
            for chunk in chunks:
                digest.update(chunk)
                writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return CodeRef(writer.blob_id, digest.hexdigest(), writer.size)

    async def _blob_from_s3(self, bucket: str, key: str, version_id: str | None) -> CodeRef:
        try:
            content = await self.storage.open_object(bucket, key, version_id=version_id, byte_range=None)
        except S3Error as exc:
            raise InvalidParameterValueException(
                f"Error occurred while GetObject. S3 Error Code: {exc.code}. S3 Error Message: {exc.message}"
            ) from exc
        if content.length > codezip.MAX_UNZIPPED:
            content.close()
            raise InvalidParameterValueException(codezip.TOO_BIG_UNZIPPED)
        writer = self.blobs.writer()
        digest = hashlib.sha256()
        try:
            async for chunk in content.chunks():
                digest.update(chunk)
                writer.write(chunk)
            await asyncio.to_thread(writer.commit)
        except BaseException:
            writer.abort()
            raise
        finally:
            content.close()
        return CodeRef(writer.blob_id, digest.hexdigest(), writer.size)

    # --- invocation ----------------------------------------------------------------------------

    async def resolve(self, ref: str, qualifier: str | None) -> Resolved:
        """What an Invoke of `ref` (name, full or partial ARN, optionally with `:qualifier`) runs.

        An alias with AdditionalVersionWeights picks a version at random by those weights.
        Unknown function, version or alias → ResourceNotFoundException.
        """
        fn, q = validation.merge_qualifier(ref, qualifier)
        config, executed = await self._lookup(fn, q, weighted=True)
        return Resolved(config=config, executed_version=executed, invoked_arn=self.arn(fn, q), qualifier=q)

    async def _lookup(self, fn: str, qualifier: str | None, *, weighted: bool) -> tuple[FunctionVersion, str]:
        doc = await self.meta.get_doc(FUNCTION_KIND, fn, "")
        if doc is None:
            raise self._not_found(fn, qualifier)
        version = qualifier or LATEST
        if not validation.is_version_number(version) and version != LATEST:
            alias_doc = await self.meta.get_doc(ALIAS_KIND, fn, version)
            if alias_doc is None:
                raise self._not_found(fn, qualifier)
            alias = alias_from_doc(alias_doc)
            version = self._route(alias) if weighted else alias.function_version
        if version == LATEST:
            return version_from_doc(doc["latest"]), LATEST
        version_doc = await self.meta.get_doc(VERSION_KIND, fn, version_sub(version))
        if version_doc is None:
            raise self._not_found(fn, qualifier)
        return version_from_doc(version_doc), version

    def _route(self, alias: Alias) -> str:
        draw = self._rng.random()
        for version, weight in alias.additional_weights.items():
            if draw < weight:
                return version
            draw -= weight
        return alias.function_version


def _ephemeral_storage(extra: dict[str, Any], default: int) -> int:
    config = extra.get("EphemeralStorage")
    if not config:
        return default
    size = config.get("Size") if isinstance(config, dict) else None
    return validation.check_int_range("ephemeralStorage.size", size, 512, 10240)


def _validate_config(config: FunctionVersion) -> None:
    validation.check_function_name(config.name)
    validation.check_runtime(config.runtime)
    validation.check_handler(config.runtime, config.handler)
    validation.check_description(config.description)
    validation.check_int_range("timeout", config.timeout, 1, 900)
    validation.check_int_range("memorySize", config.memory_size, 128, 10240)
    validation.check_environment(config.environment)
