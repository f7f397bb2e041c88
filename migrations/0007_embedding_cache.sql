-- Vectors a model computed, by the SHA-256 of the chunk text it embedded (whitespace runs
-- collapsed): re-parsing, a changed file in a source and re-indexing embed only new text.
-- `vector` holds little-endian f32s.
CREATE TABLE embedding_cache (
    model   TEXT NOT NULL,
    key     BLOB NOT NULL,
    vector  BLOB NOT NULL,
    used_at TEXT NOT NULL,
    PRIMARY KEY (model, key)
) WITHOUT ROWID;
