//! The metadata store's queries, one portable text for both engines (`$N` placeholders;
//! schemas in `migrations/` for SQLite and `migrations/postgres/`). Each runs through
//! [`exec!`] or [`fetch!`] on the open engine; the few with no portable spelling take theirs
//! from [`Dialect`]. Writes run in one transaction ([`Db::write`]).

mod cache;
mod keys;
mod reindex;
mod sources;

pub use cache::VectorCache;
pub use keys::ApiKeyRow;

use std::path::Path;

use super::db::{exec, fetch, Db, Dialect, Tx};

use super::{
    ChunkRow, Conversation, DocStatus, Document, Job, KbEmbedding, KnowledgeBase, NewDocument,
    NewKbRow, Result, StoreError, StoredMessage,
};

/// Marks a job done, inside the transaction that recorded its result.
async fn done_job(tx: &mut Tx, job_id: i64, now: &str) -> Result<()> {
    exec!(tx tx, sqlx::query("UPDATE jobs SET status = 'done', finished_at = $1 WHERE id = $2")
        .bind(now)
        .bind(job_id))?;
    Ok(())
}

/// Inserts a document's chunks: into `chunks`, or staged for re-index `reindex`.
async fn insert_chunks(
    tx: &mut Tx,
    doc_id: &str,
    chunks: &[ingest::StoredChunk],
    reindex: Option<i64>,
) -> Result<()> {
    let sql = match reindex {
        None => "INSERT INTO chunks (id, document_id, ordinal, page, heading, text, token_count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
        Some(_) => "INSERT INTO reindex_chunks (id, document_id, ordinal, page, heading, text, token_count, reindex_id)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    };
    for c in chunks {
        macro_rules! chunk {
            () => {
                sqlx::query(sql)
                    .bind(c.id.to_string())
                    .bind(doc_id)
                    .bind(i64::from(c.chunk.ordinal))
                    .bind(c.chunk.page.map(i64::from))
                    .bind(c.chunk.heading_path())
                    .bind(&c.chunk.text)
                    .bind(c.chunk.tokens as i64)
            };
        }
        match reindex {
            None => exec!(tx tx, chunk!())?,
            Some(r) => exec!(tx tx, chunk!().bind(r))?,
        };
    }
    Ok(())
}

/// The metadata store.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) db: Db,
    /// This process's name in job claims and leases (several replicas share PostgreSQL).
    replica: std::sync::Arc<str>,
    /// How long a claim or a lease holds unless renewed.
    lease: std::time::Duration,
}

/// How long a claim holds unless renewed, by default.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// A knowledge base's columns, without its counts: what every request that names one looks
/// up.
const KB_COLUMNS: &str =
    "k.id, k.name, k.description, k.chunk_size, k.chunk_overlap, k.chunk_template, k.ocr_languages, k.system_prompt, k.retrieval, k.created_at,
       k.embedding_preset, k.embedding_model, k.embedding_dim, k.embedding_provider, k.embedding_config, k.generation";

/// Its document and chunk counts, which read every document row of it (about 3 ms at 10,000
/// documents on SQLite): only for the list and one knowledge base's page.
const KB_COUNTS: &str = ",
       (SELECT COUNT(*) FROM documents d WHERE d.kb_id = k.id) AS document_count,
       (SELECT CAST(COALESCE(SUM(d.chunk_count), 0) AS BIGINT) FROM documents d WHERE d.kb_id = k.id) AS chunk_count";

const DOC_COLUMNS: &str =
    "id, kb_id, name, content_hash, size_bytes, format, status, error, chunk_count,
       page_count, token_count, created_at, updated_at, source_id, metadata";

