//! API keys made by an admin: kept by the SHA-256 of their secret, never the secret.

use serde::Serialize;
use sqlx::FromRow;

use super::Store;
use crate::store::db::{exec, fetch};
use crate::store::Result;

/// One managed API key as stored.
#[derive(Debug, Clone, Serialize, FromRow, PartialEq)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    /// `admin`, `editor` or `reader`.
    pub role: String,
    /// JSON array of knowledge-base ids; `None`: every knowledge base.
    #[serde(skip)]
    pub knowledge_bases: Option<String>,
    /// Hex SHA-256 of the secret.
    #[serde(skip)]
    pub digest: String,
    /// The secret's last characters, to tell keys apart.
    pub hint: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

const COLUMNS: &str = "id, name, role, knowledge_bases, digest, hint, created_at, expires_at, \
                       revoked_at, last_used_at";

impl Store {
    pub async fn insert_key(&self, key: &ApiKeyRow) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "INSERT INTO api_keys (id, name, role, knowledge_bases, digest, hint, created_at, \
                 expires_at, revoked_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            )
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.role)
            .bind(&key.knowledge_bases)
            .bind(&key.digest)
            .bind(&key.hint)
            .bind(&key.created_at)
            .bind(&key.expires_at)
            .bind(&key.revoked_at)
            .bind(&key.last_used_at)
        )?;
        Ok(())
    }

    /// Every key, newest first, revoked ones too.
    pub async fn list_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id");
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_as::<_, ApiKeyRow>(&sql)
        )?)
    }

    pub async fn key_by_digest(&self, digest: &str) -> Result<Option<ApiKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE digest = $1");
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_as::<_, ApiKeyRow>(&sql).bind(digest)
        )?)
    }

    pub async fn key_by_id(&self, id: &str) -> Result<Option<ApiKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_as::<_, ApiKeyRow>(&sql).bind(id)
        )?)
    }

    /// Revokes a key at `now`; false when there is no such key or it was revoked already.
    pub async fn revoke_key(&self, id: &str, now: &str) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
        )?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn key_used(&self, id: &str, now: &str) -> Result<()> {
        exec!(
            self,
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
        )?;
        Ok(())
    }
}
