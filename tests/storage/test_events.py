"""Bucket notifications in the storage core: rule matching, validation, the record, and the rows a
mutation writes in its own transaction (storage/events.py over a real SqliteMetaStore)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bayou.blobs.local import LocalBlobStore
from bayou.clock import FixedClock
from bayou.errors import InvalidArgument, NoSuchBucket
from bayou.meta.records import ObjectRecord
from bayou.meta.sqlite import SqliteMetaStore
from bayou.storage import events
from bayou.storage.events import EventOrigin, NotificationConfig, NotificationRule, ObjectEvent
from bayou.storage.models import Integrity, ObjectAttributes, PutRequest
from bayou.storage.service import StorageService

T0 = 1_700_000_000.0
FN = "arn:aws:lambda:us-east-1:000000000000:function:thumb"
QUEUE = "arn:bayou:sqs::hook:webhook"


def rule(arn: str = QUEUE, events_: tuple[str, ...] = ("s3:ObjectCreated:*",), prefix: str = "", suffix: str = "",
         kind: str = "queue", rule_id: str = "r") -> NotificationRule:
    return NotificationRule(rule_id, kind, arn, events_, prefix, suffix)


# --- pure rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("events_", "name", "key", "expected"),
    [
        (("s3:ObjectCreated:*",), "ObjectCreated:Put", "a", True),
        (("s3:ObjectCreated:*",), "ObjectCreated:CompleteMultipartUpload", "a", True),
        (("s3:ObjectCreated:Put",), "ObjectCreated:Post", "a", False),
        (("s3:ObjectRemoved:Delete",), "ObjectRemoved:DeleteMarkerCreated", "a", False),
        (("s3:ObjectRemoved:*",), "ObjectRemoved:DeleteMarkerCreated", "a", True),
        (("s3:ObjectTagging:*",), "ObjectCreated:Put", "a", False),
    ],
)
def test_rule_matches_event_names(events_: tuple[str, ...], name: str, key: str, expected: bool) -> None:
    assert rule(events_=events_).matches(name, key) is expected


def test_rule_filters_by_prefix_and_suffix() -> None:
    r = rule(prefix="images/", suffix=".jpg")
    assert r.matches("ObjectCreated:Put", "images/cat.jpg")
    assert not r.matches("ObjectCreated:Put", "images/cat.png")
    assert not r.matches("ObjectCreated:Put", "docs/cat.jpg")


def test_validate_rejects_unknown_events_and_overlaps() -> None:
    with pytest.raises(InvalidArgument, match="not supported"):
        events.validate(NotificationConfig((rule(events_=("s3:ObjectCreated:Nope",)),)))
    with pytest.raises(InvalidArgument, match="overlap"):
        events.validate(NotificationConfig((rule(prefix="a/"), rule(prefix="a/b/", events_=("s3:ObjectCreated:Put",)))))
    events.validate(NotificationConfig((rule(prefix="a/"), rule(prefix="b/"))))
    events.validate(NotificationConfig((rule(), rule(events_=("s3:ObjectRemoved:*",)))))
    events.validate(NotificationConfig((rule(suffix=".jpg"), rule(suffix=".png"))))


def test_parse_function_arn() -> None:
    assert events.parse_function_arn(FN) == ("thumb", None)
    assert events.parse_function_arn(FN + ":live") == ("thumb", "live")
    assert events.parse_function_arn("arn:aws:sqs:us-east-1:000000000000:q") is None
    assert events.parse_function_arn("thumb") is None


def test_keys_are_form_url_encoded() -> None:
    assert events.encode_key("photos/my cat+dog é.jpg") == "photos/my+cat%2Bdog+%C3%A9.jpg"


def test_record_shape() -> None:
    record = ObjectRecord(bucket="b", key="a b", size=5, etag="abc", last_modified=T0, blob_id="x", inline=True,
                          content_type="t", system_headers={}, user_metadata={}, checksum=None,
                          storage_class="STANDARD", version_id="v1")
    event = ObjectEvent("b", "a b", "ObjectCreated:Put", 0x1F, record, versioned=True)
    origin = EventOrigin("10.0.0.1", "REQ", "AK")
    out = events.event_record(event, "r1", "eu-west-1", origin, T0 + 0.25)
    assert out["eventVersion"] == "2.1" and out["eventSource"] == "aws:s3"
    assert out["eventTime"] == "2023-11-14T22:13:20.250Z"
    assert out["awsRegion"] == "eu-west-1" and out["eventName"] == "ObjectCreated:Put"
    assert out["requestParameters"] == {"sourceIPAddress": "10.0.0.1"}
    assert out["responseElements"]["x-amz-request-id"] == "REQ"
    assert out["s3"]["configurationId"] == "r1"
    assert out["s3"]["bucket"]["arn"] == "arn:aws:s3:::b"
    assert out["s3"]["object"] == {"key": "a+b", "size": 5, "eTag": "abc", "versionId": "v1",
                                   "sequencer": "000000000000001F"}
    unversioned = events.event_record(ObjectEvent("b", "k", "ObjectRemoved:Delete", 2), "r1", "x", origin, T0)
    assert unversioned["s3"]["object"] == {"key": "k", "sequencer": "0000000000000002"}


# --- emission through the storage facade -------------------------------------------------------

@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetaStore
    clock: FixedClock

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def put(self, key: str, data: bytes = b"data", bucket: str = "bkt") -> ObjectRecord:
        async def body() -> AsyncIterator[bytes]:
            yield data

        return self.run(self.svc.put_object(PutRequest(bucket, key, body(), ObjectAttributes(), Integrity())))

    def queued_messages(self) -> list[dict]:
        rows = self.run(self.meta.pending_outbox((events.outbox_kind(QUEUE),), 1000))
        return [row.payload["message"] for row in rows]

    def invocations(self) -> list[dict]:
        return [json.loads(q.payload) for q in self.run(self.meta.due_invocations(T0 + 10**6, 1000))]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FixedClock(T0)
    meta = SqliteMetaStore(tmp_path / "meta.sqlite3", fsync=False, now=clock.now)
    svc = StorageService(meta, LocalBlobStore(tmp_path / "blobs", fsync=False), clock, region="us-east-1",
                         owner="AK", inline_limit=1024)
    e = Env(svc, meta, clock)
    e.run(svc.create_bucket("bkt"))
    yield e
    meta.close()


def test_a_put_queues_one_record_per_matching_rule_and_the_test_event_first(env: Env) -> None:
    config = NotificationConfig((rule(prefix="in/"),))
    env.run(env.svc.put_notification_config("bkt", config))
    env.put("in/x")
    env.put("out/y")
    messages = env.queued_messages()
    assert messages[0]["Event"] == "s3:TestEvent" and messages[0]["Bucket"] == "bkt"
    assert [m["Records"][0]["s3"]["object"]["key"] for m in messages[1:]] == ["in/x"]
    assert env.run(env.svc.get_notification_config("bkt")) == config


def test_function_rules_queue_asynchronous_invocations_not_outbox_rows(env: Env) -> None:
    env.run(env.svc.put_notification_config("bkt", NotificationConfig(
        (rule(FN + ":live", ("s3:ObjectCreated:*", "s3:ObjectRemoved:*"), kind="function"),))))
    env.put("k")
    env.run(env.svc.delete_object("bkt", "k"))
    queued = env.run(env.meta.due_invocations(T0 + 10**6, 10))
    assert [(q.function, q.qualifier) for q in queued] == [("thumb", "live")] * 2
    names = [json.loads(q.payload)["Records"][0]["eventName"] for q in queued]
    assert sorted(names) == ["ObjectCreated:Put", "ObjectRemoved:Delete"]  # no order across invocations
    assert env.queued_messages() == []


def test_sequencer_increases_per_key_and_copy_and_tagging_have_their_names(env: Env) -> None:
    env.run(env.svc.put_notification_config("bkt", NotificationConfig(
        (rule(events_=("s3:ObjectCreated:*", "s3:ObjectTagging:*")),))))
    env.put("k")
    env.clock.advance(0)  # same clock tick: the sequencer must still increase
    env.put("k")
    env.run(env.svc.set_object_tags("bkt", "k", None, {"a": "1"}))
    env.run(env.svc.set_object_tags("bkt", "k", None, {}))
    records = [m["Records"][0] for m in env.queued_messages()[1:]]
    sequencers = [int(r["s3"]["object"]["sequencer"], 16) for r in records]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 4
    assert [r["eventName"] for r in records] == [
        "ObjectCreated:Put", "ObjectCreated:Put", "ObjectTagging:Put", "ObjectTagging:Delete"]


def test_versioned_delete_is_a_delete_marker_with_its_version_id(env: Env) -> None:
    env.run(env.svc.set_bucket_versioning("bkt", "Enabled"))
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule(events_=("s3:ObjectRemoved:*",)),))))
    env.put("k")
    outcome = env.run(env.svc.delete_object("bkt", "k"))
    record = env.queued_messages()[1]["Records"][0]
    assert record["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert record["s3"]["object"]["versionId"] == outcome.version_id


def test_a_failed_mutation_writes_no_event(env: Env) -> None:
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule(),))))
    with pytest.raises(NoSuchBucket):
        env.put("k", bucket="missing")
    assert len(env.queued_messages()) == 1  # the test event only


def test_origin_of_the_request_is_in_the_record(env: Env) -> None:
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule(),))))

    async def put_as_post() -> None:
        events.current_origin.set(EventOrigin("192.0.2.7", "RID", "AK", "Post"))

        async def body() -> AsyncIterator[bytes]:
            yield b"x"

        await env.svc.put_object(PutRequest("bkt", "k", body(), ObjectAttributes(), Integrity()))

    env.run(put_as_post())
    record = env.queued_messages()[1]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Post"
    assert record["requestParameters"]["sourceIPAddress"] == "192.0.2.7"
    assert record["userIdentity"]["principalId"] == "AWS:AK"


def test_clearing_the_configuration_stops_events_and_deleting_the_bucket_forgets_it(env: Env) -> None:
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule(),))))
    env.run(env.svc.put_notification_config("bkt", NotificationConfig()))
    env.put("k")
    assert len(env.queued_messages()) == 1
    env.run(env.svc.delete_object("bkt", "k"))
    env.run(env.svc.put_notification_config("bkt", NotificationConfig((rule(),))))
    env.run(env.svc.delete_bucket("bkt"))
    env.run(env.svc.create_bucket("bkt"))
    assert env.run(env.svc.get_notification_config("bkt")) == NotificationConfig()
