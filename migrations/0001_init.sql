-- ragd metadata: knowledge bases, documents, their chunks, and the durable job queue.

CREATE TABLE knowledge_bases (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    description   TEXT NOT NULL DEFAULT '',
    chunk_size    INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE documents (
    id           TEXT PRIMARY KEY,
    kb_id        TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    format       TEXT,
    -- queued -> parsing -> embedding -> ready, or failed
    status       TEXT NOT NULL DEFAULT 'queued',
    error        TEXT,
    chunk_count  INTEGER NOT NULL DEFAULT 0,
    page_count   INTEGER,
    token_count  INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (kb_id, content_hash)
);
CREATE INDEX documents_by_kb ON documents (kb_id, created_at);
CREATE INDEX documents_by_hash ON documents (content_hash);

CREATE TABLE chunks (
    id          TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    page        INTEGER,
    heading     TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    token_count INTEGER NOT NULL
);
CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);

-- The durable queue: a job is claimed by setting it running; jobs found running at start-up
-- were cut off by a crash and are queued again.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    document_id TEXT REFERENCES documents(id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, id);
