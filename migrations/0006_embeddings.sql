-- Each knowledge base's embedding model: the preset it was chosen by ('default' for the
-- server's [embedding], a name from [embedding_presets], or NULL for inline settings), the
-- model's name (which names its vector space), its vector size, its provider, and the
-- settings it was created with (JSON, secrets included; never shown by the API). Rows made
-- before this migration are filled in at start with the server default they were indexed by.
ALTER TABLE knowledge_bases ADD COLUMN embedding_preset TEXT;
ALTER TABLE knowledge_bases ADD COLUMN embedding_model TEXT NOT NULL DEFAULT '';
ALTER TABLE knowledge_bases ADD COLUMN embedding_dim INTEGER NOT NULL DEFAULT 0;
ALTER TABLE knowledge_bases ADD COLUMN embedding_provider TEXT NOT NULL DEFAULT 'local';
ALTER TABLE knowledge_bases ADD COLUMN embedding_config TEXT NOT NULL DEFAULT '';

-- A job that waits for something outside ragd (an embedding server that is down) is not
-- claimed before `not_before`; `waits` counts its waits, for the backoff.
ALTER TABLE jobs ADD COLUMN not_before TEXT;
ALTER TABLE jobs ADD COLUMN waits INTEGER NOT NULL DEFAULT 0;
