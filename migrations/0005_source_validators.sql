-- HTTP validators of a URL source's last fetched body: the next run asks "changed since?"
-- (If-None-Match / If-Modified-Since) and a 304 skips the download. NULL for folder files.
ALTER TABLE source_files ADD COLUMN etag TEXT;
ALTER TABLE source_files ADD COLUMN last_modified TEXT;
