"""Transaction functions run on the event loop that queued them (meta/sqlite.py's module docstring),
and still run, in the writer thread, when that loop cannot: jobs of several loops in one batch, a
loop blocked in `close`, a loop that has stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from bayou.meta.records import BucketRecord
from bayou.meta.sqlite import SqliteMetaStore


def _bucket(name: str) -> BucketRecord:
    return BucketRecord(name, 1.0, "us-east-1", "o")


def test_functions_run_on_the_queuing_loops_thread(tmp_path: Path) -> None:
    store = SqliteMetaStore(tmp_path / "m.db", fsync=False)
    try:
        def record_thread(tx) -> int:
            tx.insert_bucket(_bucket(f"b-{threading.get_ident()}-{time.monotonic_ns()}"))
            return threading.get_ident()

        async def main() -> list[int]:
            return await asyncio.gather(*(store.write(record_thread) for _ in range(20)))

        ran_on = asyncio.run(main())
        assert set(ran_on) == {threading.get_ident()}  # asyncio.run's loop runs in this thread
        assert len(asyncio.run(store.list_buckets())) == 20
    finally:
        store.close()


def test_a_failing_function_is_undone_alone_on_the_loop_too(tmp_path: Path) -> None:
    store = SqliteMetaStore(tmp_path / "m.db", fsync=False)
    try:
        def fail(tx) -> None:
            tx.insert_bucket(_bucket("undone"))
            raise ValueError("no")

        async def main() -> list[object]:
            return await asyncio.gather(
                store.write(lambda tx: tx.insert_bucket(_bucket("kept1"))),
                store.write(fail),
                store.write(lambda tx: tx.insert_bucket(_bucket("kept2"))),
                return_exceptions=True,
            )

        results = asyncio.run(main())
        assert isinstance(results[1], ValueError)
        assert sorted(b.name for b in asyncio.run(store.list_buckets())) == ["kept1", "kept2"]
    finally:
        store.close()


def test_jobs_of_several_loops_all_commit(tmp_path: Path) -> None:
    store = SqliteMetaStore(tmp_path / "m.db", fsync=False)
    try:
        def writer(prefix: str) -> None:
            async def main() -> None:
                await asyncio.gather(
                    *(store.write(lambda tx, i=i: tx.insert_bucket(_bucket(f"{prefix}-{i}"))) for i in range(50))
                )

            asyncio.run(main())

        threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        assert len(asyncio.run(store.list_buckets())) == 200
    finally:
        store.close()


def test_close_from_the_loop_thread_with_a_write_queued_does_not_wait_for_that_loop(tmp_path: Path) -> None:
    """The loop is blocked inside close(): the writer must run the batch itself, not wait for the loop."""
    path = tmp_path / "m.db"
    store = SqliteMetaStore(path, fsync=False)

    async def main() -> float:
        task = asyncio.get_running_loop().create_task(store.write(lambda tx: tx.insert_bucket(_bucket("late"))))
        await asyncio.sleep(0)  # the job is queued; the writer picks it up and hands it to this loop ...
        started = time.monotonic()
        store.close()  # ... which is blocked here
        elapsed = time.monotonic() - started
        task.cancel()
        return elapsed

    elapsed = asyncio.run(main())
    assert elapsed < 2  # the writer did not wait for the join's 10 s timeout
    reopened = SqliteMetaStore(path, fsync=False)
    try:
        assert [b.name for b in asyncio.run(reopened.list_buckets())] == ["late"]
    finally:
        reopened.close()


def test_a_stopped_loop_does_not_strand_its_batch(tmp_path: Path) -> None:
    """A loop that stops with a job in flight: the writer notices and runs the job itself."""
    path = tmp_path / "m.db"
    store = SqliteMetaStore(path, fsync=False)
    loop = asyncio.new_event_loop()
    try:
        def slow(tx) -> None:
            tx.insert_bucket(_bucket("stranded"))

        # Queue a job and stop the loop before the writer's hand-off callback can run on it.
        future = loop.create_task(store.write(slow))
        loop.call_soon(loop.stop)
        loop.run_forever()  # runs the task up to its await (queued), then stops
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not asyncio.run(store.list_buckets()):
            time.sleep(0.02)
        assert [b.name for b in asyncio.run(store.list_buckets())] == ["stranded"]
        future.cancel()
    finally:
        store.close()
        loop.close()


@pytest.mark.parametrize("jobs", [1, 30])
def test_results_come_back_to_their_callers(tmp_path: Path, jobs: int) -> None:
    store = SqliteMetaStore(tmp_path / "m.db", fsync=False)
    try:
        async def main() -> list[int]:
            return await asyncio.gather(*(store.write(lambda tx, i=i: i * i) for i in range(jobs)))

        assert asyncio.run(main()) == [i * i for i in range(jobs)]
    finally:
        store.close()
