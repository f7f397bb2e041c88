-- Retrieval defaults per knowledge base: a JSON object of search options (fusion, rerank,
-- weights, thresholds) that requests may override.
ALTER TABLE knowledge_bases ADD COLUMN retrieval TEXT NOT NULL DEFAULT '{}';
