"""The `MetaStore` contract (meta/store.py), one suite for every implementation.

A new implementation (PostgreSQL) is one more entry in `IMPLEMENTATIONS`: a function that opens
a store on some location and can be called again on the same location to reopen it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bayou.clock import FixedClock
from bayou.meta.records import BucketRecord, Checksum, ObjectRecord, QueuedInvocation
from bayou.meta.sqlite import SqliteMetaStore
from bayou.meta.store import MetaStore, MetaTx

NOW = 1_700_000_000.5


def _sqlite(location: Path, clock: FixedClock) -> MetaStore:
    return SqliteMetaStore(location / "meta.db", fsync=False, now=clock.now)


IMPLEMENTATIONS: dict[str, Callable[[Path, FixedClock], MetaStore]] = {"sqlite": _sqlite}


class Harness:
    def __init__(self, opener: Callable[[Path, FixedClock], MetaStore], location: Path) -> None:
        self._opener = opener
        self._location = location
        self.clock = FixedClock(NOW)
        self.store = opener(location, self.clock)

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def write(self, fn: Callable[[MetaTx], Any]) -> Any:
        return self.run(self.store.write(fn))

    def reopen(self) -> None:
        self.store.close()
        self.store = self._opener(self._location, self.clock)


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(IMPLEMENTATIONS[request.param], tmp_path)
    harness.write(lambda tx: tx.insert_bucket(bucket("bkt")))
    yield harness
    harness.store.close()


def bucket(name: str) -> BucketRecord:
    return BucketRecord(name=name, created_at=NOW, region="us-east-1", owner="owner")


def obj(key: str, *, bucket: str = "bkt", inline: bool = True, blob_id: str | None = None, **kw: Any) -> ObjectRecord:
    blob = blob_id or ("i" if inline else "f") + hashlib.md5(f"{bucket}/{key}".encode()).hexdigest()
    return ObjectRecord(bucket, key, kw.pop("size", 3), kw.pop("etag", "e" * 32), kw.pop("last_modified", NOW), blob, inline, **kw)


class Boom(Exception):
    pass


# --- write() ------------------------------------------------------------------------------------


def test_write_returns_the_functions_result(h: Harness) -> None:
    assert h.write(lambda tx: tx.insert_bucket(bucket("new"))) is True
    assert h.write(lambda tx: tx.insert_bucket(bucket("new"))) is False
    assert h.write(lambda tx: 42) == 42


def test_write_sees_its_own_changes(h: Harness) -> None:
    def fn(tx: MetaTx) -> tuple[Any, ...]:
        tx.insert_bucket(bucket("fresh"))
        tx.put_object(obj("k", bucket="fresh"), b"abc")
        return tx.get_bucket("fresh"), tx.get_object("fresh", "k"), tx.bucket_is_empty("fresh")

    got_bucket, got_obj, empty = h.write(fn)
    assert got_bucket == bucket("fresh") and got_obj == obj("k", bucket="fresh") and empty is False


def test_write_that_raises_keeps_nothing(h: Harness) -> None:
    h.write(lambda tx: tx.put_object(obj("existing"), b"old"))

    def fn(tx: MetaTx) -> None:
        tx.insert_bucket(bucket("ghost"))
        tx.put_object(obj("new"), b"new")
        tx.put_object(obj("existing", etag="f" * 32), b"changed")
        tx.delete_bucket("bkt")
        tx.add_outbox("blob.delete", {"blob_id": "abc"})
        raise Boom("fail")

    with pytest.raises(Boom):
        h.write(fn)
    assert h.run(h.store.get_bucket("ghost")) is None
    assert h.run(h.store.get_bucket("bkt")) is not None
    assert h.run(h.store.get_object("bkt", "new", with_data=True)) is None
    assert h.run(h.store.get_object("bkt", "existing", with_data=True)) == (obj("existing"), b"old")
    assert h.run(h.store.pending_outbox(("blob.delete",), 10)) == []


def test_concurrent_writes_are_isolated_from_a_failing_neighbour(h: Harness) -> None:
    """Writes that share a commit (group commit) must not share a fate."""
    n = 60

    def make(i: int) -> Callable[[MetaTx], int]:
        def fn(tx: MetaTx) -> int:
            tx.put_object(obj(f"k{i:03d}"), str(i).encode())
            tx.add_outbox("test", {"i": i})
            if i % 7 == 3:
                raise Boom(i)
            return i

        return fn

    async def all_writes() -> list[Any]:
        return await asyncio.gather(*(h.store.write(make(i)) for i in range(n)), return_exceptions=True)

    results = h.run(all_writes())
    failed = {i for i in range(n) if i % 7 == 3}
    for i, result in enumerate(results):
        if i in failed:
            assert isinstance(result, Boom) and result.args == (i,)
        else:
            assert result == i
    listed = h.run(h.store.list_objects("bkt", b"", True, None, 1000))
    assert [r.key for r in listed] == [f"k{i:03d}" for i in range(n) if i not in failed]
    outbox = h.run(h.store.pending_outbox(("test",), 1000))
    assert sorted(row.payload["i"] for row in outbox) == [i for i in range(n) if i not in failed]
    for i in range(n):
        found = h.run(h.store.get_object("bkt", f"k{i:03d}", with_data=True))
        assert (found is None) == (i in failed)
        if found is not None:
            assert found[1] == str(i).encode()


def test_concurrent_conflicting_inserts_see_each_other(h: Harness) -> None:
    async def race() -> list[bool]:
        return list(await asyncio.gather(*(h.store.write(lambda tx: tx.insert_bucket(bucket("race"))) for _ in range(20))))

    assert sorted(h.run(race())) == [False] * 19 + [True]


def test_writes_from_successive_event_loops(h: Harness) -> None:
    for i in range(3):
        assert h.write(lambda tx, i=i: i) == i


# --- buckets ------------------------------------------------------------------------------------


def test_buckets(h: Harness) -> None:
    h.write(lambda tx: tx.insert_bucket(bucket("zzz")))
    h.write(lambda tx: tx.insert_bucket(bucket("aaa")))
    assert [b.name for b in h.run(h.store.list_buckets())] == ["aaa", "bkt", "zzz"]
    assert h.run(h.store.get_bucket("aaa")) == bucket("aaa")
    assert h.write(lambda tx: tx.bucket_is_empty("aaa")) is True
    h.write(lambda tx: tx.delete_bucket("aaa"))
    assert h.run(h.store.get_bucket("aaa")) is None
    assert h.write(lambda tx: tx.get_bucket("aaa")) is None


def test_bucket_is_empty_ignores_other_buckets(h: Harness) -> None:
    h.write(lambda tx: tx.insert_bucket(bucket("other")))
    h.write(lambda tx: tx.put_object(obj("k", bucket="other"), b""))
    assert h.write(lambda tx: tx.bucket_is_empty("bkt")) is True
    assert h.write(lambda tx: tx.bucket_is_empty("other")) is False


# --- objects ------------------------------------------------------------------------------------


def test_object_record_round_trip(h: Harness) -> None:
    record = obj(
        "dir/é😀\x01",
        inline=False,
        size=123_456_789_012,
        etag="0123456789abcdef0123456789abcdef-3",
        last_modified=NOW + 0.123,
        content_type="text/plain; charset=utf-8",
        system_headers={"cache-control": "max-age=60", "content-disposition": 'attachment; filename="é.txt"'},
        user_metadata={"author": "ünïcödé", "empty": ""},
        checksum=Checksum("CRC32C", "yZRlqg==", "COMPOSITE"),
        storage_class="STANDARD_IA",
    )
    h.write(lambda tx: tx.put_object(record, None))
    assert h.run(h.store.get_object("bkt", record.key, with_data=True)) == (record, None)
    assert h.run(h.store.get_object("bkt", record.key, with_data=False)) == (record, None)
    assert h.write(lambda tx: tx.get_object("bkt", record.key)) == record
    assert h.run(h.store.list_objects("bkt", b"", True, None, 10)) == [record]


@pytest.mark.parametrize("data", [b"", b"\x00\xffbinary", bytes(range(256)) * 512], ids=["empty", "binary", "128KiB"])
def test_inline_data_round_trip(h: Harness, data: bytes) -> None:
    record = obj("k", size=len(data))
    h.write(lambda tx: tx.put_object(record, data))
    assert h.run(h.store.get_object("bkt", "k", with_data=True)) == (record, data)
    assert h.run(h.store.get_object("bkt", "k", with_data=False)) == (record, None)
    assert h.run(h.store.read_inline(record.blob_id)) == data


def test_file_object_has_no_inline_data(h: Harness) -> None:
    h.write(lambda tx: tx.put_object(obj("f", inline=False), None))
    assert h.run(h.store.get_object("bkt", "f", with_data=True)) == (obj("f", inline=False), None)


def test_put_replaces_and_delete_removes(h: Harness) -> None:
    first = obj("k", blob_id="first")
    second = obj("k", blob_id="second", etag="2" * 32)
    h.write(lambda tx: tx.put_object(first, b"one"))
    h.write(lambda tx: tx.put_object(second, b"two"))
    assert h.run(h.store.get_object("bkt", "k", with_data=True)) == (second, b"two")
    assert h.run(h.store.read_inline("first")) == b"one"  # inline rows are released explicitly
    h.write(lambda tx: tx.delete_inline("first"))
    assert h.run(h.store.read_inline("first")) is None
    h.write(lambda tx: tx.delete_object("bkt", "k"))
    assert h.run(h.store.get_object("bkt", "k", with_data=True)) is None
    h.write(lambda tx: tx.delete_object("bkt", "k"))  # idempotent


def test_same_key_in_two_buckets(h: Harness) -> None:
    h.write(lambda tx: tx.insert_bucket(bucket("other")))
    h.write(lambda tx: tx.put_object(obj("k", blob_id="a"), b"a"))
    h.write(lambda tx: tx.put_object(obj("k", bucket="other", blob_id="b"), b"b"))
    assert h.run(h.store.get_object("bkt", "k", with_data=True)) == (obj("k", blob_id="a"), b"a")
    assert h.run(h.store.get_object("other", "k", with_data=True)) == (obj("k", bucket="other", blob_id="b"), b"b")


# --- listing order and bounds ---------------------------------------------------------------------

KEYS = ["a", "a/", "a/b", "ab", "b", "A", "~", "\x01", "é", "\ue000", "\uffff", "😀", "😀a", "\U0010ffff", "z" * 1024]
ORDERED = sorted(KEYS, key=lambda k: k.encode("utf-8"))


@pytest.fixture
def listed(h: Harness) -> Harness:
    h.write(lambda tx: tx.insert_bucket(bucket("other")))

    def fill(tx: MetaTx) -> None:
        for key in KEYS:
            tx.put_object(obj(key), b"")
            tx.put_object(obj(key + "-other", bucket="other"), b"")

    h.write(fill)
    return h


def _keys(h: Harness, start: str | bytes, inclusive: bool, end: str | bytes | None, limit: int) -> list[str]:
    s = start.encode() if isinstance(start, str) else start
    e = end.encode() if isinstance(end, str) else end
    return [r.key for r in h.run(h.store.list_objects("bkt", s, inclusive, e, limit))]


def test_list_objects_in_utf8_byte_order(listed: Harness) -> None:
    got = _keys(listed, b"", True, None, 1000)
    assert got == ORDERED
    # Not UTF-16 order (what a naive TEXT collation in some engines gives).
    assert got.index("\ue000") < got.index("\uffff") < got.index("😀") < got.index("\U0010ffff")


@pytest.mark.parametrize(
    ("start", "inclusive", "end", "limit"),
    [
        ("a", True, None, 1000),
        ("a", False, None, 1000),
        ("a/", True, "a0", 1000),
        ("a/", False, "a0", 1000),
        ("", True, "b", 3),
        ("\uffff", True, "\U0010ffff", 1000),
        ("\uffff", False, "\U0010ffff", 1000),
        ("😀", True, b"\xf0\x9f\x98\x81", 1000),
        ("zz", True, None, 1000),
        ("é", True, "é", 1000),
        (b"\xff", True, None, 1000),
        ("", True, None, 0),
        ("", True, None, 1),
    ],
)
def test_list_objects_bounds(listed: Harness, start: str | bytes, inclusive: bool, end: str | bytes | None, limit: int) -> None:
    s = start.encode() if isinstance(start, str) else start
    e = end.encode() if isinstance(end, str) else end
    expected = [
        k for k in ORDERED if (k.encode() >= s if inclusive else k.encode() > s) and (e is None or k.encode() < e)
    ][:limit]
    assert _keys(listed, start, inclusive, end, limit) == expected


# --- outbox -------------------------------------------------------------------------------------


def test_outbox_rows_carry_a_payload_version(h: Harness) -> None:
    h.write(lambda tx: tx.add_outbox("blob.delete", {"blob_id": "abc"}))
    h.clock.advance(1)
    h.write(lambda tx: tx.add_outbox("event", {"name": "ObjectCreated:Put", "nested": {"k": ["é"]}}))
    h.write(lambda tx: tx.add_outbox("blob.delete", {"blob_id": "def"}))
    rows = h.run(h.store.pending_outbox(("blob.delete",), 10))
    assert [r.payload for r in rows] == [{"v": 1, "blob_id": "abc"}, {"v": 1, "blob_id": "def"}]
    assert [r.kind for r in rows] == ["blob.delete", "blob.delete"]
    assert rows[0].id < rows[1].id
    assert [r.created_at for r in rows] == [NOW, NOW + 1]
    both = h.run(h.store.pending_outbox(("blob.delete", "event"), 10))
    assert [r.kind for r in both] == ["blob.delete", "event", "blob.delete"]
    assert both[1].payload == {"v": 1, "name": "ObjectCreated:Put", "nested": {"k": ["é"]}}
    assert len(h.run(h.store.pending_outbox(("blob.delete", "event"), 2))) == 2
    assert h.run(h.store.pending_outbox(("nothing",), 10)) == []


def test_outbox_delete(h: Harness) -> None:
    h.write(lambda tx: [tx.add_outbox("k", {"n": n}) for n in range(3)])
    rows = h.run(h.store.pending_outbox(("k",), 10))
    h.write(lambda tx: tx.delete_outbox(rows[1].id))
    h.write(lambda tx: tx.delete_outbox(rows[1].id))  # idempotent
    assert [r.payload["n"] for r in h.run(h.store.pending_outbox(("k",), 10))] == [0, 2]


def test_outbox_counts_by_kind_prefix(h: Harness) -> None:
    h.write(lambda tx: [tx.add_outbox(kind, {}) for kind in ("event:a", "event:a", "event:b", "eventx", "blob.delete")])
    assert h.run(h.store.outbox_counts("event:")) == {"event:a": 2, "event:b": 1}
    assert h.run(h.store.outbox_counts("nothing:")) == {}


def test_trim_outbox_keeps_the_oldest(h: Harness) -> None:
    h.write(lambda tx: [tx.add_outbox("q", {"n": n}) for n in range(5)])
    h.write(lambda tx: tx.add_outbox("other", {"n": 99}))
    assert h.write(lambda tx: tx.trim_outbox("q", 3)) == 2
    assert [r.payload["n"] for r in h.run(h.store.pending_outbox(("q",), 10))] == [0, 1, 2]
    assert h.write(lambda tx: tx.trim_outbox("q", 3)) == 0
    assert h.write(lambda tx: tx.trim_outbox("q", 0)) == 3
    assert [r.payload["n"] for r in h.run(h.store.pending_outbox(("other",), 10))] == [99]


def test_referenced_blob_ids(h: Harness) -> None:
    h.write(lambda tx: tx.insert_bucket(bucket("other")))
    h.write(lambda tx: tx.put_object(obj("file", inline=False, blob_id="fileblob"), None))
    h.write(lambda tx: tx.put_object(obj("file", bucket="other", inline=False, blob_id="otherblob"), None))
    h.write(lambda tx: tx.put_object(obj("inline", blob_id="inlineblob"), b"x"))
    h.write(lambda tx: tx.add_outbox("blob.delete", {"blob_id": "queuedblob"}))
    h.write(lambda tx: tx.add_outbox("event", {"name": "x"}))
    assert set(h.store.referenced_blob_ids()) == {"fileblob", "otherblob", "queuedblob"}


# --- durability ---------------------------------------------------------------------------------


def test_data_survives_close_and_reopen(h: Harness) -> None:
    record = obj("k", checksum=Checksum("CRC32", "AAAAAA=="), user_metadata={"a": "b"})
    h.write(lambda tx: tx.put_object(record, b"inline bytes"))
    h.write(lambda tx: tx.put_object(obj("f", inline=False, blob_id="fb"), None))
    h.write(lambda tx: tx.add_outbox("blob.delete", {"blob_id": "gone"}))
    h.reopen()
    assert [b.name for b in h.run(h.store.list_buckets())] == ["bkt"]
    assert h.run(h.store.get_object("bkt", "k", with_data=True)) == (record, b"inline bytes")
    assert [r.key for r in h.run(h.store.list_objects("bkt", b"", True, None, 10))] == ["f", "k"]
    assert [r.payload for r in h.run(h.store.pending_outbox(("blob.delete",), 10))] == [{"v": 1, "blob_id": "gone"}]
    assert set(h.store.referenced_blob_ids()) == {"fb", "gone"}
    # and it is writable again
    h.write(lambda tx: tx.delete_object("bkt", "k"))
    assert h.run(h.store.get_object("bkt", "k", with_data=False)) is None


def test_acknowledged_concurrent_writes_survive_reopen(h: Harness) -> None:
    async def queue_then_close() -> list[Any]:
        tasks = [asyncio.ensure_future(h.store.write(lambda tx, i=i: tx.add_outbox("k", {"i": i}))) for i in range(20)]
        return list(await asyncio.gather(*tasks))

    h.run(queue_then_close())
    h.reopen()
    assert len(h.run(h.store.pending_outbox(("k",), 100))) == 20


# --- the functions domain: documents ------------------------------------------------------------


def test_doc_round_trip_and_replace(h: Harness) -> None:
    doc = {"n": 1, "s": "é😀", "nested": {"list": [1, 2.5, None, True]}}
    assert h.write(lambda tx: tx.get_doc("function", "f", "")) is None
    assert h.write(lambda tx: tx.put_doc("function", "f", "", doc)) == []
    assert h.write(lambda tx: tx.get_doc("function", "f", "")) == doc
    assert h.run(h.store.get_doc("function", "f", "")) == doc
    h.write(lambda tx: tx.put_doc("function", "f", "", {"n": 2}))
    assert h.run(h.store.get_doc("function", "f", "")) == {"n": 2}
    assert h.run(h.store.get_doc("version", "f", "")) is None  # kinds are separate
    assert h.write(lambda tx: tx.delete_doc("function", "f", "")) == []
    assert h.run(h.store.get_doc("function", "f", "")) is None
    h.write(lambda tx: tx.delete_doc("function", "f", ""))  # idempotent


def _fill_docs(h: Harness) -> None:
    def fill(tx: MetaTx) -> None:
        for name in ("b", "a", "é", "c"):
            for sub in ("0000000002", "0000000010", "0000000001", "$LATEST"):
                tx.put_doc("version", name, sub, {"name": name, "sub": sub})
        tx.put_doc("alias", "a", "live", {"x": 1})

    h.write(fill)


def test_list_docs_of_one_name(h: Harness) -> None:
    _fill_docs(h)
    subs = ["$LATEST", "0000000001", "0000000002", "0000000010"]
    assert [s for s, _ in h.write(lambda tx: tx.list_docs("version", "a", "", 100))] == subs
    assert h.write(lambda tx: tx.list_docs("version", "a", "0000000001", 1)) == [
        ("0000000002", {"name": "a", "sub": "0000000002"})
    ]
    got = h.run(h.store.list_docs("version", "b", "$LATEST", 100))
    assert [(n, s) for n, s, _ in got] == [("b", s) for s in subs[1:]]
    assert h.run(h.store.list_docs("version", "zzz", "", 100)) == []
    assert h.run(h.store.list_docs("alias", "a", "", 100)) == [("a", "live", {"x": 1})]


def test_list_docs_across_names_pages_by_name_and_sub(h: Harness) -> None:
    _fill_docs(h)
    everything = [(n, s) for n in ("a", "b", "c", "é") for s in ("$LATEST", "0000000001", "0000000002", "0000000010")]
    assert [(n, s) for n, s, _ in h.run(h.store.list_docs("version", None, "", 1000))] == everything
    pages: list[tuple[str, str]] = []
    cursor = ("", "")
    while True:
        page = h.run(h.store.list_docs("version", None, cursor[1], 3, after_name=cursor[0]))
        if not page:
            break
        pages += [(n, s) for n, s, _ in page]
        cursor = (page[-1][0], page[-1][1])
    assert pages == everything
    # after a whole name: sub "" sorts before every sub
    assert [n for n, _, _ in h.run(h.store.list_docs("version", None, "\U0010ffff", 100, after_name="b"))] == ["c"] * 4 + ["é"] * 4


def test_delete_docs_removes_every_sub_of_one_name(h: Harness) -> None:
    _fill_docs(h)
    h.write(lambda tx: tx.delete_docs("version", "a"))
    assert h.run(h.store.list_docs("version", "a", "", 100)) == []
    assert len(h.run(h.store.list_docs("version", "b", "", 100))) == 4
    assert h.run(h.store.get_doc("alias", "a", "live")) == {"x": 1}


def test_doc_blobs_are_referenced_until_the_last_document_goes(h: Harness) -> None:
    assert h.write(lambda tx: tx.put_doc("function", "f", "", {}, blob_id="zip1")) == []
    assert h.write(lambda tx: tx.put_doc("version", "f", "1", {}, blob_id="zip1")) == []
    assert set(h.store.referenced_blob_ids()) == {"zip1"}
    # $LATEST moves to new code: zip1 still referenced by version 1
    assert h.write(lambda tx: tx.put_doc("function", "f", "", {}, blob_id="zip2")) == []
    assert set(h.store.referenced_blob_ids()) == {"zip1", "zip2"}
    assert h.write(lambda tx: tx.put_doc("function", "f", "", {"same": 1}, blob_id="zip2")) == []
    assert h.write(lambda tx: tx.delete_doc("version", "f", "1")) == ["zip1"]
    assert set(h.store.referenced_blob_ids()) == {"zip2"}
    h.write(lambda tx: tx.put_doc("version", "f", "2", {}, blob_id="zip2"))
    h.write(lambda tx: tx.put_doc("version", "f", "3", {}, blob_id="zip3"))
    assert h.write(lambda tx: tx.delete_docs("version", "f")) == ["zip3"]  # zip2: still $LATEST
    assert h.write(lambda tx: tx.put_doc("function", "f", "", {}, blob_id=None)) == ["zip2"]
    assert set(h.store.referenced_blob_ids()) == set()


def test_docs_survive_reopen(h: Harness) -> None:
    h.write(lambda tx: tx.put_doc("function", "f", "", {"k": "v"}, blob_id="zip"))
    h.reopen()
    assert h.run(h.store.get_doc("function", "f", "")) == {"k": "v"}
    assert set(h.store.referenced_blob_ids()) == {"zip"}


def test_failed_write_keeps_no_docs(h: Harness) -> None:
    def fn(tx: MetaTx) -> None:
        tx.put_doc("function", "ghost", "", {}, blob_id="zip")
        tx.enqueue_invocation(QueuedInvocation("q", "ghost", None, b"{}", NOW))
        raise Boom()

    with pytest.raises(Boom):
        h.write(fn)
    assert h.run(h.store.get_doc("function", "ghost", "")) is None
    assert h.run(h.store.queue_length()) == 0
    assert set(h.store.referenced_blob_ids()) == set()


# --- the functions domain: the async invocation queue --------------------------------------------


def test_invocation_queue(h: Harness) -> None:
    first = QueuedInvocation("i1", "f", None, b'{"a": 1}', NOW, 0, NOW + 5, {"request_id": "r1"})
    second = QueuedInvocation("i2", "f", "live", b"\x00\xff", NOW, 0, NOW, {})
    third = QueuedInvocation("i3", "g", "3", b"", NOW, 1, NOW + 60, {"n": [1]})
    h.write(lambda tx: [tx.enqueue_invocation(q) for q in (first, second, third)])
    assert h.run(h.store.queue_length()) == 3
    assert h.run(h.store.due_invocations(NOW, 10)) == [second]
    assert h.run(h.store.due_invocations(NOW + 5, 10)) == [second, first]
    assert h.run(h.store.due_invocations(NOW + 100, 2)) == [second, first]
    assert h.run(h.store.due_invocations(NOW + 100, 10)) == [second, first, third]
    h.write(lambda tx: tx.reschedule_invocation("i2", 1, NOW + 30))
    assert h.run(h.store.due_invocations(NOW + 30, 10)) == [first, QueuedInvocation("i2", "f", "live", b"\x00\xff", NOW, 1, NOW + 30, {})]
    h.write(lambda tx: tx.reschedule_invocation("i2", 2, NOW + 40, meta={"error": "x"}))
    h.write(lambda tx: tx.reschedule_invocation("missing", 2, NOW))  # a no-op
    assert h.run(h.store.due_invocations(NOW + 100, 10))[1] == QueuedInvocation(
        "i2", "f", "live", b"\x00\xff", NOW, 2, NOW + 40, {"error": "x"}
    )
    h.write(lambda tx: tx.delete_invocation("i1"))
    h.write(lambda tx: tx.delete_invocation("i1"))  # idempotent
    assert h.run(h.store.queue_length()) == 2
    h.reopen()
    assert [q.id for q in h.run(h.store.due_invocations(NOW + 100, 10))] == ["i2", "i3"]


def test_enqueue_same_id_replaces(h: Harness) -> None:
    h.write(lambda tx: tx.enqueue_invocation(QueuedInvocation("i", "f", None, b"1", NOW)))
    h.write(lambda tx: tx.enqueue_invocation(QueuedInvocation("i", "f", None, b"2", NOW)))
    assert [q.payload for q in h.run(h.store.due_invocations(NOW, 10))] == [b"2"]

