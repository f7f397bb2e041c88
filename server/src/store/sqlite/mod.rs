//! The metadata store on SQLite (sqlx, plain queries; schema in `migrations/`): one file,
//! WAL journal, writes in `BEGIN IMMEDIATE` transactions.

mod cache;
mod reindex;
mod sources;

pub use cache::VectorCache;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{
    ChunkRow, Conversation, DocStatus, Document, Job, KbEmbedding, KnowledgeBase, NewDocument,
    NewKbRow, Result, StoreError, StoredMessage,
};

/// Marks a job done, inside the transaction that recorded its result.
async fn done_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    job_id: i64,
    now: &str,
) -> Result<()> {
    sqlx::query("UPDATE jobs SET status = 'done', finished_at = ? WHERE id = ?")
        .bind(now)
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a document's chunks: into `chunks`, or staged for re-index `reindex`.
async fn insert_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    doc_id: &str,
    chunks: &[ingest::StoredChunk],
    reindex: Option<i64>,
) -> Result<()> {
    let sql = match reindex {
        None => "INSERT INTO chunks (id, document_id, ordinal, page, heading, text, token_count)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
        Some(_) => "INSERT INTO reindex_chunks (id, document_id, ordinal, page, heading, text, token_count, reindex_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    };
    for c in chunks {
        let mut q = sqlx::query(sql)
            .bind(c.id.to_string())
            .bind(doc_id)
            .bind(i64::from(c.chunk.ordinal))
            .bind(c.chunk.page.map(i64::from))
            .bind(c.chunk.heading_path())
            .bind(&c.chunk.text)
            .bind(c.chunk.tokens as i64);
        if let Some(r) = reindex {
            q = q.bind(r);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The metadata store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

const KB_SELECT: &str =
    "SELECT k.id, k.name, k.description, k.chunk_size, k.chunk_overlap, k.system_prompt, k.retrieval, k.created_at,
       k.embedding_preset, k.embedding_model, k.embedding_dim, k.embedding_provider, k.embedding_config, k.generation,
       (SELECT COUNT(*) FROM documents d WHERE d.kb_id = k.id) AS document_count,
       (SELECT COALESCE(SUM(d.chunk_count), 0) FROM documents d WHERE d.kb_id = k.id) AS chunk_count
  FROM knowledge_bases k";

const DOC_COLUMNS: &str =
    "id, kb_id, name, content_hash, size_bytes, format, status, error, chunk_count,
       page_count, token_count, created_at, updated_at, source_id, metadata";

impl Store {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    // ---- knowledge bases ----

    pub async fn create_kb(&self, kb: &NewKbRow<'_>) -> Result<KnowledgeBase> {
        let now = crate::store::now();
        sqlx::query("INSERT INTO knowledge_bases (id, name, description, chunk_size, chunk_overlap, created_at,
                     embedding_preset, embedding_model, embedding_dim, embedding_provider, embedding_config)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(kb.id)
            .bind(kb.name)
            .bind(kb.description)
            .bind(kb.chunk_size)
            .bind(kb.chunk_overlap)
            .bind(&now)
            .bind(kb.embedding.preset)
            .bind(kb.embedding.model)
            .bind(kb.embedding.dim)
            .bind(kb.embedding.provider)
            .bind(kb.embedding.config)
            .execute(&self.pool)
            .await?;
        self.get_kb(kb.id).await?.ok_or_else(StoreError::missing)
    }

    /// Knowledge bases made before embedding models were chosen per knowledge base get the
    /// model they were indexed with. Returns how many.
    pub async fn fill_in_embedding(&self, embedding: &KbEmbedding<'_>) -> Result<u64> {
        let r = sqlx::query("UPDATE knowledge_bases SET embedding_preset = ?, embedding_model = ?, embedding_dim = ?,
                     embedding_provider = ?, embedding_config = ? WHERE embedding_model = ''")
            .bind(embedding.preset)
            .bind(embedding.model)
            .bind(embedding.dim)
            .bind(embedding.provider)
            .bind(embedding.config)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn list_kbs(&self) -> Result<Vec<KnowledgeBase>> {
        sqlx::query_as(&format!("{KB_SELECT} ORDER BY k.name"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Finds a knowledge base by id or by its unique name.
    pub async fn get_kb(&self, id_or_name: &str) -> Result<Option<KnowledgeBase>> {
        sqlx::query_as(&format!(
            "{KB_SELECT} WHERE k.id = ?1 OR k.name = ?1 ORDER BY k.id = ?1 DESC LIMIT 1"
        ))
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Documents per status, and chunk rows, of a knowledge base.
    pub async fn kb_stats(&self, kb_id: &str) -> Result<(Vec<(String, i64)>, i64)> {
        let by_status = sqlx::query_as(
            "SELECT status, COUNT(*) FROM documents WHERE kb_id = ? GROUP BY status ORDER BY status",
        )
        .bind(kb_id)
        .fetch_all(&self.pool)
        .await?;
        let chunks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.kb_id = ?",
        )
        .bind(kb_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((by_status, chunks))
    }

    pub async fn delete_kb(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM knowledge_bases WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    // ---- documents ----

    /// Inserts a document and its ingest job in one transaction. When the knowledge base
    /// already holds the same content, returns the existing document instead (`false`).
    pub async fn enqueue_document(&self, doc: &NewDocument) -> Result<(Document, bool)> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<Document> = sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE kb_id = ? AND content_hash = ?"
        ))
        .bind(&doc.kb_id)
        .bind(&doc.content_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            tx.commit().await?;
            return Ok((existing, false));
        }
        sqlx::query("INSERT INTO documents (id, kb_id, name, content_hash, size_bytes, format, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&doc.id)
            .bind(&doc.kb_id)
            .bind(&doc.name)
            .bind(&doc.content_hash)
            .bind(doc.size_bytes)
            .bind(&doc.format)
            .bind(&doc.metadata)
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO jobs (kind, document_id, created_at) VALUES ('ingest', ?, ?)")
            .bind(&doc.id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let created = self
            .get_document(&doc.id)
            .await?
            .ok_or_else(StoreError::missing)?;
        Ok((created, true))
    }

    /// Queues an existing document again (re-parse).
    pub async fn requeue_document(&self, id: &str) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "UPDATE documents SET status = 'queued', error = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO jobs (kind, document_id, created_at) VALUES ('ingest', ?, ?)")
            .bind(id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)
    }

    pub async fn get_document(&self, id: &str) -> Result<Option<Document>> {
        sqlx::query_as(&format!("SELECT {DOC_COLUMNS} FROM documents WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Documents of a knowledge base, newest first; returns the page and the total.
    pub async fn list_documents(
        &self,
        kb_id: &str,
        status: Option<DocStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Document>, i64)> {
        let docs = sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE kb_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4"
        ))
        .bind(kb_id)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents WHERE kb_id = ?1 AND (?2 IS NULL OR status = ?2)",
        )
        .bind(kb_id)
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        Ok((docs, total))
    }

    pub async fn delete_document(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Whether any document still refers to this content (so its file must be kept).
    pub async fn hash_in_use(&self, hash: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE content_hash = ?")
            .bind(hash)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Hashes of every document in a knowledge base (to clean files after deleting it).
    pub async fn kb_hashes(&self, kb_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT content_hash FROM documents WHERE kb_id = ?")
            .bind(kb_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn set_status(&self, id: &str, status: DocStatus) -> Result<()> {
        let now = crate::store::now();
        sqlx::query("UPDATE documents SET status = ?, updated_at = ? WHERE id = ?")
            .bind(status)
            .bind(&now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a finished ingest: chunks replaced, counts set, status `ready`, job done; all
    /// in one transaction. Returns false when the document was deleted meanwhile.
    pub async fn finish_ingest(
        &self,
        job_id: i64,
        doc_id: &str,
        outcome: &ingest::Outcome,
    ) -> Result<bool> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM documents WHERE id = ?")
            .bind(doc_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM chunks WHERE document_id = ?")
            .bind(doc_id)
            .execute(&mut *tx)
            .await?;
        reindex::forget_document(&mut tx, doc_id).await?;
        insert_chunks(&mut tx, doc_id, &outcome.chunks, None).await?;
        sqlx::query("UPDATE documents SET status = 'ready', error = NULL, format = ?, chunk_count = ?, page_count = ?,
                    token_count = ?, updated_at = ? WHERE id = ?")
        .bind(outcome.format.as_str())
        .bind(outcome.chunks.len() as i64)
        .bind(i64::from(outcome.pages))
        .bind(outcome.tokens as i64)
        .bind(&now)
        .bind(doc_id)
        .execute(&mut *tx)
        .await?;
        done_job(&mut tx, job_id, &now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed ingest: document `failed` with the error, no chunks, job failed.
    pub async fn fail_ingest(&self, job_id: i64, doc_id: &str, error: &str) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM chunks WHERE document_id = ?")
            .bind(doc_id)
            .execute(&mut *tx)
            .await?;
        reindex::forget_document(&mut tx, doc_id).await?;
        sqlx::query("UPDATE documents SET status = 'failed', error = ?, chunk_count = 0, updated_at = ? WHERE id = ?")
        .bind(error)
        .bind(&now)
        .bind(doc_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?")
            .bind(error)
            .bind(&now)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)
    }

    pub async fn list_chunks(
        &self,
        doc_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ChunkRow>> {
        sqlx::query_as(
            "SELECT id, document_id, ordinal, page, heading, text, token_count FROM chunks
             WHERE document_id = ? ORDER BY ordinal LIMIT ? OFFSET ?",
        )
        .bind(doc_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    // ---- jobs ----

    /// Jobs cut off by a crash (still `running`) go back to the queue; documents caught in
    /// the middle of the pipeline go back to `queued`. Called once at start-up.
    pub async fn recover(&self) -> Result<u64> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let r = sqlx::query("UPDATE jobs SET status = 'queued' WHERE status = 'running'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE documents SET status = 'queued', updated_at = ? WHERE status IN ('parsing', 'embedding')")
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    /// Sets a document's metadata (a JSON object's text).
    pub async fn set_metadata(&self, doc_id: &str, metadata: &str) -> Result<()> {
        sqlx::query("UPDATE documents SET metadata = ?, updated_at = ? WHERE id = ?")
            .bind(metadata)
            .bind(crate::store::now())
            .bind(doc_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The metadata of every document of some knowledge bases: (document id, JSON text).
    pub async fn metadata_of(&self, kb_ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut all = Vec::new();
        for kb in kb_ids {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT id, metadata FROM documents WHERE kb_id = ?")
                    .bind(kb)
                    .fetch_all(&self.pool)
                    .await?;
            all.extend(rows);
        }
        Ok(all)
    }

    /// Claims the oldest queued job; uploads go before the jobs of source runs, so a bulk
    /// sync never holds up a file a user just sent.
    pub async fn claim_job(&self) -> Result<Option<Job>> {
        let now = crate::store::now();
        sqlx::query_as("UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?1
              WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= ?1)
                          ORDER BY run_id IS NOT NULL OR reindex_id IS NOT NULL, id LIMIT 1)
              RETURNING id, kind, document_id, attempts, run_id, waits, reindex_id")
        .bind(&now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Puts an ingest job back to wait for something outside ragd until `not_before`: the
    /// attempt ended cleanly (it does not count towards the crash limit), the document is
    /// `queued` again with `reason` as its visible error, and its chunks are untouched.
    pub async fn wait_job(
        &self,
        job_id: i64,
        doc_id: &str,
        reason: &str,
        not_before: &str,
    ) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE jobs SET status = 'queued', attempts = 0, waits = waits + 1, not_before = ?, error = ? WHERE id = ?")
            .bind(not_before)
            .bind(reason)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE documents SET status = 'queued', error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(reason)
        .bind(&now)
        .bind(doc_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::from)
    }

    /// Jobs by kind and status.
    pub async fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Documents by status.
    pub async fn document_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM documents GROUP BY status ORDER BY status",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Jobs queued or running.
    pub async fn pending_jobs(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn finish_job(&self, job_id: i64, error: Option<&str>) -> Result<()> {
        let now = crate::store::now();
        let status = if error.is_some() { "failed" } else { "done" };
        sqlx::query("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?")
            .bind(status)
            .bind(error)
            .bind(&now)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- knowledge-base settings ----

    pub async fn update_kb(
        &self,
        id: &str,
        description: Option<&str>,
        system_prompt: Option<&str>,
        retrieval: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE knowledge_bases SET description = COALESCE(?, description), system_prompt = COALESCE(?, system_prompt),
                    retrieval = COALESCE(?, retrieval) WHERE id = ?",
        )
        .bind(description)
        .bind(system_prompt)
        .bind(retrieval)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- conversations ----

    pub async fn create_conversation(
        &self,
        id: &str,
        title: &str,
        kb_ids: &[String],
    ) -> Result<Conversation> {
        let now = crate::store::now();
        let kbs = serde_json::to_string(kb_ids).unwrap_or_else(|_| "[]".into());
        sqlx::query("INSERT INTO conversations (id, title, knowledge_bases, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(title)
            .bind(kbs)
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await?;
        self.get_conversation(id)
            .await?
            .ok_or_else(StoreError::missing)
    }

    pub async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>> {
        sqlx::query_as("SELECT id, title, knowledge_bases, created_at, updated_at FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
        .map_err(StoreError::from)
    }

    pub async fn list_conversations(&self, limit: i64) -> Result<Vec<Conversation>> {
        sqlx::query_as("SELECT id, title, knowledge_bases, created_at, updated_at FROM conversations ORDER BY updated_at DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
        .map_err(StoreError::from)
    }

    pub async fn delete_conversation(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM conversations WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn list_messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>> {
        sqlx::query_as(
            "SELECT id, role, content, reasoning, citations, created_at FROM messages WHERE conversation_id = ? ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Appends a message; the first user message also becomes the title when there is none.
    pub async fn add_message(
        &self,
        conversation_id: &str,
        role: &str,
        content: &str,
        reasoning: Option<&str>,
        citations: Option<&str>,
    ) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO messages (conversation_id, role, content, reasoning, citations, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(conversation_id)
            .bind(role)
            .bind(content)
            .bind(reasoning)
            .bind(citations)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let title: String = content.chars().take(60).collect();
        sqlx::query("UPDATE conversations SET updated_at = ?, title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END WHERE id = ?")
        .bind(&now)
        .bind(role)
        .bind(title)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::from)
    }

    // ---- maintenance ----

    /// Writes a consistent copy of the database to `path` (a new file), while serving.
    pub async fn copy_to(&self, path: &Path) -> Result<()> {
        sqlx::query("VACUUM INTO ?")
            .bind(path.to_string_lossy().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Chunks and tokens of every ready document.
    pub async fn ready_totals(&self) -> Result<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(SUM(chunk_count), 0), COALESCE(SUM(token_count), 0) FROM documents WHERE status = 'ready'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every document with its status and chunk count (for the start-up reconciliation).
    pub async fn document_states(&self) -> Result<Vec<(String, DocStatus, i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT d.id, d.status, d.chunk_count, k.embedding_model FROM documents d
             JOIN knowledge_bases k ON k.id = d.kb_id ORDER BY d.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
