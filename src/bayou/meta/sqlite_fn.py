"""SQLite side of the functions domain (migration 5): JSON documents and the async invocation queue.

Shared by the transaction (`SqliteTx`, writer connection) and the store's reads (reader connection),
so the SQL lives in one place. A document's `blob_id` column is what keeps a code zip alive: a blob
stays referenced while any row names it, and a write that removes the last such row reports the
blob id back so that the caller queues its deletion in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from bayou.meta.records import QueuedInvocation

QUEUE_COLUMNS = "id, function, qualifier, payload, enqueued_at, attempts, not_before, meta"


def get_doc(conn: sqlite3.Connection, kind: str, name: str, sub: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT doc FROM fn_docs WHERE kind = ? AND name = ? AND sub = ?", (kind, name, sub)).fetchone()
    return json.loads(row[0]) if row else None


def _unreferenced(conn: sqlite3.Connection, blob_ids: set[str]) -> list[str]:
    return sorted(
        b for b in blob_ids if conn.execute("SELECT 1 FROM fn_docs WHERE blob_id = ? LIMIT 1", (b,)).fetchone() is None
    )


def put_doc(
    conn: sqlite3.Connection, kind: str, name: str, sub: str, doc: dict[str, Any], blob_id: str | None
) -> list[str]:
    old = conn.execute(
        "SELECT blob_id FROM fn_docs WHERE kind = ? AND name = ? AND sub = ?", (kind, name, sub)
    ).fetchone()
    conn.execute(
        "INSERT OR REPLACE INTO fn_docs (kind, name, sub, doc, blob_id) VALUES (?, ?, ?, ?, ?)",
        (kind, name, sub, json.dumps(doc), blob_id),
    )
    if old is None or old[0] is None or old[0] == blob_id:
        return []
    return _unreferenced(conn, {old[0]})


def delete_docs(conn: sqlite3.Connection, kind: str, name: str, sub: str | None) -> list[str]:
    where, args = "kind = ? AND name = ?", [kind, name]
    if sub is not None:
        where += " AND sub = ?"
        args.append(sub)
    blobs = {r[0] for r in conn.execute(f"SELECT blob_id FROM fn_docs WHERE {where} AND blob_id IS NOT NULL", args)}
    conn.execute(f"DELETE FROM fn_docs WHERE {where}", args)
    return _unreferenced(conn, blobs)


def list_docs(
    conn: sqlite3.Connection, kind: str, name: str | None, after_name: str, after_sub: str, limit: int
) -> list[tuple[str, str, dict[str, Any]]]:
    if name is not None:
        rows = conn.execute(
            "SELECT name, sub, doc FROM fn_docs WHERE kind = ? AND name = ? AND sub > ? ORDER BY sub LIMIT ?",
            (kind, name, after_sub, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT name, sub, doc FROM fn_docs WHERE kind = ? AND (name > ? OR (name = ? AND sub > ?)) "
            "ORDER BY name, sub LIMIT ?",
            (kind, after_name, after_name, after_sub, limit),
        ).fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def docs_of_groups(conn: sqlite3.Connection, groups: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """One statement for several (kind, name) groups. UNION ALL of primary-key range reads, merged
    in key order without a sort (`kind IN (...) AND name IN (...)` plans an index search too, but
    costs several times as much per execution)."""
    unique = list(dict.fromkeys(groups))
    if not unique:
        return []
    sql = " UNION ALL ".join(["SELECT kind, name, sub, doc FROM fn_docs WHERE kind = ? AND name = ?"] * len(unique))
    rows = conn.execute(sql + " ORDER BY kind, name, sub", [value for group in unique for value in group]).fetchall()
    return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


def doc_blob_ids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT blob_id FROM fn_docs WHERE blob_id IS NOT NULL")]


def enqueue(conn: sqlite3.Connection, inv: QueuedInvocation) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO fn_queue ({QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (inv.id, inv.function, inv.qualifier, inv.payload, inv.enqueued_at, inv.attempts, inv.not_before,
         json.dumps(inv.meta)),
    )


def reschedule(
    conn: sqlite3.Connection, invocation_id: str, attempts: int, not_before: float, meta: dict[str, Any] | None
) -> None:
    if meta is None:
        conn.execute(
            "UPDATE fn_queue SET attempts = ?, not_before = ? WHERE id = ?", (attempts, not_before, invocation_id)
        )
    else:
        conn.execute(
            "UPDATE fn_queue SET attempts = ?, not_before = ?, meta = ? WHERE id = ?",
            (attempts, not_before, json.dumps(meta), invocation_id),
        )


def due(conn: sqlite3.Connection, now: float, limit: int) -> list[QueuedInvocation]:
    rows = conn.execute(
        f"SELECT {QUEUE_COLUMNS} FROM fn_queue WHERE not_before <= ? ORDER BY not_before, id LIMIT ?", (now, limit)
    ).fetchall()
    return [
        QueuedInvocation(id=r[0], function=r[1], qualifier=r[2], payload=bytes(r[3]), enqueued_at=r[4],
                         attempts=r[5], not_before=r[6], meta=json.loads(r[7]))
        for r in rows
    ]


def queue_length(conn: sqlite3.Connection) -> int:
    (count,) = conn.execute("SELECT COUNT(*) FROM fn_queue").fetchone()
    return int(count)
