-- Re-indexing in place: a knowledge base's points carry an index key, its id for generation
-- 0 and `id@N` after N re-indexes, so a new generation is built beside the old one in the
-- same index (or in another model's) while searches keep using the old.
ALTER TABLE knowledge_bases ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- One re-index of a knowledge base: its target settings (the embedding model as in
-- knowledge_bases, the chunking), its state and progress. `from_*` name the generation it
-- replaces, whose points are deleted after the switch (`cleaned` says that was done, or,
-- for one cancelled or failed, that the new generation's points were deleted).
CREATE TABLE reindexes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_id              TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    generation         INTEGER NOT NULL,
    chunk_size         INTEGER NOT NULL,
    chunk_overlap      INTEGER NOT NULL,
    embedding_preset   TEXT,
    embedding_model    TEXT NOT NULL,
    embedding_dim      INTEGER NOT NULL,
    embedding_provider TEXT NOT NULL,
    embedding_config   TEXT NOT NULL,
    from_generation    INTEGER NOT NULL,
    from_model         TEXT NOT NULL,
    from_dim           INTEGER NOT NULL,
    from_config        TEXT NOT NULL,
    -- running -> done; running -> cancelling -> cancelled; running -> failed
    status             TEXT NOT NULL DEFAULT 'running',
    total              INTEGER NOT NULL DEFAULT 0,
    done               INTEGER NOT NULL DEFAULT 0,
    embedded           INTEGER NOT NULL DEFAULT 0,
    note               TEXT,
    error              TEXT,
    cleaned            INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    finished_at        TEXT
);
CREATE UNIQUE INDEX reindexes_one_active ON reindexes (kb_id) WHERE status IN ('running', 'cancelling');
CREATE INDEX reindexes_by_kb ON reindexes (kb_id, id);

-- Documents of the new generation whose points are written and flushed, with the chunks
-- that replace theirs at the switch. A document that is ingested again loses its row here
-- and is redone.
CREATE TABLE reindex_docs (
    reindex_id   INTEGER NOT NULL REFERENCES reindexes(id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    content_hash TEXT NOT NULL,
    format       TEXT NOT NULL,
    chunk_count  INTEGER NOT NULL,
    page_count   INTEGER NOT NULL,
    token_count  INTEGER NOT NULL,
    PRIMARY KEY (reindex_id, document_id)
) WITHOUT ROWID;

CREATE TABLE reindex_chunks (
    reindex_id  INTEGER NOT NULL REFERENCES reindexes(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    page        INTEGER,
    heading     TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    token_count INTEGER NOT NULL
);
CREATE INDEX reindex_chunks_by_document ON reindex_chunks (reindex_id, document_id);

-- The job that drives a re-index.
ALTER TABLE jobs ADD COLUMN reindex_id INTEGER REFERENCES reindexes(id) ON DELETE CASCADE;
