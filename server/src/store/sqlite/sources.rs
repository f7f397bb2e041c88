//! SQL for sources, runs and the files a source saw (schema: `migrations/0004_sources.sql`,
//! `0005_source_validators.sql`).
//!
//! Every change a run makes to one file is one transaction that also bumps the run's
//! counter, so a run cut off by a crash resumes with its record intact.

use std::collections::HashMap;

use crate::store::{
    Applied, Counter, Known, NewDocument, Result, Run, RunError, Seen, SourceRow, Spec, StoreError,
    Validators,
};

/// path, size, mtime, hash, document, changed run, etag, last-modified.
type KnownRow = (
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const SOURCE_COLUMNS: &str = "id, kb_id, kind, path, urls, include, exclude, schedule, timezone, enabled, last_fire, created_at";
const RUN_SELECT: &str = "SELECT r.id, r.source_id, r.trigger, r.status, r.phase, r.files_total, r.files_scanned,
       (SELECT COUNT(*) FROM jobs j WHERE j.run_id = r.id AND j.kind = 'ingest' AND j.status IN ('queued', 'running')) AS docs_pending,
       r.added, r.updated, r.deleted, r.renamed, r.unchanged, r.failed, r.error, r.created_at, r.started_at,
       r.finished_at, r.duration_ms
  FROM source_runs r";
/// Statuses of a run that is not over.
pub const ACTIVE: &str = "('queued', 'running')";

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl super::Store {
    // ---- sources ----

    pub async fn create_source(&self, id: &str, kb_id: &str, spec: &Spec) -> Result<SourceRow> {
        let now = crate::store::now();
        sqlx::query("INSERT INTO sources (id, kb_id, kind, path, urls, include, exclude, schedule, timezone, enabled, last_fire, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(kb_id)
            .bind(spec.kind.as_str())
            .bind(spec.path.as_ref().map(|p| p.to_string_lossy().into_owned()))
            .bind(json(&spec.urls))
            .bind(json(&spec.include))
            .bind(json(&spec.exclude))
            .bind(&spec.schedule)
            .bind(&spec.timezone)
            .bind(spec.enabled)
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await?;
        self.get_source(kb_id, id)
            .await?
            .ok_or_else(StoreError::missing)
    }

    pub async fn get_source(&self, kb_id: &str, id: &str) -> Result<Option<SourceRow>> {
        sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ? AND kb_id = ?"
        ))
        .bind(id)
        .bind(kb_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn source_by_id(&self, id: &str) -> Result<Option<SourceRow>> {
        sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn list_sources(&self, kb_id: &str) -> Result<Vec<SourceRow>> {
        sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE kb_id = ? ORDER BY created_at, id"
        ))
        .bind(kb_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Enabled sources with a schedule (the scheduler's work list).
    pub async fn scheduled_sources(&self) -> Result<Vec<SourceRow>> {
        sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE enabled = 1 AND schedule IS NOT NULL"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Replaces a source's settings. A new schedule starts counting from now.
    pub async fn update_source(&self, id: &str, spec: &Spec, schedule_changed: bool) -> Result<()> {
        let now = crate::store::now();
        sqlx::query(
            "UPDATE sources SET path = ?, urls = ?, include = ?, exclude = ?, schedule = ?, timezone = ?, enabled = ?,
                    last_fire = CASE WHEN ? THEN ? ELSE last_fire END
              WHERE id = ?",
        )
        .bind(spec.path.as_ref().map(|p| p.to_string_lossy().into_owned()))
        .bind(json(&spec.urls))
        .bind(json(&spec.include))
        .bind(json(&spec.exclude))
        .bind(&spec.schedule)
        .bind(&spec.timezone)
        .bind(spec.enabled)
        .bind(schedule_changed)
        .bind(&now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ids of the documents a source brought in.
    pub async fn source_documents(&self, source_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM documents WHERE source_id = ?")
            .bind(source_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Deletes a source, its runs and its documents' rows (the caller removed their points).
    pub async fn delete_source(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM documents WHERE source_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM sources WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    // ---- runs ----

    /// Queues a run and its sync job, unless the source already has one active: then
    /// `Err(active run)`. `fire` records a scheduled fire as handled in the same step.
    pub async fn start_run(
        &self,
        source_id: &str,
        trigger: &str,
        fire: Option<&str>,
    ) -> Result<Result<Run, Run>> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(fire) = fire {
            sqlx::query("UPDATE sources SET last_fire = ? WHERE id = ?")
                .bind(fire)
                .bind(source_id)
                .execute(&mut *tx)
                .await?;
        }
        let active: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM source_runs WHERE source_id = ? AND status IN {ACTIVE} ORDER BY id DESC LIMIT 1"
        ))
        .bind(source_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(active) = active {
            tx.commit().await?;
            let run = self
                .get_run(active)
                .await?
                .ok_or_else(StoreError::missing)?;
            return Ok(Err(run));
        }
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO source_runs (source_id, trigger, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(source_id)
        .bind(trigger)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO jobs (kind, run_id, created_at) VALUES ('sync', ?, ?)")
            .bind(run_id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(self
            .get_run(run_id)
            .await?
            .ok_or_else(StoreError::missing)?))
    }

    pub async fn get_run(&self, id: i64) -> Result<Option<Run>> {
        sqlx::query_as(&format!("{RUN_SELECT} WHERE r.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn list_runs(&self, source_id: &str, limit: i64) -> Result<Vec<Run>> {
        sqlx::query_as(&format!(
            "{RUN_SELECT} WHERE r.source_id = ? ORDER BY r.id DESC LIMIT ?"
        ))
        .bind(source_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn run_errors(&self, run_id: i64, limit: i64) -> Result<Vec<RunError>> {
        sqlx::query_as(
            "SELECT path, error FROM source_run_errors WHERE run_id = ? ORDER BY rowid LIMIT ?",
        )
        .bind(run_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Marks a run running in its scanning phase (again, when resumed).
    pub async fn run_scanning(&self, run_id: i64) -> Result<()> {
        let now = crate::store::now();
        sqlx::query(&format!(
            "UPDATE source_runs SET status = 'running', phase = 'scanning', started_at = COALESCE(started_at, ?)
              WHERE id = ? AND status IN {ACTIVE}"
        ))
        .bind(&now)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn run_progress(&self, run_id: i64, total: Option<i64>, scanned: i64) -> Result<()> {
        sqlx::query("UPDATE source_runs SET files_total = COALESCE(?, files_total), files_scanned = ? WHERE id = ?")
            .bind(total)
            .bind(scanned)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the run is still wanted (not cancelled, not deleted).
    pub async fn run_active(&self, run_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM source_runs WHERE id = ? AND status IN {ACTIVE}"
        ))
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn record_run_error(&self, run_id: i64, path: &str, error: &str) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO source_run_errors (run_id, path, error) VALUES (?, ?, ?)")
            .bind(run_id)
            .bind(path)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE source_runs SET failed = failed + 1 WHERE id = ?")
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)
    }

    /// The scan is over: `unchanged` files counted; the run waits for its ingest jobs.
    pub async fn run_scanned(&self, run_id: i64, unchanged: i64, scanned: i64) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE source_runs SET phase = 'ingesting', unchanged = ?, files_scanned = ? WHERE id = ? AND status IN {ACTIVE}"
        ))
        .bind(unchanged)
        .bind(scanned)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends the run as failed with `error`.
    pub async fn fail_run(&self, run_id: i64, error: &str) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "UPDATE source_runs SET status = 'failed', phase = NULL, error = ?, finished_at = ?, duration_ms = CAST((julianday(?) - julianday(COALESCE(started_at, created_at))) * 86400000 AS INTEGER)
              WHERE id = ? AND status IN {ACTIVE}"
        ))
        .bind(error)
        .bind(&now)
        .bind(&now)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        cancel_queued_jobs(&mut tx, run_id).await?;
        tx.commit().await.map_err(StoreError::from)
    }

    /// Ends the run as done when its scan is over and no ingest job of it is left.
    pub async fn finish_run_if_idle(&self, run_id: i64) -> Result<bool> {
        let now = crate::store::now();
        let r = sqlx::query("UPDATE source_runs SET status = 'done', phase = NULL, finished_at = ?, duration_ms = CAST((julianday(?) - julianday(COALESCE(started_at, created_at))) * 86400000 AS INTEGER)
              WHERE id = ? AND status = 'running' AND phase = 'ingesting'
                AND NOT EXISTS (SELECT 1 FROM jobs WHERE run_id = ? AND kind = 'ingest' AND status IN ('queued', 'running'))")
        .bind(&now)
        .bind(&now)
        .bind(run_id)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Cancels an active run: its queued ingest jobs are dropped (their documents keep what
    /// was indexed before, and their paths are checked again next run). `None` when the run
    /// is not active.
    pub async fn cancel_run(&self, run_id: i64) -> Result<bool> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let r = sqlx::query(&format!(
            "UPDATE source_runs SET status = 'cancelled', phase = NULL, finished_at = ?, duration_ms = CAST((julianday(?) - julianday(COALESCE(started_at, created_at))) * 86400000 AS INTEGER)
              WHERE id = ? AND status IN {ACTIVE}"
        ))
        .bind(&now)
        .bind(&now)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(false);
        }
        cancel_queued_jobs(&mut tx, run_id).await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- the files a source saw ----

    pub async fn known_files(&self, source_id: &str) -> Result<HashMap<String, Known>> {
        let rows: Vec<KnownRow> = sqlx::query_as(
            "SELECT path, size_bytes, mtime_ns, content_hash, document_id, changed_run, etag, last_modified
             FROM source_files WHERE source_id = ?",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(path, size, mtime_ns, hash, document_id, changed_run, etag, last_modified)| {
                    (
                        path,
                        Known {
                            size,
                            mtime_ns,
                            hash,
                            document_id,
                            changed_run,
                            validators: Validators {
                                etag,
                                last_modified,
                            },
                        },
                    )
                },
            )
            .collect())
    }

    /// Records a new stat for a path whose content did not change.
    pub async fn touch_file(&self, source_id: &str, seen: &Seen) -> Result<()> {
        sqlx::query(
            "UPDATE source_files SET size_bytes = ?, mtime_ns = ?, etag = ?, last_modified = ?
             WHERE source_id = ? AND path = ?",
        )
        .bind(seen.size)
        .bind(seen.mtime_ns)
        .bind(&seen.validators.etag)
        .bind(&seen.validators.last_modified)
        .bind(source_id)
        .bind(&seen.path)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A renamed file: its row moves to the new path and the document follows the name; no
    /// re-embedding.
    pub async fn rename_file(
        &self,
        source_id: &str,
        run_id: i64,
        from: &str,
        seen: &Seen,
    ) -> Result<()> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let doc: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE source_files SET path = ?, size_bytes = ?, mtime_ns = ?, changed_run = ?, etag = ?, last_modified = ?
             WHERE source_id = ? AND path = ?
             RETURNING document_id",
        )
        .bind(&seen.path)
        .bind(seen.size)
        .bind(seen.mtime_ns)
        .bind(run_id)
        .bind(&seen.validators.etag)
        .bind(&seen.validators.last_modified)
        .bind(source_id)
        .bind(from)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(Some(doc)) = doc {
            sqlx::query("UPDATE documents SET name = ?, updated_at = ? WHERE id = ? AND name = ?")
                .bind(&seen.path)
                .bind(&now)
                .bind(doc)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        bump(&mut tx, run_id, Counter::Renamed).await?;
        tx.commit().await.map_err(StoreError::from)
    }

    /// A new path, or a known path whose content changed. The file is already in the blob
    /// store under `seen.hash`.
    ///
    /// - content the knowledge base already holds: the path links to that document;
    /// - a changed path whose document only this path uses: the document is re-ingested in
    ///   place (same id; the old chunks stay searchable until the new ones replace them);
    /// - otherwise a new document is queued.
    ///
    /// Documents of this source left without any path are returned as orphaned (their rows
    /// are already gone).
    pub async fn upsert_file(
        &self,
        kb_id: &str,
        source_id: &str,
        run_id: i64,
        seen: &Seen,
        previous: Option<&Known>,
    ) -> Result<Applied> {
        let now = crate::store::now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut applied = Applied::default();
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM documents WHERE kb_id = ? AND content_hash = ?")
                .bind(kb_id)
                .bind(&seen.hash)
                .fetch_optional(&mut *tx)
                .await?;
        let old_doc = previous.and_then(|k| k.document_id.clone());
        let sole_owner = match &old_doc {
            Some(doc) => {
                let (owner, paths): (Option<String>, i64) = sqlx::query_as(
                    "SELECT d.source_id, (SELECT COUNT(*) FROM source_files f WHERE f.document_id = d.id)
                       FROM documents d WHERE d.id = ?",
                )
                .bind(doc)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or((None, 0));
                owner.as_deref() == Some(source_id) && paths == 1
            }
            None => false,
        };
        let document_id = match (existing, &old_doc) {
            // The path's own document already holds this content, but its indexing was
            // interrupted (a cancelled run): ingest it again.
            (Some(doc), Some(old)) if doc == *old => {
                sqlx::query("UPDATE documents SET status = 'queued', error = NULL, updated_at = ? WHERE id = ?")
                .bind(&now)
                .bind(&doc)
                .execute(&mut *tx)
                .await?;
                queue_ingest(&mut tx, &doc, run_id).await?;
                applied.queued = true;
                doc
            }
            (Some(doc), _) => doc,
            (None, Some(doc)) if sole_owner => {
                sqlx::query("UPDATE documents SET content_hash = ?, size_bytes = ?, format = ?, status = 'queued', error = NULL,
                            updated_at = ? WHERE id = ?")
                .bind(&seen.hash)
                .bind(seen.size)
                .bind(&seen.format)
                .bind(&now)
                .bind(doc)
                .execute(&mut *tx)
                .await?;
                queue_ingest(&mut tx, doc, run_id).await?;
                applied.queued = true;
                doc.clone()
            }
            _ => {
                let doc = NewDocument {
                    id: uuid::Uuid::now_v7().to_string(),
                    kb_id: kb_id.to_string(),
                    name: seen.path.clone(),
                    content_hash: seen.hash.clone(),
                    size_bytes: seen.size,
                    format: seen.format.clone(),
                    metadata: "{}".into(),
                };
                sqlx::query("INSERT INTO documents (id, kb_id, name, content_hash, size_bytes, format, source_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(&doc.id)
                    .bind(&doc.kb_id)
                    .bind(&doc.name)
                    .bind(&doc.content_hash)
                    .bind(doc.size_bytes)
                    .bind(&doc.format)
                    .bind(source_id)
                    .bind(&now)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                queue_ingest(&mut tx, &doc.id, run_id).await?;
                applied.queued = true;
                doc.id
            }
        };
        sqlx::query(
            "INSERT INTO source_files (source_id, path, size_bytes, mtime_ns, content_hash, document_id, changed_run, etag, last_modified)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (source_id, path) DO UPDATE SET size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns,
                content_hash = excluded.content_hash, document_id = excluded.document_id, changed_run = excluded.changed_run,
                etag = excluded.etag, last_modified = excluded.last_modified",
        )
        .bind(source_id)
        .bind(&seen.path)
        .bind(seen.size)
        .bind(seen.mtime_ns)
        .bind(&seen.hash)
        .bind(&document_id)
        .bind(run_id)
        .bind(&seen.validators.etag)
        .bind(&seen.validators.last_modified)
        .execute(&mut *tx)
        .await?;
        if let Some(old) = old_doc.filter(|old| *old != document_id) {
            applied
                .orphaned
                .extend(drop_if_orphan(&mut tx, source_id, &old).await?);
            follow_remaining_path(&mut tx, &old, &seen.path).await?;
        }
        let counter = if previous.is_some() {
            Counter::Updated
        } else {
            Counter::Added
        };
        bump(&mut tx, run_id, counter).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Paths that vanished: their rows go, and documents of this source left without any
    /// path go with them (returned, for their points and files to be removed).
    pub async fn remove_files(
        &self,
        source_id: &str,
        run_id: i64,
        paths: &[String],
    ) -> Result<Vec<String>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut orphaned = Vec::new();
        for path in paths {
            let doc: Option<Option<String>> = sqlx::query_scalar(
                "DELETE FROM source_files WHERE source_id = ? AND path = ? RETURNING document_id",
            )
            .bind(source_id)
            .bind(path)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(doc) = doc else { continue };
            if let Some(doc) = doc {
                orphaned.extend(drop_if_orphan(&mut tx, source_id, &doc).await?);
                follow_remaining_path(&mut tx, &doc, path).await?;
            }
            bump(&mut tx, run_id, Counter::Deleted).await?;
        }
        tx.commit().await?;
        Ok(orphaned)
    }

    /// The ids of documents of this source that no path uses (left over by a crash between
    /// a file change and its cleanup).
    pub async fn unreferenced_documents(&self, source_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT d.id FROM documents d WHERE d.source_id = ?
               AND NOT EXISTS (SELECT 1 FROM source_files f WHERE f.document_id = d.id)",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Deletes document rows (their points are gone already). Returns their hashes.
    pub async fn delete_documents(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut hashes = Vec::new();
        for id in ids {
            let hash: Option<String> =
                sqlx::query_scalar("DELETE FROM documents WHERE id = ? RETURNING content_hash")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            hashes.extend(hash);
        }
        tx.commit().await?;
        Ok(hashes)
    }
}

/// Orphaned documents are only detached here; the caller deletes their points first and
/// their rows after ([`Db::delete_documents`]), so a crash in between leaves rows without
/// points (cleaned next run), never points without rows.
async fn drop_if_orphan(
    tx: &mut sqlx::SqliteConnection,
    source_id: &str,
    doc: &str,
) -> Result<Option<String>> {
    let orphan: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM documents d WHERE d.id = ? AND d.source_id = ?
           AND NOT EXISTS (SELECT 1 FROM source_files f WHERE f.document_id = d.id)",
    )
    .bind(doc)
    .bind(source_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(orphan.map(|_| doc.to_string()))
}

/// A document named after a path it no longer has takes the name of a path it still has
/// (several paths may hold the same content).
async fn follow_remaining_path(
    tx: &mut sqlx::SqliteConnection,
    doc: &str,
    left: &str,
) -> Result<()> {
    let now = crate::store::now();
    sqlx::query("UPDATE documents SET name = (SELECT path FROM source_files WHERE document_id = ?1 ORDER BY path LIMIT 1),
                updated_at = ?3
          WHERE id = ?1 AND name = ?2 AND EXISTS (SELECT 1 FROM source_files WHERE document_id = ?1)")
    .bind(doc)
    .bind(left)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn queue_ingest(tx: &mut sqlx::SqliteConnection, doc: &str, run_id: i64) -> Result<()> {
    let now = crate::store::now();
    // A document has at most one pending ingest.
    sqlx::query("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE document_id = ? AND status = 'queued'")
        .bind(&now)
        .bind(doc)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO jobs (kind, document_id, run_id, created_at) VALUES ('ingest', ?, ?, ?)",
    )
    .bind(doc)
    .bind(run_id)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn bump(tx: &mut sqlx::SqliteConnection, run_id: i64, counter: Counter) -> Result<()> {
    let column = counter_column(counter);
    sqlx::query(&format!(
        "UPDATE source_runs SET {column} = {column} + 1 WHERE id = ?"
    ))
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Drops a run's queued jobs. Their documents keep the chunks they had; their paths get an
/// empty hash so the next run checks them again.
async fn cancel_queued_jobs(tx: &mut sqlx::SqliteConnection, run_id: i64) -> Result<()> {
    let now = crate::store::now();
    let docs: Vec<String> = sqlx::query_scalar(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?
          WHERE run_id = ? AND kind = 'ingest' AND status = 'queued' AND document_id IS NOT NULL RETURNING document_id",
    )
    .bind(&now)
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("UPDATE jobs SET status = 'cancelled' WHERE run_id = ? AND kind = 'sync' AND status = 'queued'")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    for doc in docs {
        sqlx::query("UPDATE source_files SET content_hash = '' WHERE document_id = ?")
            .bind(&doc)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE documents SET status = CASE WHEN chunk_count > 0 THEN 'ready' ELSE 'cancelled' END,
                    error = CASE WHEN chunk_count > 0 THEN NULL ELSE 'sync run cancelled before this file was ingested' END,
                    updated_at = ? WHERE id = ?")
        .bind(&now)
        .bind(&doc)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The column of a run counter.
fn counter_column(c: Counter) -> &'static str {
    match c {
        Counter::Added => "added",
        Counter::Updated => "updated",
        Counter::Deleted => "deleted",
        Counter::Renamed => "renamed",
        Counter::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::sources::Kind;

    async fn setup() -> (tempfile::TempDir, super::super::Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Store::open(&dir.path().join("t.sqlite"))
            .await
            .unwrap();
        db.create_kb(&crate::store::NewKbRow {
            id: "kb",
            name: "kb",
            description: "",
            chunk_size: 256,
            chunk_overlap: 32,
            embedding: crate::store::KbEmbedding {
                preset: Some("default"),
                model: "hash-test",
                dim: 64,
                provider: "local",
                config: "",
            },
        })
        .await
        .unwrap();
        let spec = Spec {
            kind: Kind::Folder,
            path: Some(dir.path().to_path_buf()),
            urls: vec![],
            include: vec![],
            exclude: vec![],
            schedule: None,
            timezone: "UTC".into(),
            enabled: true,
        };
        db.create_source("s", "kb", &spec).await.unwrap();
        let run = db.start_run("s", "manual", None).await.unwrap().unwrap();
        (dir, db, run.id)
    }

    fn seen(path: &str, hash: &str) -> Seen {
        Seen {
            path: path.into(),
            size: 1,
            mtime_ns: 1,
            hash: hash.into(),
            format: "text".into(),
            validators: Validators::default(),
        }
    }

    #[tokio::test]
    async fn copies_share_a_document_that_follows_the_remaining_path() {
        let (_dir, db, run) = setup().await;
        let a = db
            .upsert_file("kb", "s", run, &seen("a.txt", "h1"), None)
            .await
            .unwrap();
        assert!(a.queued);
        let b = db
            .upsert_file("kb", "s", run, &seen("b.txt", "h1"), None)
            .await
            .unwrap();
        assert!(!b.queued, "same content: linked, not ingested again");
        let (docs, total) = db.list_documents("kb", None, 10, 0).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(docs[0].name, "a.txt");
        let orphaned = db.remove_files("s", run, &["a.txt".into()]).await.unwrap();
        assert!(orphaned.is_empty());
        let (docs, _) = db.list_documents("kb", None, 10, 0).await.unwrap();
        assert_eq!(docs[0].name, "b.txt");
        let orphaned = db.remove_files("s", run, &["b.txt".into()]).await.unwrap();
        assert_eq!(orphaned, vec![docs[0].id.clone()]);
        let r = db.get_run(run).await.unwrap().unwrap();
        assert_eq!((r.added, r.deleted), (2, 2));
    }

    #[tokio::test]
    async fn a_changed_file_keeps_its_document_and_queues_one_ingest() {
        let (_dir, db, run) = setup().await;
        db.upsert_file("kb", "s", run, &seen("a.txt", "h1"), None)
            .await
            .unwrap();
        let known = db.known_files("s").await.unwrap();
        let before = known["a.txt"].document_id.clone().unwrap();
        let applied = db
            .upsert_file("kb", "s", run, &seen("a.txt", "h2"), Some(&known["a.txt"]))
            .await
            .unwrap();
        assert!(applied.queued && applied.orphaned.is_empty());
        let known = db.known_files("s").await.unwrap();
        assert_eq!(known["a.txt"].document_id.as_deref(), Some(before.as_str()));
        assert_eq!(known["a.txt"].hash, "h2");
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE document_id = ? AND status = 'queued'",
        )
        .bind(&before)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(pending, 1, "the superseded ingest is cancelled");
        // A second active run is refused while this one is active.
        assert!(db.start_run("s", "manual", None).await.unwrap().is_err());
        assert!(db.cancel_run(run).await.unwrap());
        let known = db.known_files("s").await.unwrap();
        assert_eq!(known["a.txt"].hash, "", "checked again next run");
        assert!(!db.cancel_run(run).await.unwrap());
    }
}
