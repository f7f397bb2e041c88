-- Who made a conversation: the key's identity (a prefix of its SHA-256) for reader keys, so
-- readers see their own; empty for the admin key and servers without keys (they see all).
ALTER TABLE conversations ADD COLUMN owner TEXT;
