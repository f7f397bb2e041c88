-- Sources: folders and URL lists a knowledge base keeps in sync, their runs, and the files
-- each source last saw.

CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    kb_id       TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    -- 'folder' or 'urls'
    kind        TEXT NOT NULL,
    path        TEXT,
    -- JSON arrays
    urls        TEXT NOT NULL DEFAULT '[]',
    include     TEXT NOT NULL DEFAULT '[]',
    exclude     TEXT NOT NULL DEFAULT '[]',
    schedule    TEXT,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- the latest scheduled fire time already handled (RFC 3339), so a fire runs once
    last_fire   TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX sources_by_kb ON sources (kb_id, created_at);

-- One sync of a source. status: queued -> running -> done | failed | cancelled.
CREATE TABLE source_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id     TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    trigger       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued',
    -- 'scanning' or 'ingesting' while running
    phase         TEXT,
    files_total   INTEGER,
    files_scanned INTEGER NOT NULL DEFAULT 0,
    added         INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    renamed       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at    TEXT,
    finished_at   TEXT,
    duration_ms   INTEGER
);
CREATE INDEX source_runs_by_source ON source_runs (source_id, id);

CREATE TABLE source_run_errors (
    run_id  INTEGER NOT NULL REFERENCES source_runs(id) ON DELETE CASCADE,
    path    TEXT NOT NULL,
    error   TEXT NOT NULL
);
CREATE INDEX source_run_errors_by_run ON source_run_errors (run_id);

-- What a source saw last: one row per path (relative path or URL). Several paths may share
-- a document (same content); `changed_run` is the run that last added or changed the row.
CREATE TABLE source_files (
    source_id    TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    document_id  TEXT REFERENCES documents(id) ON DELETE SET NULL,
    changed_run  INTEGER,
    PRIMARY KEY (source_id, path)
);
CREATE INDEX source_files_by_document ON source_files (document_id);

-- Documents a source brought in (deleted with it); NULL for uploads.
ALTER TABLE documents ADD COLUMN source_id TEXT REFERENCES sources(id) ON DELETE SET NULL;
-- The run a job belongs to (sync jobs and the ingest jobs a run queued).
ALTER TABLE jobs ADD COLUMN run_id INTEGER REFERENCES source_runs(id) ON DELETE SET NULL;
CREATE INDEX jobs_by_run ON jobs (run_id, status);
-- Claiming: uploads before the jobs of source runs, oldest first.
CREATE INDEX jobs_claim ON jobs (status, (run_id IS NOT NULL), id);
