"""Numbered schema migrations for the SQLite metadata store (DESIGN.md: versioned persisted formats)."""

MIGRATIONS: list[str] = [
    # 1: buckets, current objects, inline blobs, the outbox.
    """
    CREATE TABLE buckets (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        region TEXT NOT NULL,
        owner TEXT NOT NULL,
        versioning TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE objects (
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        version_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        blob_id TEXT NOT NULL,
        inline INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        system_headers TEXT NOT NULL,
        user_metadata TEXT NOT NULL,
        checksum TEXT,
        storage_class TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE inline_blobs (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX outbox_kind ON outbox (kind, id);
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: multipart uploads, their parts, and the part lists of completed multipart objects.
    """
    ALTER TABLE objects ADD COLUMN parts_count INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        created_at REAL NOT NULL,
        attributes TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_type TEXT
    );
    CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
    CREATE TABLE parts (
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum TEXT,
        last_modified REAL NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID;
    CREATE TABLE manifests (
        manifest_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        start INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum TEXT,
        PRIMARY KEY (manifest_id, part_number)
    ) WITHOUT ROWID;
    """,
    # 3: versioning (noncurrent versions and delete markers), object and bucket tags.
    """
    ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE objects ADD COLUMN tags TEXT;
    ALTER TABLE buckets ADD COLUMN tags TEXT;
    CREATE TABLE versions (
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        version_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        blob_id TEXT NOT NULL,
        inline INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        system_headers TEXT NOT NULL,
        user_metadata TEXT NOT NULL,
        checksum TEXT,
        storage_class TEXT NOT NULL,
        parts_count INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        tags TEXT,
        delete_marker INTEGER NOT NULL,
        PRIMARY KEY (bucket, key, seq DESC)
    ) WITHOUT ROWID;
    CREATE INDEX versions_by_id ON versions (bucket, key, version_id);
    """,
    # 4: completed multipart uploads, so that a retried Complete answers as the first one did.
    """
    CREATE TABLE completed_uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        result TEXT NOT NULL,
        completed_at REAL NOT NULL
    );
    """,
    # 5: the functions domain: JSON documents (functions, versions, aliases, settings, ...) and the
    # queue of asynchronous invocations. `blob_id` names the blob a document keeps alive (a code zip).
    """
    CREATE TABLE fn_docs (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        sub TEXT NOT NULL,
        doc TEXT NOT NULL,
        blob_id TEXT,
        PRIMARY KEY (kind, name, sub)
    ) WITHOUT ROWID;
    CREATE INDEX fn_docs_blob ON fn_docs (blob_id) WHERE blob_id IS NOT NULL;
    CREATE TABLE fn_queue (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        qualifier TEXT,
        payload BLOB NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL,
        not_before REAL NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX fn_queue_due ON fn_queue (not_before, id);
    """,
]
