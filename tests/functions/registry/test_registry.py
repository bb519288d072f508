"""functions/registry.py over a real SqliteMetaStore, LocalBlobStore and StorageService."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections import Counter

import pytest

from bayou.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    RequestTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from bayou.functions.models import LATEST, Alias
from bayou.functions.registry import CodeSource, FunctionSpec, parse_function_ref
from bayou.meta.records import QueuedInvocation
from bayou.services.gc import BlobCollector, remove_orphans
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest

from .conftest import HANDLER_ZIP, T0, Env, make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
OTHER_ZIP = make_zip({"app.py": "def handler(event, context):\n    return 2\n"})


# --- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("f", ("f", None)),
        ("my-Func_1", ("my-Func_1", None)),
        ("f:live", ("f", "live")),
        ("f:$LATEST", ("f", "$LATEST")),
        ("f:12", ("f", "12")),
        (f"{ARN}:f", ("f", None)),
        (f"{ARN}:f:3", ("f", "3")),
        ("arn:aws:lambda:eu-west-1:123456789012:function:f:live", ("f", "live")),
        ("123456789012:function:f", ("f", None)),
        ("123456789012:function:f:v1", ("f", "v1")),
        ("x" * 64, ("x" * 64, None)),
    ],
)
def test_parse_function_ref(ref: str, expected: tuple[str, str | None]) -> None:
    assert parse_function_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "x" * 65, "f g", "f:", "f:a:b", "arn:aws:s3:::bucket", "f/..", "fé"])
def test_parse_function_ref_rejects(ref: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        parse_function_ref(ref)


# --- create / get ---------------------------------------------------------------------------------


def test_create_and_get(env: Env) -> None:
    created = env.create(environment={"AA": "1"}, description="d", timeout=30, memory_size=256, tags={"team": "ml"})
    assert (created.name, created.version, created.runtime, created.handler) == ("f", LATEST, "python3.11", "app.handler")
    assert (created.timeout, created.memory_size, created.environment, created.description) == (30, 256, {"AA": "1"}, "d")
    assert created.code.sha256_hex == hashlib.sha256(HANDLER_ZIP).hexdigest()
    assert created.code.sha256_b64 == base64.b64encode(hashlib.sha256(HANDLER_ZIP).digest()).decode()
    assert created.code.size == len(HANDLER_ZIP) and created.revision_id and created.last_modified == T0
    for ref in ("f", f"{ARN}:f", "000000000000:function:f"):
        assert env.run(env.registry.get_function(ref)) == created
    assert env.run(env.registry.get_function("f", LATEST)) == created
    assert env.run(env.registry.get_function("f:$LATEST")) == created
    code_dir = env.registry.code_dir(created)
    assert (code_dir / "app.py").read_text().startswith("def handler")
    assert env.run(env.registry.code_zip(created)) == HANDLER_ZIP
    assert env.run(env.registry.get_setting("f", "tags")) == {"team": "ml"}


def test_create_publish_returns_version_1(env: Env) -> None:
    version = env.create(publish=True)
    assert version.version == "1"
    assert env.run(env.registry.get_function("f", "1")) == version
    assert env.run(env.registry.get_function("f")).version == LATEST


def test_create_twice_conflicts_and_keeps_no_blob(env: Env) -> None:
    env.create()
    blobs = set(env.blobs.blob_ids())
    with pytest.raises(ResourceConflictException, match="Function already exist: f"):
        env.create()
    assert set(env.blobs.blob_ids()) == blobs


def test_unknown_function_and_qualifiers(env: Env) -> None:
    with pytest.raises(ResourceNotFoundException, match=f"Function not found: {ARN}:nope"):
        env.run(env.registry.get_function("nope"))
    env.create()
    for qualifier in ("1", "live"):
        with pytest.raises(ResourceNotFoundException, match=f"{ARN}:f:{qualifier}"):
            env.run(env.registry.get_function("f", qualifier))
    with pytest.raises(InvalidParameterValueException, match="derived qualifier"):
        env.run(env.registry.get_function("f:1", "2"))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "bad name"}, "functionName"),
        ({"name": "x" * 65}, "functionName"),
        ({"name": "f:1"}, "qualified"),
        ({"runtime": "nodejs20.x"}, "The runtime parameter of nodejs20.x is not supported"),
        ({"runtime": "python3.7"}, "not supported"),
        ({"handler": ""}, "Handler"),
        ({"handler": "has space"}, "handler"),
        ({"handler": "h" * 129}, "handler"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 901}, "timeout"),
        ({"memory_size": 127}, "memorySize"),
        ({"memory_size": 10241}, "memorySize"),
        ({"description": "d" * 257}, "Description"),
        ({"environment": {"AWS_REGION": "x"}}, "Reserved keys used in this request: AWS_REGION"),
        ({"environment": {"AWS_ACCESS_KEY_ID": "x", "_HANDLER": "y"}}, "AWS_ACCESS_KEY_ID, _HANDLER"),
        ({"environment": {"BIG": "x" * 4100}}, "exceeded the 4KB limit"),
        ({"environment": {"1BAD": "x"}}, "invalid key"),
        ({"extra": {"EphemeralStorage": {"Size": 100}}}, "ephemeralStorage"),
    ],
)
def test_create_validation(env: Env, kw: dict, message: str) -> None:
    with pytest.raises(InvalidParameterValueException, match=message.replace("$", r"\$")):
        env.create(**kw)
    assert list(env.blobs.blob_ids()) == []


@pytest.mark.parametrize("runtime", ["python3.8", "python3.13", "provided", "provided.al2", "provided.al2023"])
def test_supported_runtimes(env: Env, runtime: str) -> None:
    handler = "" if runtime.startswith("provided") else "app.handler"
    assert env.create(runtime=runtime, handler=handler).runtime == runtime


def test_bad_zips_are_refused_and_leave_no_blob(env: Env) -> None:
    with pytest.raises(InvalidParameterValueException, match="Could not unzip"):
        env.create(zip_bytes=b"nope")
    with pytest.raises(InvalidParameterValueException):
        env.create(zip_bytes=make_zip({"../x": "1"}))
    with pytest.raises(RequestTooLargeException):
        env.create(zip_bytes=b"\0" * (50 * 1024 * 1024 + 1))
    with pytest.raises(InvalidParameterValueException, match="source"):
        env.run(env.registry.create_function(FunctionSpec("f", "python3.11", "app.handler"), CodeSource()))
    assert list(env.blobs.blob_ids()) == []
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.get_function("f"))


def test_executable_bootstrap_survives(env: Env) -> None:
    data = make_zip({"bootstrap": "#!/bin/sh\necho hi\n"}, modes={"bootstrap": 0o755})
    created = env.create(runtime="provided.al2023", handler="", zip_bytes=data)
    assert os.access(env.registry.code_dir(created) / "bootstrap", os.X_OK)


# --- code from S3 ---------------------------------------------------------------------------------


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def test_code_from_s3(env: Env) -> None:
    env.run(env.storage.create_bucket("code"))
    env.run(env.storage.put_object(PutRequest("code", "pkg.zip", _body(OTHER_ZIP), ObjectAttributes(), Integrity(),
                                              content_length=len(OTHER_ZIP))))
    spec = FunctionSpec("f", "python3.11", "app.handler")
    created = env.run(env.registry.create_function(spec, CodeSource(s3_bucket="code", s3_key="pkg.zip")))
    assert created.code.sha256_hex == hashlib.sha256(OTHER_ZIP).hexdigest()
    assert env.run(env.registry.code_zip(created)) == OTHER_ZIP
    with pytest.raises(InvalidParameterValueException) as info:
        env.run(env.registry.update_code("f", CodeSource(s3_bucket="code", s3_key="missing.zip")))
    assert info.value.message == (
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    )
    with pytest.raises(InvalidParameterValueException, match="S3 Error Code: NoSuchBucket"):
        env.run(env.registry.update_code("f", CodeSource(s3_bucket="nobucket", s3_key="pkg.zip")))


# --- updates and versions -------------------------------------------------------------------------


def test_update_code_changes_revision_and_releases_the_old_blob(env: Env) -> None:
    created = env.create()
    env.clock.advance(10)
    updated = env.run(env.registry.update_code("f", CodeSource(zip_bytes=OTHER_ZIP)))
    assert updated.code.sha256_hex == hashlib.sha256(OTHER_ZIP).hexdigest()
    assert updated.revision_id != created.revision_id and updated.last_modified == T0 + 10
    assert env.queued_deletes() == {created.code.blob_id}
    assert set(env.meta.referenced_blob_ids()) >= {updated.code.blob_id}
    with pytest.raises(PreconditionFailedException):
        env.run(env.registry.update_code("f", CodeSource(zip_bytes=HANDLER_ZIP), revision_id=created.revision_id))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.update_code("nope", CodeSource(zip_bytes=HANDLER_ZIP)))
    assert set(env.blobs.blob_ids()) == {created.code.blob_id, updated.code.blob_id}  # the gc has not run


def test_published_code_stays_referenced(env: Env) -> None:
    created = env.create(publish=True)
    env.run(env.registry.update_code("f", CodeSource(zip_bytes=OTHER_ZIP)))
    assert env.queued_deletes() == set()
    assert created.code.blob_id in set(env.meta.referenced_blob_ids())
    published = env.run(env.registry.update_code("f", CodeSource(zip_bytes=HANDLER_ZIP), publish=True))
    assert published.version == "1"  # the same code and configuration as version 1: no new version
    assert env.run(env.registry.update_code("f", CodeSource(zip_bytes=OTHER_ZIP), publish=True)).version == "2"


def test_update_configuration(env: Env) -> None:
    created = env.create(environment={"AA": "1"}, extra={"TracingConfig": {"Mode": "PassThrough"}})
    updated = env.run(env.registry.update_configuration(
        "f", {"timeout": 60, "environment": {"BB": "2"}, "extra": {"Layers": []}}, revision_id=created.revision_id
    ))
    assert (updated.timeout, updated.environment, updated.memory_size) == (60, {"BB": "2"}, 128)
    assert updated.extra == {"TracingConfig": {"Mode": "PassThrough"}, "Layers": []}
    assert updated.revision_id != created.revision_id and updated.code == created.code
    assert env.run(env.registry.get_function("f")) == updated
    with pytest.raises(PreconditionFailedException):
        env.run(env.registry.update_configuration("f", {"timeout": 5}, revision_id=created.revision_id))
    with pytest.raises(InvalidParameterValueException):
        env.run(env.registry.update_configuration("f", {"memory_size": 64}))
    with pytest.raises(InvalidParameterValueException):
        env.run(env.registry.update_configuration("f", {"bogus": 1}))
    assert env.run(env.registry.get_function("f")) == updated


def test_publish_version(env: Env) -> None:
    created = env.create()
    v1 = env.run(env.registry.publish_version("f", description="first"))
    assert (v1.version, v1.description, v1.code) == ("1", "first", created.code)
    assert env.run(env.registry.publish_version("f")) == v1  # nothing changed
    with pytest.raises(PreconditionFailedException, match="CodeSHA256"):
        env.run(env.registry.publish_version("f", code_sha256="AAAA"))
    with pytest.raises(PreconditionFailedException):
        env.run(env.registry.publish_version("f", revision_id="other"))
    latest = env.run(env.registry.update_configuration("f", {"memory_size": 512}))
    v2 = env.run(env.registry.publish_version("f", code_sha256=latest.code.sha256_b64, revision_id=latest.revision_id))
    assert (v2.version, v2.memory_size) == ("2", 512)
    assert env.run(env.registry.get_function("f", "1")).memory_size == 128


def test_versions_sort_numerically_and_page(env: Env) -> None:
    env.create()
    for i in range(11):
        env.run(env.registry.update_configuration("f", {"timeout": i + 1}))
        env.run(env.registry.publish_version("f"))
    everything, marker = env.run(env.registry.list_versions("f", None, 100))
    assert [v.version for v in everything] == [LATEST] + [str(i) for i in range(1, 12)] and marker is None
    seen: list[str] = []
    marker = None
    while True:
        page, marker = env.run(env.registry.list_versions("f", marker, 5))
        seen += [v.version for v in page]
        if marker is None:
            break
    assert seen == [v.version for v in everything]
    env.run(env.registry.delete_function("f", "11"))
    env.run(env.registry.update_configuration("f", {"timeout": 99}))
    assert env.run(env.registry.publish_version("f")).version == "12"  # numbers are never reused


def test_list_functions_pages(env: Env) -> None:
    names = sorted(f"fn-{i:02d}" for i in range(7))
    for name in reversed(names):
        env.create(name)
    seen: list[str] = []
    marker = None
    while True:
        page, marker = env.run(env.registry.list_functions(marker, 3))
        assert all(f.version == LATEST for f in page)
        seen += [f.name for f in page]
        if marker is None:
            break
    assert seen == names


# --- aliases --------------------------------------------------------------------------------------


def _two_versions(env: Env) -> None:
    env.create(publish=True)
    env.run(env.registry.update_code("f", CodeSource(zip_bytes=OTHER_ZIP), publish=True))


def test_alias_lifecycle(env: Env) -> None:
    _two_versions(env)
    alias = env.run(env.registry.create_alias(Alias("f", "live", "1", description="prod")))
    assert alias.revision_id and env.run(env.registry.get_alias(f"{ARN}:f", "live")) == alias
    assert env.run(env.registry.get_function("f", "live")).version == "1"
    with pytest.raises(ResourceConflictException, match="Alias already exists"):
        env.run(env.registry.create_alias(Alias("f", "live", "2")))
    updated = env.run(env.registry.update_alias("f", "live", {"function_version": "2"}, revision_id=alias.revision_id))
    assert updated.function_version == "2" and updated.revision_id != alias.revision_id
    with pytest.raises(PreconditionFailedException):
        env.run(env.registry.update_alias("f", "live", {"description": "x"}, revision_id=alias.revision_id))
    env.run(env.registry.create_alias(Alias("f", "dev", LATEST)))
    assert env.run(env.registry.resolve("f:dev", None)).executed_version == LATEST
    assert [a.name for a in env.run(env.registry.list_aliases("f", None, None, 10))[0]] == ["dev", "live"]
    assert [a.name for a in env.run(env.registry.list_aliases("f", "2", None, 10))[0]] == ["live"]
    page, marker = env.run(env.registry.list_aliases("f", None, None, 1))
    assert [a.name for a in page] == ["dev"] and marker == "dev"
    assert [a.name for a in env.run(env.registry.list_aliases("f", None, marker, 1))[0]] == ["live"]
    with pytest.raises(ResourceConflictException, match=r"\[live\]"):
        env.run(env.registry.delete_function("f", "2"))
    env.run(env.registry.delete_alias("f", "live"))
    env.run(env.registry.delete_alias("f", "live"))  # idempotent
    with pytest.raises(ResourceNotFoundException, match="Alias not found"):
        env.run(env.registry.get_alias("f", "live"))
    env.run(env.registry.delete_function("f", "2"))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.get_function("f", "2"))


@pytest.mark.parametrize(
    ("alias", "error"),
    [
        (Alias("f", "123", "1"), InvalidParameterValueException),
        (Alias("f", "bad name", "1"), InvalidParameterValueException),
        (Alias("f", "a", "9"), ResourceNotFoundException),
        (Alias("f", "a", "1", additional_weights={"2": 1.5}), InvalidParameterValueException),
        (Alias("f", "a", "1", additional_weights={"2": -0.1}), InvalidParameterValueException),
        (Alias("f", "a", "1", additional_weights={"1": 0.5}), InvalidParameterValueException),
        (Alias("f", "a", "1", additional_weights={"2": 0.1, "3": 0.1}), InvalidParameterValueException),
        (Alias("f", "a", "1", additional_weights={"$LATEST": 0.1}), InvalidParameterValueException),
        (Alias("f", "a", LATEST, additional_weights={"2": 0.1}), InvalidParameterValueException),
        (Alias("f", "a", "1", additional_weights={"7": 0.1}), ResourceNotFoundException),
        (Alias("nope", "a", "1"), ResourceNotFoundException),
        (Alias("f", "a", "1", description="d" * 257), InvalidParameterValueException),
    ],
)
def test_alias_validation(env: Env, alias: Alias, error: type[Exception]) -> None:
    _two_versions(env)
    with pytest.raises(error):
        env.run(env.registry.create_alias(alias))


def test_weighted_routing(env: Env) -> None:
    _two_versions(env)
    env.run(env.registry.create_alias(Alias("f", "canary", "1", additional_weights={"2": 0.3})))
    counts = Counter(env.run(env.registry.resolve("f", "canary")).executed_version for _ in range(2000))
    assert set(counts) == {"1", "2"} and 500 <= counts["2"] <= 700
    resolved = env.run(env.registry.resolve(f"{ARN}:f:canary", None))
    assert resolved.invoked_arn == f"{ARN}:f:canary" and resolved.qualifier == "canary"
    assert resolved.config.version == resolved.executed_version
    assert env.run(env.registry.get_function("f", "canary")).version == "1"  # primary, not weighted
    plain = env.run(env.registry.resolve("f", None))
    assert (plain.executed_version, plain.invoked_arn, plain.qualifier) == (LATEST, f"{ARN}:f", None)
    env.run(env.registry.update_alias("f", "canary", {"additional_weights": None}))
    assert {env.run(env.registry.resolve("f", "canary")).executed_version for _ in range(50)} == {"1"}
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.resolve("f", "missing"))


# --- settings -------------------------------------------------------------------------------------


def test_settings(env: Env) -> None:
    _two_versions(env)
    env.create("g")
    env.run(env.registry.create_alias(Alias("f", "live", "1")))
    reg = env.registry
    assert env.run(reg.get_setting("f", "concurrency")) is None
    env.run(reg.put_setting("f", "concurrency", {"ReservedConcurrentExecutions": 0}))
    assert env.run(reg.get_setting("f", "concurrency")) == {"ReservedConcurrentExecutions": 0}
    for bad in (-1, 1001, "5", None):
        with pytest.raises(InvalidParameterValueException):
            env.run(reg.put_setting("f", "concurrency", {"ReservedConcurrentExecutions": bad}))
    with pytest.raises(InvalidParameterValueException):
        env.run(reg.put_setting("f", "provisioned", {"ProvisionedConcurrentExecutions": 1}))
    with pytest.raises(InvalidParameterValueException):
        env.run(reg.put_setting("f", "provisioned", {"ProvisionedConcurrentExecutions": 1}, LATEST))
    with pytest.raises(ResourceNotFoundException):
        env.run(reg.put_setting("f", "provisioned", {"ProvisionedConcurrentExecutions": 1}, "9"))
    env.run(reg.put_setting("f", "provisioned", {"ProvisionedConcurrentExecutions": 2}, "live"))
    env.run(reg.put_setting("f:1", "provisioned", {"ProvisionedConcurrentExecutions": 1}))
    assert env.run(reg.get_setting("f", "provisioned", "1")) == {"ProvisionedConcurrentExecutions": 1}
    for bad in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 59}, {"MaximumEventAgeInSeconds": 21601}):
        with pytest.raises(InvalidParameterValueException):
            env.run(reg.put_setting("f", "event-invoke", bad))
    env.run(reg.put_setting("f", "event-invoke", {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}))
    env.run(reg.put_setting("g", "event-invoke", {"MaximumRetryAttempts": 2}))
    assert env.run(reg.list_settings("provisioned")) == [
        ("f", "1", {"ProvisionedConcurrentExecutions": 1}), ("f", "live", {"ProvisionedConcurrentExecutions": 2})
    ]
    assert [(f, q) for f, q, _ in env.run(reg.list_settings("event-invoke"))] == [("f", ""), ("g", "")]
    assert [(f, q) for f, q, _ in env.run(reg.list_settings("event-invoke", "g"))] == [("g", "")]
    env.run(reg.delete_setting("f", "concurrency"))
    env.run(reg.delete_setting("f", "concurrency"))
    assert env.run(reg.get_setting("f", "concurrency")) is None
    with pytest.raises(ResourceNotFoundException):
        env.run(reg.get_setting("nope", "concurrency"))
    with pytest.raises(InvalidParameterValueException):
        env.run(reg.put_setting("f", "bogus", {}))
    env.run(reg.delete_alias("f", "live"))
    assert [(f, q) for f, q, _ in env.run(reg.list_settings("provisioned"))] == [("f", "1")]


# --- delete, restart, garbage collection ----------------------------------------------------------


def test_delete_function_removes_everything_but_the_queue(env: Env) -> None:
    created = env.create(publish=True, tags={"a": "b"})
    updated = env.run(env.registry.update_code("f", CodeSource(zip_bytes=OTHER_ZIP)))
    env.run(env.registry.create_alias(Alias("f", "live", "1")))
    env.run(env.registry.put_setting("f", "concurrency", {"ReservedConcurrentExecutions": 5}))
    env.run(env.meta.write(lambda tx: tx.enqueue_invocation(QueuedInvocation("q1", "f", None, b"{}", T0))))
    with pytest.raises(InvalidParameterValueException):
        env.run(env.registry.delete_function("f", LATEST))
    env.run(env.registry.delete_function(f"{ARN}:f"))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.get_function("f"))
    with pytest.raises(ResourceNotFoundException):
        env.run(env.registry.delete_function("f"))
    assert env.queued_deletes() == {created.code.blob_id, updated.code.blob_id}
    assert set(env.meta.referenced_blob_ids()) == {created.code.blob_id, updated.code.blob_id}  # via the outbox
    assert env.run(env.meta.queue_length()) == 1
    assert env.run(env.registry.list_settings("concurrency")) == []
    env.run(BlobCollector(env.meta, env.blobs).work())
    assert list(env.blobs.blob_ids()) == []
    env.create()  # the name is free again
    assert env.run(env.registry.get_setting("f", "tags")) is None


def test_restart_survival(env: Env) -> None:
    created = env.create(publish=True)
    env.run(env.registry.create_alias(Alias("f", "live", "1")))
    env.run(env.registry.put_setting("f", "concurrency", {"ReservedConcurrentExecutions": 3}))
    env.reopen()
    assert remove_orphans(env.meta, env.blobs) == 0
    version = env.run(env.registry.get_function("f", "live"))
    assert version == created
    shutil.rmtree(env.tmp / "functions" / "code")
    assert (env.registry.code_dir(version) / "app.py").exists()  # rebuilt from the blob
    assert env.run(env.registry.get_setting("f", "concurrency")) == {"ReservedConcurrentExecutions": 3}
    assert env.run(env.registry.publish_version("f")) == created


def test_orphan_scan_keeps_code_blobs(env: Env) -> None:
    created = env.create()
    stray = env.blobs.writer()
    stray.write(b"orphan")
    stray.commit()
    assert remove_orphans(env.meta, env.blobs) == 1
    assert list(env.blobs.blob_ids()) == [created.code.blob_id]
    assert env.run(env.registry.code_zip(env.run(env.registry.get_function("f")))) == HANDLER_ZIP
