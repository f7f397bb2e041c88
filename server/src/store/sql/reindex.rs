//! Re-indexes in the store: the new generation's documents and chunks are kept beside the
//! knowledge base's own rows until one transaction switches them in.

use super::{Store, DOC_COLUMNS};
use crate::store::db::{exec, fetch, Tx};
use crate::store::{Document, NewReindexRow, Reindex, ReindexStatus, Result, StoreError, Switch};

/// A re-index with its progress: counted live while it runs, as stored once it ended.
const REINDEX_SELECT: &str = "SELECT r.id, r.kb_id, r.generation, r.chunk_size, r.chunk_overlap, r.chunk_template,
       r.embedding_preset, r.embedding_model, r.embedding_dim, r.embedding_provider, r.embedding_config,
       r.from_generation, r.from_model, r.from_dim, r.from_config, r.status,
       CASE WHEN r.status IN ('running', 'cancelling')
            THEN (SELECT COUNT(*) FROM documents d WHERE d.kb_id = r.kb_id AND d.status NOT IN ('failed', 'cancelled'))
            ELSE r.total END AS total,
       CASE WHEN r.status IN ('running', 'cancelling')
            THEN (SELECT COUNT(*) FROM reindex_docs x WHERE x.reindex_id = r.id)
            ELSE r.done END AS done,
       r.embedded, r.note, r.error, r.cleaned, r.created_at, r.finished_at
  FROM reindexes r";

/// Forgets what a re-index did for a document that is being ingested again or failed: the
/// re-index redoes it from the new version.
pub(super) async fn forget_document(tx: &mut Tx, doc_id: &str) -> Result<()> {
    exec!(tx tx, sqlx::query("DELETE FROM reindex_chunks WHERE document_id = $1")
        .bind(doc_id))?;
    exec!(tx tx, sqlx::query("DELETE FROM reindex_docs WHERE document_id = $1")
        .bind(doc_id))?;
    Ok(())
}

