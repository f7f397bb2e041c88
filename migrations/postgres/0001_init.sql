-- The PostgreSQL schema: the same tables as the SQLite set in `migrations/` (its 0001 to 0010
-- folded into one), with BIGINT for every integer, BOOLEAN for flags and BYTEA for blobs.
-- Timestamps stay RFC 3339 text made by ragd, so the queries are the same in both dialects.

CREATE TABLE knowledge_bases (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL DEFAULT '',
    chunk_size         BIGINT NOT NULL,
    chunk_overlap      BIGINT NOT NULL,
    created_at         TEXT NOT NULL,
    system_prompt      TEXT NOT NULL DEFAULT '',
    retrieval          TEXT NOT NULL DEFAULT '{}',
    embedding_preset   TEXT,
    embedding_model    TEXT NOT NULL DEFAULT '',
    embedding_dim      BIGINT NOT NULL DEFAULT 0,
    embedding_provider TEXT NOT NULL DEFAULT 'local',
    embedding_config   TEXT NOT NULL DEFAULT '',
    generation         BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    kb_id       TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    path        TEXT,
    urls        TEXT NOT NULL DEFAULT '[]',
    include     TEXT NOT NULL DEFAULT '[]',
    exclude     TEXT NOT NULL DEFAULT '[]',
    schedule    TEXT,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    last_fire   TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX sources_by_kb ON sources (kb_id, created_at);

CREATE TABLE documents (
    id           TEXT PRIMARY KEY,
    kb_id        TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    format       TEXT,
    status       TEXT NOT NULL DEFAULT 'queued',
    error        TEXT,
    chunk_count  BIGINT NOT NULL DEFAULT 0,
    page_count   BIGINT,
    token_count  BIGINT NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    source_id    TEXT REFERENCES sources(id) ON DELETE SET NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kb_id, content_hash)
);
CREATE INDEX documents_by_kb ON documents (kb_id, created_at);
CREATE INDEX documents_by_hash ON documents (content_hash);
CREATE INDEX documents_by_source ON documents (source_id);

CREATE TABLE chunks (
    id          TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal     BIGINT NOT NULL,
    page        BIGINT,
    heading     TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    token_count BIGINT NOT NULL
);
CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL DEFAULT '',
    knowledge_bases TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    reasoning       TEXT,
    citations       TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

CREATE TABLE source_runs (
    id            BIGSERIAL PRIMARY KEY,
    source_id     TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    trigger       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued',
    phase         TEXT,
    files_total   BIGINT,
    files_scanned BIGINT NOT NULL DEFAULT 0,
    added         BIGINT NOT NULL DEFAULT 0,
    updated       BIGINT NOT NULL DEFAULT 0,
    deleted       BIGINT NOT NULL DEFAULT 0,
    renamed       BIGINT NOT NULL DEFAULT 0,
    unchanged     BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    duration_ms   BIGINT
);
CREATE INDEX source_runs_by_source ON source_runs (source_id, id);

CREATE TABLE source_run_errors (
    -- named as SQLite's implicit row id, so one query orders both
    rowid   BIGSERIAL PRIMARY KEY,
    run_id  BIGINT NOT NULL REFERENCES source_runs(id) ON DELETE CASCADE,
    path    TEXT NOT NULL,
    error   TEXT NOT NULL
);
CREATE INDEX source_run_errors_by_run ON source_run_errors (run_id);

CREATE TABLE source_files (
    source_id     TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    content_hash  TEXT NOT NULL,
    document_id   TEXT REFERENCES documents(id) ON DELETE SET NULL,
    changed_run   BIGINT,
    etag          TEXT,
    last_modified TEXT,
    PRIMARY KEY (source_id, path)
);
CREATE INDEX source_files_by_document ON source_files (document_id);

CREATE TABLE reindexes (
    id                 BIGSERIAL PRIMARY KEY,
    kb_id              TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    generation         BIGINT NOT NULL,
    chunk_size         BIGINT NOT NULL,
    chunk_overlap      BIGINT NOT NULL,
    embedding_preset   TEXT,
    embedding_model    TEXT NOT NULL,
    embedding_dim      BIGINT NOT NULL,
    embedding_provider TEXT NOT NULL,
    embedding_config   TEXT NOT NULL,
    from_generation    BIGINT NOT NULL,
    from_model         TEXT NOT NULL,
    from_dim           BIGINT NOT NULL,
    from_config        TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'running',
    total              BIGINT NOT NULL DEFAULT 0,
    done               BIGINT NOT NULL DEFAULT 0,
    embedded           BIGINT NOT NULL DEFAULT 0,
    note               TEXT,
    error              TEXT,
    cleaned            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         TEXT NOT NULL,
    finished_at        TEXT
);
CREATE UNIQUE INDEX reindexes_one_active ON reindexes (kb_id) WHERE status IN ('running', 'cancelling');
CREATE INDEX reindexes_by_kb ON reindexes (kb_id, id);

CREATE TABLE reindex_docs (
    reindex_id   BIGINT NOT NULL REFERENCES reindexes(id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    content_hash TEXT NOT NULL,
    format       TEXT NOT NULL,
    chunk_count  BIGINT NOT NULL,
    page_count   BIGINT NOT NULL,
    token_count  BIGINT NOT NULL,
    PRIMARY KEY (reindex_id, document_id)
);

CREATE TABLE reindex_chunks (
    reindex_id  BIGINT NOT NULL REFERENCES reindexes(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    ordinal     BIGINT NOT NULL,
    page        BIGINT,
    heading     TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    token_count BIGINT NOT NULL
);
CREATE INDEX reindex_chunks_by_document ON reindex_chunks (reindex_id, document_id);

CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    document_id TEXT REFERENCES documents(id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'queued',
    attempts    BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    run_id      BIGINT REFERENCES source_runs(id) ON DELETE SET NULL,
    not_before  TEXT,
    waits       BIGINT NOT NULL DEFAULT 0,
    reindex_id  BIGINT REFERENCES reindexes(id) ON DELETE CASCADE,
    -- the replica running it, and until when its claim holds unless renewed
    worker      TEXT,
    lease_until TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_run ON jobs (run_id, status);
CREATE INDEX jobs_claim ON jobs (status, (run_id IS NOT NULL), id);
CREATE INDEX jobs_by_document ON jobs (document_id);

CREATE TABLE embedding_cache (
    model   TEXT NOT NULL,
    key     BYTEA NOT NULL,
    vector  BYTEA NOT NULL,
    used_at TEXT NOT NULL,
    PRIMARY KEY (model, key)
);

-- Work done once across replicas (the scheduler, index maintenance, the embedded index's
-- owner): whoever holds the row until `until` does it.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
);
