-- Key/value metadata per document (a JSON object: strings, numbers, dates, lists of strings),
-- set at upload, by PATCH, from Markdown front matter or a source's sidecar file; searches
-- filter on it.
ALTER TABLE documents ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