impl Store {
    /// Records a re-index and queues its job. A knowledge base has one running at a time
    /// (a second is a conflict). The new generation's number is above every one used before,
    /// so it never meets points a cancelled re-index left behind.
    pub async fn start_reindex(&self, row: &NewReindexRow<'_>) -> Result<Reindex> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        let used: i64 = fetch!(tx tx, fetch_one, sqlx::query_scalar(
            "SELECT COALESCE(MAX(generation), 0) FROM reindexes WHERE kb_id = $1",
        )
        .bind(&row.kb.id))?;
        let generation = used.max(row.kb.generation) + 1;
        let id: i64 = fetch!(tx tx, fetch_one, sqlx::query_scalar(
            "INSERT INTO reindexes (kb_id, generation, chunk_size, chunk_overlap, embedding_preset, embedding_model,
                 embedding_dim, embedding_provider, embedding_config, from_generation, from_model, from_dim, from_config, created_at,
                 chunk_template)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(&row.kb.id)
        .bind(generation)
        .bind(row.chunk_size)
        .bind(row.chunk_overlap)
        .bind(row.embedding.preset)
        .bind(row.embedding.model)
        .bind(row.embedding.dim)
        .bind(row.embedding.provider)
        .bind(row.embedding.config)
        .bind(row.kb.generation)
        .bind(&row.kb.embedding_model)
        .bind(row.kb.embedding_dim)
        .bind(&row.kb.embedding_config)
        .bind(&now)
        .bind(row.chunk_template))?;
        exec!(tx tx, sqlx::query("INSERT INTO jobs (kind, reindex_id, created_at) VALUES ('reindex', $1, $2)")
            .bind(id)
            .bind(&now))?;
        tx.commit().await?;
        self.get_reindex(id).await?.ok_or_else(StoreError::missing)
    }

    pub async fn get_reindex(&self, id: i64) -> Result<Option<Reindex>> {
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!("{REINDEX_SELECT} WHERE r.id = $1")).bind(id)
        )?)
    }

    /// The knowledge base's newest re-index, running or ended.
    pub async fn latest_reindex(&self, kb_id: &str) -> Result<Option<Reindex>> {
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "{REINDEX_SELECT} WHERE r.kb_id = $1 ORDER BY r.id DESC LIMIT 1"
            ))
            .bind(kb_id)
        )?)
    }

    /// The knowledge base's re-indexes, newest first, at most `limit`.
    pub async fn list_reindexes(&self, kb_id: &str, limit: i64) -> Result<Vec<Reindex>> {
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
                "{REINDEX_SELECT} WHERE r.kb_id = $1 ORDER BY r.id DESC LIMIT $2"
            ))
            .bind(kb_id)
            .bind(limit)
        )?)
    }

    /// The knowledge base's re-index that is running or being cancelled.
    pub async fn active_reindex(&self, kb_id: &str) -> Result<Option<Reindex>> {
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "{REINDEX_SELECT} WHERE r.kb_id = $1 AND r.status IN ('running', 'cancelling')"
            ))
            .bind(kb_id)
        )?)
    }

    /// Every re-index running or being cancelled.
    pub async fn active_reindexes(&self) -> Result<Vec<Reindex>> {
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
                "{REINDEX_SELECT} WHERE r.status IN ('running', 'cancelling')"
            ))
        )?)
    }

    /// Ended re-indexes whose leftover points (the old generation's after a switch, the new
    /// one's after a cancel or failure) are not deleted yet.
    pub async fn reindexes_to_clean(&self) -> Result<Vec<Reindex>> {
        Ok(fetch!(self, fetch_all, sqlx::query_as(&format!(
            "{REINDEX_SELECT} WHERE r.status IN ('done', 'cancelled', 'failed') AND r.cleaned = FALSE"
        )))?)
    }

    pub async fn mark_reindex_cleaned(&self, id: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("UPDATE reindexes SET cleaned = TRUE WHERE id = $1").bind(id)
        )?;
        Ok(())
    }

    /// Ready documents of the knowledge base the re-index has not done (in this version), at
    /// most `limit`.
    pub async fn reindex_todo(&self, r: &Reindex, limit: i64) -> Result<Vec<Document>> {
        Ok(fetch!(self, fetch_all, sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents d WHERE d.kb_id = $1 AND d.status = 'ready'
               AND NOT EXISTS (SELECT 1 FROM reindex_docs x WHERE x.reindex_id = $2 AND x.document_id = d.id
                               AND x.content_hash = d.content_hash)
             ORDER BY d.id LIMIT $3"
        ))
        .bind(&r.kb_id)
        .bind(r.id)
        .bind(limit))?)
    }

    /// Records a document of the new generation whose points are written and flushed. Refused
    /// (false) when the re-index stopped, or the document is gone, not ready, or changed
    /// since `content_hash` was read: its points must then be deleted by the caller.
    pub async fn record_reindexed(
        &self,
        reindex_id: i64,
        doc_id: &str,
        content_hash: &str,
        outcome: &ingest::Outcome,
    ) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let running: Option<i64> = fetch!(tx tx, fetch_optional, sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM reindexes r JOIN documents d ON d.kb_id = r.kb_id
              WHERE r.id = $1 AND r.status = 'running' AND d.id = $2 AND d.status = 'ready' AND d.content_hash = $3",
        )
        .bind(reindex_id)
        .bind(doc_id)
        .bind(content_hash))?;
        if running.is_none() {
            tx.commit().await?;
            return Ok(false);
        }
        exec!(tx tx, sqlx::query("DELETE FROM reindex_chunks WHERE reindex_id = $1 AND document_id = $2")
            .bind(reindex_id)
            .bind(doc_id))?;
        super::insert_chunks(&mut tx, doc_id, &outcome.chunks, Some(reindex_id)).await?;
        exec!(tx tx, sqlx::query(
            "INSERT INTO reindex_docs (reindex_id, document_id, content_hash, format, chunk_count, page_count, token_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (reindex_id, document_id) DO UPDATE SET content_hash = excluded.content_hash,
                format = excluded.format, chunk_count = excluded.chunk_count, page_count = excluded.page_count,
                token_count = excluded.token_count",
        )
        .bind(reindex_id)
        .bind(doc_id)
        .bind(content_hash)
        .bind(outcome.format.as_str())
        .bind(outcome.chunks.len() as i64)
        .bind(i64::from(outcome.pages))
        .bind(outcome.tokens as i64))?;
        exec!(tx tx, sqlx::query("UPDATE reindexes SET embedded = embedded + $1, note = NULL WHERE id = $2")
            .bind(outcome.embedded as i64)
            .bind(reindex_id))?;
        tx.commit().await?;
        Ok(true)
    }

    /// Switches the knowledge base to the new generation in one transaction, if every
    /// document is done: its chunks, its counts, its embedding model and chunking, and the
    /// index key searches use. Ends `job_id` when it does.
    pub async fn switch_reindex(&self, reindex_id: i64, job_id: i64) -> Result<Switch> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        let r: Option<Reindex> = fetch!(tx tx, fetch_optional, sqlx::query_as(&format!("{REINDEX_SELECT} WHERE r.id = $1"))
            .bind(reindex_id))?;
        let Some(r) = r.filter(|r| r.status == ReindexStatus::Running) else {
            tx.commit().await?;
            return Ok(Switch::Stopped);
        };
        let waiting: i64 = fetch!(tx tx, fetch_one, sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents d WHERE d.kb_id = $1
               AND (d.status IN ('queued', 'parsing', 'embedding')
                    OR (d.status = 'ready' AND NOT EXISTS (
                          SELECT 1 FROM reindex_docs x WHERE x.reindex_id = $2 AND x.document_id = d.id
                            AND x.content_hash = d.content_hash)))",
        )
        .bind(&r.kb_id)
        .bind(reindex_id))?;
        if waiting > 0 {
            tx.commit().await?;
            return Ok(Switch::NotYet);
        }
        exec!(tx tx, sqlx::query(
            "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE kb_id = $1)",
        )
        .bind(&r.kb_id))?;
        exec!(tx tx, sqlx::query(
            "INSERT INTO chunks (id, document_id, ordinal, page, heading, text, token_count)
             SELECT c.id, c.document_id, c.ordinal, c.page, c.heading, c.text, c.token_count
               FROM reindex_chunks c JOIN documents d ON d.id = c.document_id
              WHERE c.reindex_id = $1 AND d.status = 'ready'",
        )
        .bind(reindex_id))?;
        exec!(tx tx, sqlx::query(
            "UPDATE documents SET chunk_count = x.chunk_count, page_count = x.page_count,
                    token_count = x.token_count, format = x.format, updated_at = $1
               FROM reindex_docs x WHERE x.reindex_id = $2 AND x.document_id = documents.id
                AND documents.status = 'ready'",
        )
        .bind(&now)
        .bind(reindex_id))?;
        exec!(tx tx, sqlx::query(
            "UPDATE knowledge_bases SET chunk_size = $1, chunk_overlap = $2, embedding_preset = $3, embedding_model = $4,
                    embedding_dim = $5, embedding_provider = $6, embedding_config = $7, generation = $8,
                    chunk_template = $10
              WHERE id = $9",
        )
        .bind(r.chunk_size)
        .bind(r.chunk_overlap)
        .bind(&r.embedding_preset)
        .bind(&r.embedding_model)
        .bind(r.embedding_dim)
        .bind(&r.embedding_provider)
        .bind(&r.embedding_config)
        .bind(r.generation)
        .bind(&r.kb_id)
        .bind(&r.chunk_template))?;
        drop_staged(&mut tx, reindex_id).await?;
        exec!(tx tx, sqlx::query(
            "UPDATE reindexes SET status = 'done', total = $1, done = $2, note = NULL, finished_at = $3 WHERE id = $4",
        )
        .bind(r.total)
        .bind(r.done)
        .bind(&now)
        .bind(reindex_id))?;
        super::done_job(&mut tx, job_id, &now).await?;
        tx.commit().await?;
        Ok(Switch::Done)
    }

    /// Asks the knowledge base's running re-index to stop; its job rolls it back. Returns
    /// the re-index, if one was running.
    pub async fn cancel_reindex(&self, kb_id: &str) -> Result<Option<Reindex>> {
        let id: Option<i64> = fetch!(self, fetch_optional, sqlx::query_scalar(
            "UPDATE reindexes SET status = 'cancelling' WHERE kb_id = $1 AND status = 'running' RETURNING id",
        )
        .bind(kb_id))?;
        match id {
            Some(id) => self.get_reindex(id).await,
            None => Ok(None),
        }
    }

    /// Ends a re-index that did not switch (`Cancelled` or `Failed`): what it staged is
    /// dropped, the knowledge base keeps its generation. Its points are deleted after
    /// ([`Store::reindexes_to_clean`]).
    pub async fn end_reindex(
        &self,
        reindex_id: i64,
        status: ReindexStatus,
        error: Option<&str>,
        job_id: i64,
    ) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        let done: i64 = fetch!(tx tx, fetch_one, sqlx::query_scalar("SELECT COUNT(*) FROM reindex_docs WHERE reindex_id = $1")
                .bind(reindex_id))?;
        drop_staged(&mut tx, reindex_id).await?;
        exec!(tx tx, sqlx::query(
            "UPDATE reindexes SET status = $1, error = $2, done = $3, note = NULL, finished_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(error)
        .bind(done)
        .bind(&now)
        .bind(reindex_id))?;
        super::done_job(&mut tx, job_id, &now).await?;
        tx.commit().await
    }

    /// What a running re-index waits for (shown with its progress); `None` clears it.
    pub async fn set_reindex_note(&self, reindex_id: i64, note: Option<&str>) -> Result<()> {
        exec!(
            self,
            sqlx::query("UPDATE reindexes SET note = $1 WHERE id = $2")
                .bind(note)
                .bind(reindex_id)
        )?;
        Ok(())
    }

    /// Puts a running job back in the queue until `not_before`; `waited` counts it as a wait
    /// for something outside ragd (for the backoff).
    pub async fn defer_job(&self, job_id: i64, not_before: &str, waited: bool) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "UPDATE jobs SET status = 'queued', attempts = 0, not_before = $1,
                    waits = CASE WHEN $2 THEN waits + 1 ELSE 0 END WHERE id = $3",
            )
            .bind(not_before)
            .bind(waited)
            .bind(job_id)
        )?;
        Ok(())
    }
}

async fn drop_staged(tx: &mut Tx, reindex_id: i64) -> Result<()> {
    exec!(tx tx, sqlx::query("DELETE FROM reindex_chunks WHERE reindex_id = $1")
        .bind(reindex_id))?;
    exec!(tx tx, sqlx::query("DELETE FROM reindex_docs WHERE reindex_id = $1")
        .bind(reindex_id))?;
    Ok(())
}