impl Store {
    /// Opens (creating if needed) a SQLite file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let store = Self::on(Db::open_sqlite(path).await?);
        // One process at a time opens a SQLite store (the data folder's lock): leases left
        // by one that died are void.
        exec!(store, sqlx::query("DELETE FROM leases"))?;
        Ok(store)
    }

    /// Connects to PostgreSQL and applies migrations.
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Self> {
        Ok(Self::on(Db::open_postgres(url, max_connections).await?))
    }

    /// The store tests run on: SQLite in `dir`, or a new PostgreSQL database when
    /// `RAGD_TEST_POSTGRES` is set.
    pub async fn open_for_tests(dir: &Path) -> Result<Self> {
        match super::db::test_database_url(dir).await {
            Some(url) => Self::open_postgres(&url, 4).await,
            None => Self::open(&dir.join("ragd.sqlite")).await,
        }
    }

    fn on(db: Db) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            db,
            replica: format!("{host}/{}/{}", std::process::id(), &id[..8]).into(),
            lease: DEFAULT_LEASE,
        }
    }

    /// Names this replica in claims and leases: its host and data folder, which one process
    /// at a time holds, so a replica restarted on its folder takes back its own work at once.
    pub fn with_replica(mut self, name: &str) -> Self {
        self.replica = name.into();
        self
    }

    /// Claims and leases last `lease` unless renewed.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This process's name in claims and leases.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn lease(&self) -> std::time::Duration {
        self.lease
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A round trip to the engine.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await
    }

    // ---- knowledge bases ----

    pub async fn create_kb(&self, kb: &NewKbRow<'_>) -> Result<KnowledgeBase> {
        let now = crate::store::now();
        exec!(self, sqlx::query("INSERT INTO knowledge_bases (id, name, description, chunk_size, chunk_overlap, created_at,
                     embedding_preset, embedding_model, embedding_dim, embedding_provider, embedding_config,
                     chunk_template, ocr_languages)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
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
            .bind(kb.chunk_template)
            .bind(kb.ocr_languages))?;
        self.get_kb_counted(kb.id)
            .await?
            .ok_or_else(StoreError::missing)
    }

    /// Knowledge bases made before embedding models were chosen per knowledge base get the
    /// model they were indexed with. Returns how many.
    pub async fn fill_in_embedding(&self, embedding: &KbEmbedding<'_>) -> Result<u64> {
        let r = exec!(self, sqlx::query("UPDATE knowledge_bases SET embedding_preset = $1, embedding_model = $2, embedding_dim = $3,
                     embedding_provider = $4, embedding_config = $5 WHERE embedding_model = ''")
            .bind(embedding.preset)
            .bind(embedding.model)
            .bind(embedding.dim)
            .bind(embedding.provider)
            .bind(embedding.config))?;
        Ok(r.rows_affected())
    }

    pub async fn list_kbs(&self) -> Result<Vec<KnowledgeBase>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
                "SELECT {KB_COLUMNS}{KB_COUNTS} FROM knowledge_bases k ORDER BY k.name"
            ))
        )
        .map_err(StoreError::from)
    }

    /// Finds a knowledge base by id or by its unique name.
    pub async fn get_kb(&self, id_or_name: &str) -> Result<Option<KnowledgeBase>> {
        self.find_kb(id_or_name, "").await
    }

    /// [`Store::get_kb`] with the document and chunk counts.
    pub async fn get_kb_counted(&self, id_or_name: &str) -> Result<Option<KnowledgeBase>> {
        self.find_kb(id_or_name, KB_COUNTS).await
    }

    async fn find_kb(&self, id_or_name: &str, counts: &str) -> Result<Option<KnowledgeBase>> {
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "SELECT {KB_COLUMNS}{counts} FROM knowledge_bases k
                  WHERE k.id = $1 OR k.name = $1 ORDER BY k.id = $1 DESC LIMIT 1"
            ))
            .bind(id_or_name)
        )
        .map_err(StoreError::from)
    }

    /// Documents per status, and chunk rows, of a knowledge base.
    pub async fn kb_stats(&self, kb_id: &str) -> Result<(Vec<(String, i64)>, i64)> {
        let by_status = fetch!(self, fetch_all, sqlx::query_as(
            "SELECT status, COUNT(*) FROM documents WHERE kb_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(kb_id))?;
        let chunks: i64 = fetch!(self, fetch_one, sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.kb_id = $1",
        )
        .bind(kb_id))?;
        Ok((by_status, chunks))
    }

    pub async fn delete_kb(&self, id: &str) -> Result<bool> {
        let r = exec!(
            self,
            sqlx::query("DELETE FROM knowledge_bases WHERE id = $1").bind(id)
        )?;
        Ok(r.rows_affected() > 0)
    }

    // ---- documents ----

    /// Inserts a document and its ingest job in one transaction. When the knowledge base
    /// already holds the same content, returns the existing document instead (`false`).
    pub async fn enqueue_document(&self, doc: &NewDocument) -> Result<(Document, bool)> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        let existing: Option<Document> = fetch!(tx tx, fetch_optional, sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE kb_id = $1 AND content_hash = $2"
        ))
        .bind(&doc.kb_id)
        .bind(&doc.content_hash))?;
        if let Some(existing) = existing {
            tx.commit().await?;
            return Ok((existing, false));
        }
        exec!(tx tx, sqlx::query("INSERT INTO documents (id, kb_id, name, content_hash, size_bytes, format, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&doc.id)
            .bind(&doc.kb_id)
            .bind(&doc.name)
            .bind(&doc.content_hash)
            .bind(doc.size_bytes)
            .bind(&doc.format)
            .bind(&doc.metadata)
            .bind(&now)
            .bind(&now))?;
        exec!(tx tx, sqlx::query("INSERT INTO jobs (kind, document_id, created_at) VALUES ('ingest', $1, $2)")
            .bind(&doc.id)
            .bind(&now))?;
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
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query(
            "UPDATE documents SET status = 'queued', error = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(&now)
        .bind(id))?;
        exec!(tx tx, sqlx::query("INSERT INTO jobs (kind, document_id, created_at) VALUES ('ingest', $1, $2)")
            .bind(id)
            .bind(&now))?;
        tx.commit().await
    }

    pub async fn get_document(&self, id: &str) -> Result<Option<Document>> {
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "SELECT {DOC_COLUMNS} FROM documents WHERE id = $1"
            ))
            .bind(id)
        )
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
        let docs = fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE kb_id = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ))
            .bind(kb_id)
            .bind(status)
            .bind(limit)
            .bind(offset)
        )?;
        let total: i64 =
            fetch!(self, fetch_one, sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents WHERE kb_id = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(kb_id)
        .bind(status))?;
        Ok((docs, total))
    }

    pub async fn delete_document(&self, id: &str) -> Result<bool> {
        let r = exec!(
            self,
            sqlx::query("DELETE FROM documents WHERE id = $1").bind(id)
        )?;
        Ok(r.rows_affected() > 0)
    }

    /// Whether any document still refers to this content (so its file must be kept).
    pub async fn hash_in_use(&self, hash: &str) -> Result<bool> {
        let n: i64 = fetch!(
            self,
            fetch_one,
            sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE content_hash = $1").bind(hash)
        )?;
        Ok(n > 0)
    }

    /// Hashes of every document in a knowledge base (to clean files after deleting it).
    /// Every content hash a document uses.
    pub async fn all_hashes(&self) -> Result<Vec<String>> {
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_scalar("SELECT DISTINCT content_hash FROM documents ORDER BY content_hash")
        )?)
    }

    pub async fn kb_hashes(&self, kb_id: &str) -> Result<Vec<String>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_scalar("SELECT DISTINCT content_hash FROM documents WHERE kb_id = $1")
                .bind(kb_id)
        )
        .map_err(StoreError::from)
    }

    pub async fn set_status(&self, id: &str, status: DocStatus) -> Result<()> {
        let now = crate::store::now();
        exec!(
            self,
            sqlx::query("UPDATE documents SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status)
                .bind(&now)
                .bind(id)
        )?;
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
        let mut tx = self.db.write().await?;
        let exists: Option<i64> = fetch!(tx tx, fetch_optional, sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM documents WHERE id = $1")
            .bind(doc_id))?;
        if exists.is_none() {
            tx.commit().await?;
            return Ok(false);
        }
        exec!(tx tx, sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(doc_id))?;
        reindex::forget_document(&mut tx, doc_id).await?;
        insert_chunks(&mut tx, doc_id, &outcome.chunks, None).await?;
        exec!(tx tx, sqlx::query("UPDATE documents SET status = 'ready', error = NULL, format = $1, chunk_count = $2, page_count = $3,
                    token_count = $4, updated_at = $5 WHERE id = $6")
        .bind(outcome.format.as_str())
        .bind(outcome.chunks.len() as i64)
        .bind(i64::from(outcome.pages))
        .bind(outcome.tokens as i64)
        .bind(&now)
        .bind(doc_id))?;
        done_job(&mut tx, job_id, &now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed ingest: document `failed` with the error, no chunks, job failed.
    pub async fn fail_ingest(&self, job_id: i64, doc_id: &str, error: &str) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(doc_id))?;
        reindex::forget_document(&mut tx, doc_id).await?;
        exec!(tx tx, sqlx::query("UPDATE documents SET status = 'failed', error = $1, chunk_count = 0, updated_at = $2 WHERE id = $3")
        .bind(error)
        .bind(&now)
        .bind(doc_id))?;
        exec!(tx tx, sqlx::query("UPDATE jobs SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3")
            .bind(error)
            .bind(&now)
            .bind(job_id))?;
        tx.commit().await
    }

    pub async fn list_chunks(
        &self,
        doc_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ChunkRow>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_as(
                "SELECT id, document_id, ordinal, page, heading, text, token_count FROM chunks
             WHERE document_id = $1 ORDER BY ordinal LIMIT $2 OFFSET $3",
            )
            .bind(doc_id)
            .bind(limit)
            .bind(offset)
        )
        .map_err(StoreError::from)
    }

    // ---- jobs ----

    /// Jobs cut off by a crash (still `running`) go back to the queue; documents caught in
    /// the middle of the pipeline go back to `queued`. Called once at start-up.
    ///
    /// On PostgreSQL other replicas may be running those jobs: nothing is reset here, and a
    /// job whose replica died is claimed again once its lease ran out ([`Store::claim_job`]).
    pub async fn recover(&self) -> Result<u64> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        // On a shared database only this replica's own jobs (its data folder's, from before
        // it restarted) are reset; other replicas' jobs are theirs until their leases run out.
        let mine = if self.dialect() == Dialect::Postgres {
            "AND worker = $2"
        } else {
            "AND $2 = $2"
        };
        exec!(tx tx, sqlx::query(&format!("UPDATE documents SET status = 'queued', updated_at = $1
              WHERE status IN ('parsing', 'embedding')
                AND (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = documents.id AND j.status = 'running')
                     OR EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = documents.id AND j.status = 'running' {mine}))"))
            .bind(&now)
            .bind(&*self.replica))?;
        let r = exec!(tx tx, sqlx::query(&format!("UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL
              WHERE status = 'running' AND $1 = $1 {mine}"))
            .bind(&now)
            .bind(&*self.replica))?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    /// What a restart after a crash does to the jobs the dead process was running: SQLite
    /// requeues them ([`Store::recover`]); PostgreSQL lets their claims run out, after which
    /// any replica takes them again. Returns how many (tests).
    #[cfg(test)]
    pub async fn after_crash(&self) -> Result<u64> {
        match self.dialect() {
            Dialect::Sqlite => self.recover().await,
            Dialect::Postgres => Ok(exec!(self, sqlx::query(
                "UPDATE jobs SET lease_until = '1970-01-01T00:00:00.000Z' WHERE status = 'running'"
            ))?
            .rows_affected()),
        }
    }

    /// Sets a document's metadata (a JSON object's text).
    pub async fn set_metadata(&self, doc_id: &str, metadata: &str) -> Result<()> {
        exec!(
            self,
            sqlx::query("UPDATE documents SET metadata = $1, updated_at = $2 WHERE id = $3")
                .bind(metadata)
                .bind(crate::store::now())
                .bind(doc_id)
        )?;
        Ok(())
    }

    /// The metadata of every document of some knowledge bases: (document id, JSON text).
    pub async fn metadata_of(&self, kb_ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut all = Vec::new();
        for kb in kb_ids {
            let rows: Vec<(String, String)> = fetch!(
                self,
                fetch_all,
                sqlx::query_as("SELECT id, metadata FROM documents WHERE kb_id = $1").bind(kb)
            )?;
            all.extend(rows);
        }
        Ok(all)
    }

    /// Claims a job whose claim expired (its replica died), else the oldest queued job;
    /// uploads go before the jobs of source runs, so a bulk sync never holds up a file a user
    /// just sent. The claim holds for the lease, renewed by [`Store::renew_claim`] while it
    /// runs. Each of the two lookups walks an index (`jobs_by_status`, `jobs_queue`), so a
    /// claim costs the same with 10 or 100,000 jobs queued.
    pub async fn claim_job(&self) -> Result<Option<Job>> {
        let now = crate::store::now();
        let until = crate::store::after(self.lease);
        let lock = self.dialect().skip_locked();
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = $1,
                     worker = $2, lease_until = $3
              WHERE id = COALESCE(
                  (SELECT id FROM jobs WHERE status = 'running' AND lease_until < $1
                    ORDER BY id LIMIT 1 {lock}),
                  (SELECT id FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= $1)
                    ORDER BY run_id IS NOT NULL OR reindex_id IS NOT NULL, id LIMIT 1 {lock}))
              RETURNING id, kind, document_id, attempts, run_id, waits, reindex_id"
            ))
            .bind(&now)
            .bind(&*self.replica)
            .bind(&until)
        )
        .map_err(StoreError::from)
    }

    /// Extends this replica's claim on a running job; false when the claim was lost (it
    /// expired and another replica took the job).
    pub async fn renew_claim(&self, job_id: i64) -> Result<bool> {
        let r = exec!(self, sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND worker = $3 AND status = 'running'",
        )
        .bind(crate::store::after(self.lease))
        .bind(job_id)
        .bind(&*self.replica))?;
        Ok(r.rows_affected() > 0)
    }

    /// Takes or renews the named lease for work done once across replicas (the scheduler,
    /// the embedded index); true while this replica holds it. Another replica gets it only
    /// after it ran out unrenewed.
    pub async fn hold_lease(&self, name: &str) -> Result<bool> {
        let now = crate::store::now();
        let holder: Option<String> = fetch!(
            self,
            fetch_optional,
            sqlx::query_scalar(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
              WHERE leases.holder = excluded.holder OR leases.until < $4
             RETURNING holder",
            )
            .bind(name)
            .bind(&*self.replica)
            .bind(crate::store::after(self.lease))
            .bind(&now)
        )?;
        Ok(holder.is_some())
    }

    /// Renews the named lease if this replica holds it; false otherwise.
    pub async fn renew_lease(&self, name: &str) -> Result<bool> {
        let r = exec!(
            self,
            sqlx::query("UPDATE leases SET until = $1 WHERE name = $2 AND holder = $3")
                .bind(crate::store::after(self.lease))
                .bind(name)
                .bind(&*self.replica)
        )?;
        Ok(r.rows_affected() > 0)
    }

    /// Records a signed-out session (by its token's digest) until it would have expired;
    /// forgets those that expired.
    pub async fn revoke_session(&self, digest: &str, expires_at: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < $1")
            .bind(crate::store::now()))?;
        exec!(tx tx, sqlx::query(
            "INSERT INTO revoked_sessions (digest, expires_at) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(expires_at))?;
        tx.commit().await
    }

    /// Whether the session with this token digest was signed out.
    pub async fn session_revoked(&self, digest: &str) -> Result<bool> {
        let found: Option<String> = fetch!(
            self,
            fetch_optional,
            sqlx::query_scalar("SELECT digest FROM revoked_sessions WHERE digest = $1")
                .bind(digest)
        )?;
        Ok(found.is_some())
    }

    /// Who holds the named lease now, if anyone.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>> {
        Ok(fetch!(
            self,
            fetch_optional,
            sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1 AND until >= $2",)
                .bind(name)
                .bind(crate::store::now())
        )?)
    }

    /// Gives a lease up (at shutdown), so another replica need not wait for it to run out.
    pub async fn release_lease(&self, name: &str) -> Result<()> {
        exec!(
            self,
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(&*self.replica)
        )?;
        Ok(())
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
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("UPDATE jobs SET status = 'queued', attempts = 0, waits = waits + 1, not_before = $1, error = $2 WHERE id = $3")
            .bind(not_before)
            .bind(reason)
            .bind(job_id))?;
        exec!(tx tx, sqlx::query(
            "UPDATE documents SET status = 'queued', error = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(reason)
        .bind(&now)
        .bind(doc_id))?;
        tx.commit().await
    }

    /// Jobs by kind and status.
    pub async fn job_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(fetch!(self, fetch_all, sqlx::query_as(
            "SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status",
        ))?)
    }

    /// Documents by status.
    pub async fn document_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM documents GROUP BY status ORDER BY status",
            )
        )?)
    }

    /// Jobs queued or running.
    pub async fn pending_jobs(&self) -> Result<i64> {
        fetch!(
            self,
            fetch_one,
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        )
        .map_err(StoreError::from)
    }

    pub async fn finish_job(&self, job_id: i64, error: Option<&str>) -> Result<()> {
        let now = crate::store::now();
        let status = if error.is_some() { "failed" } else { "done" };
        exec!(
            self,
            sqlx::query("UPDATE jobs SET status = $1, error = $2, finished_at = $3 WHERE id = $4")
                .bind(status)
                .bind(error)
                .bind(&now)
                .bind(job_id)
        )?;
        Ok(())
    }

    // ---- knowledge-base settings ----

    pub async fn update_kb(
        &self,
        id: &str,
        description: Option<&str>,
        system_prompt: Option<&str>,
        retrieval: Option<&str>,
        ocr_languages: Option<&str>,
    ) -> Result<()> {
        exec!(self, sqlx::query(
            "UPDATE knowledge_bases SET description = COALESCE($1, description), system_prompt = COALESCE($2, system_prompt),
                    retrieval = COALESCE($3, retrieval), ocr_languages = COALESCE($4, ocr_languages) WHERE id = $5",
        )
        .bind(description)
        .bind(system_prompt)
        .bind(retrieval)
        .bind(ocr_languages)
        .bind(id))?;
        Ok(())
    }

    // ---- conversations ----

    pub async fn create_conversation(
        &self,
        id: &str,
        title: &str,
        kb_ids: &[String],
        owner: Option<&str>,
    ) -> Result<Conversation> {
        let now = crate::store::now();
        let kbs = serde_json::to_string(kb_ids).unwrap_or_else(|_| "[]".into());
        exec!(self, sqlx::query("INSERT INTO conversations (id, title, knowledge_bases, created_at, updated_at, owner) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(title)
            .bind(kbs)
            .bind(&now)
            .bind(&now)
            .bind(owner))?;
        self.get_conversation(id)
            .await?
            .ok_or_else(StoreError::missing)
    }

    pub async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>> {
        fetch!(self, fetch_optional, sqlx::query_as("SELECT id, title, knowledge_bases, created_at, updated_at, owner FROM conversations WHERE id = $1")
            .bind(id))
        .map_err(StoreError::from)
    }

    /// The newest conversations; with `owner`, only theirs.
    pub async fn list_conversations(
        &self,
        limit: i64,
        owner: Option<&str>,
    ) -> Result<Vec<Conversation>> {
        fetch!(self, fetch_all, sqlx::query_as("SELECT id, title, knowledge_bases, created_at, updated_at, owner FROM conversations
              WHERE $2 = '' OR owner = $2 ORDER BY updated_at DESC LIMIT $1")
            .bind(limit)
        .bind(owner.unwrap_or("")))
        .map_err(StoreError::from)
    }

    pub async fn delete_conversation(&self, id: &str) -> Result<bool> {
        let r = exec!(
            self,
            sqlx::query("DELETE FROM conversations WHERE id = $1").bind(id)
        )?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn list_messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>> {
        fetch!(self, fetch_all, sqlx::query_as(
            "SELECT id, role, content, reasoning, citations, created_at FROM messages WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id))
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
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("INSERT INTO messages (conversation_id, role, content, reasoning, citations, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(conversation_id)
            .bind(role)
            .bind(content)
            .bind(reasoning)
            .bind(citations)
            .bind(&now))?;
        let title: String = content.chars().take(60).collect();
        exec!(tx tx, sqlx::query("UPDATE conversations SET updated_at = $1, title = CASE WHEN title = '' AND $2 = 'user' THEN $3 ELSE title END WHERE id = $4")
        .bind(&now)
        .bind(role)
        .bind(title)
        .bind(conversation_id))?;
        tx.commit().await
    }

    // ---- maintenance ----

    /// Writes a consistent copy of the database to `path` (a new file), while serving.
    pub async fn copy_to(&self, path: &Path) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            return Err(StoreError::unsupported(
                "a postgresql database is backed up with pg_dump, not by ragd",
            ));
        }
        exec!(
            self,
            sqlx::query("VACUUM INTO $1").bind(path.to_string_lossy().to_string())
        )?;
        Ok(())
    }

    /// Chunks and tokens of every ready document.
    pub async fn ready_totals(&self) -> Result<(i64, i64)> {
        Ok(fetch!(self, fetch_one, sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(chunk_count), 0) AS BIGINT), CAST(COALESCE(SUM(token_count), 0) AS BIGINT) FROM documents WHERE status = 'ready'",
        ))?)
    }

    /// Every document with its status and chunk count (for the start-up reconciliation).
    pub async fn document_states(&self) -> Result<Vec<(String, DocStatus, i64, String)>> {
        Ok(fetch!(
            self,
            fetch_all,
            sqlx::query_as(
                "SELECT d.id, d.status, d.chunk_count, k.embedding_model FROM documents d
             JOIN knowledge_bases k ON k.id = d.kb_id ORDER BY d.id",
            )
        )?)
    }
}
