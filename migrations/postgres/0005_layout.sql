-- Reading documents the way RAGFlow does: each knowledge base's chunk template (general, qa,
-- table, parent_child) and the languages OCR reads its scanned pages and images in ('' for
-- the server's default, else Tesseract's names joined by '+'), and the template a re-index
-- switches to.
ALTER TABLE knowledge_bases ADD COLUMN chunk_template TEXT NOT NULL DEFAULT 'general';
ALTER TABLE knowledge_bases ADD COLUMN ocr_languages TEXT NOT NULL DEFAULT '';
ALTER TABLE reindexes ADD COLUMN chunk_template TEXT NOT NULL DEFAULT 'general';
