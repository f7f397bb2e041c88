-- API keys made by an admin (`/api/v1/keys`, `ragd key`), beside the configured ones. The
-- secret is shown once and kept only as its SHA-256; `knowledge_bases` is a JSON array of the
-- knowledge-base ids the key may touch (NULL: all); a revoked key stays listed.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    knowledge_bases TEXT,
    digest          TEXT NOT NULL UNIQUE,
    hint            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT,
    last_used_at    TEXT
);
