-- Web sessions ended by signing out: the token's SHA-256, kept until the token would have
-- expired anyway, so a copied cookie stops working at once.
CREATE TABLE revoked_sessions (
    digest     TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
