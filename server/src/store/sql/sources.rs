//! SQL for sources, runs and the files a source saw (schema: `migrations/0004_sources.sql`,
//! `0005_source_validators.sql`).
//!
//! Every change a run makes to one file is one transaction that also bumps the run's
//! counter, so a run cut off by a crash resumes with its record intact.

use std::collections::HashMap;

use crate::store::db::{exec, fetch, Tx};

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
        exec!(self, sqlx::query("INSERT INTO sources (id, kb_id, kind, path, urls, include, exclude, schedule, timezone, enabled, last_fire, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
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
            .bind(&now))?;
        self.get_source(kb_id, id)
            .await?
            .ok_or_else(StoreError::missing)
    }

    pub async fn get_source(&self, kb_id: &str, id: &str) -> Result<Option<SourceRow>> {
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1 AND kb_id = $2"
            ))
            .bind(id)
            .bind(kb_id)
        )
        .map_err(StoreError::from)
    }

    pub async fn source_by_id(&self, id: &str) -> Result<Option<SourceRow>> {
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1"
            ))
            .bind(id)
        )
        .map_err(StoreError::from)
    }

    pub async fn list_sources(&self, kb_id: &str) -> Result<Vec<SourceRow>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE kb_id = $1 ORDER BY created_at, id"
            ))
            .bind(kb_id)
        )
        .map_err(StoreError::from)
    }

    /// Enabled sources with a schedule (the scheduler's work list).
    pub async fn scheduled_sources(&self) -> Result<Vec<SourceRow>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE enabled = TRUE AND schedule IS NOT NULL"
        ))
        )
        .map_err(StoreError::from)
    }

    /// Replaces a source's settings. A new schedule starts counting from now.
    pub async fn update_source(&self, id: &str, spec: &Spec, schedule_changed: bool) -> Result<()> {
        let now = crate::store::now();
        exec!(self, sqlx::query(
            "UPDATE sources SET path = $1, urls = $2, include = $3, exclude = $4, schedule = $5, timezone = $6, enabled = $7,
                    last_fire = CASE WHEN $8 THEN $9 ELSE last_fire END
              WHERE id = $10",
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
        .bind(id))?;
        Ok(())
    }

    /// Ids of the documents a source brought in.
    pub async fn source_documents(&self, source_id: &str) -> Result<Vec<String>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_scalar("SELECT id FROM documents WHERE source_id = $1").bind(source_id)
        )
        .map_err(StoreError::from)
    }

    /// Deletes a source, its runs and its documents' rows (the caller removed their points).
    pub async fn delete_source(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("DELETE FROM documents WHERE source_id = $1")
            .bind(id))?;
        let r = exec!(tx tx, sqlx::query("DELETE FROM sources WHERE id = $1")
            .bind(id))?;
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
        let mut tx = self.db.write().await?;
        if let Some(fire) = fire {
            exec!(tx tx, sqlx::query("UPDATE sources SET last_fire = $1 WHERE id = $2")
                .bind(fire)
                .bind(source_id))?;
        }
        let active: Option<i64> = fetch!(tx tx, fetch_optional, sqlx::query_scalar(&format!(
            "SELECT id FROM source_runs WHERE source_id = $1 AND status IN {ACTIVE} ORDER BY id DESC LIMIT 1"
        ))
        .bind(source_id))?;
        if let Some(active) = active {
            tx.commit().await?;
            let run = self
                .get_run(active)
                .await?
                .ok_or_else(StoreError::missing)?;
            return Ok(Err(run));
        }
        let run_id: i64 = fetch!(tx tx, fetch_one, sqlx::query_scalar(
            "INSERT INTO source_runs (source_id, trigger, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(source_id)
        .bind(trigger)
        .bind(&now))?;
        exec!(tx tx, sqlx::query("INSERT INTO jobs (kind, run_id, created_at) VALUES ('sync', $1, $2)")
            .bind(run_id)
            .bind(&now))?;
        tx.commit().await?;
        Ok(Ok(self
            .get_run(run_id)
            .await?
            .ok_or_else(StoreError::missing)?))
    }

    pub async fn get_run(&self, id: i64) -> Result<Option<Run>> {
        fetch!(
            self,
            fetch_optional,
            sqlx::query_as(&format!("{RUN_SELECT} WHERE r.id = $1")).bind(id)
        )
        .map_err(StoreError::from)
    }

    pub async fn list_runs(&self, source_id: &str, limit: i64) -> Result<Vec<Run>> {
        fetch!(
            self,
            fetch_all,
            sqlx::query_as(&format!(
                "{RUN_SELECT} WHERE r.source_id = $1 ORDER BY r.id DESC LIMIT $2"
            ))
            .bind(source_id)
            .bind(limit)
        )
        .map_err(StoreError::from)
    }

    pub async fn run_errors(&self, run_id: i64, limit: i64) -> Result<Vec<RunError>> {
        fetch!(self, fetch_all, sqlx::query_as(
            "SELECT path, error FROM source_run_errors WHERE run_id = $1 ORDER BY rowid LIMIT $2",
        )
        .bind(run_id)
        .bind(limit))
        .map_err(StoreError::from)
    }

    /// Marks a run running in its scanning phase (again, when resumed).
    pub async fn run_scanning(&self, run_id: i64) -> Result<()> {
        let now = crate::store::now();
        exec!(self, sqlx::query(&format!(
            "UPDATE source_runs SET status = 'running', phase = 'scanning', started_at = COALESCE(started_at, $1)
              WHERE id = $2 AND status IN {ACTIVE}"
        ))
        .bind(&now)
        .bind(run_id))?;
        Ok(())
    }

    pub async fn run_progress(&self, run_id: i64, total: Option<i64>, scanned: i64) -> Result<()> {
        exec!(self, sqlx::query("UPDATE source_runs SET files_total = COALESCE($1, files_total), files_scanned = $2 WHERE id = $3")
            .bind(total)
            .bind(scanned)
            .bind(run_id))?;
        Ok(())
    }

    /// Whether the run is still wanted (not cancelled, not deleted).
    pub async fn run_active(&self, run_id: i64) -> Result<bool> {
        let n: i64 = fetch!(
            self,
            fetch_one,
            sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM source_runs WHERE id = $1 AND status IN {ACTIVE}"
            ))
            .bind(run_id)
        )?;
        Ok(n > 0)
    }

    pub async fn record_run_error(&self, run_id: i64, path: &str, error: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query("INSERT INTO source_run_errors (run_id, path, error) VALUES ($1, $2, $3)")
            .bind(run_id)
            .bind(path)
            .bind(error))?;
        exec!(tx tx, sqlx::query("UPDATE source_runs SET failed = failed + 1 WHERE id = $1")
            .bind(run_id))?;
        tx.commit().await
    }

    /// The scan is over: `unchanged` files counted; the run waits for its ingest jobs.
    pub async fn run_scanned(&self, run_id: i64, unchanged: i64, scanned: i64) -> Result<()> {
        exec!(self, sqlx::query(&format!(
            "UPDATE source_runs SET phase = 'ingesting', unchanged = $1, files_scanned = $2 WHERE id = $3 AND status IN {ACTIVE}"
        ))
        .bind(unchanged)
        .bind(scanned)
        .bind(run_id))?;
        Ok(())
    }

    /// Ends the run as failed with `error`.
    pub async fn fail_run(&self, run_id: i64, error: &str) -> Result<()> {
        let now = crate::store::now();
        let elapsed = self
            .dialect()
            .elapsed_ms("$3", "COALESCE(started_at, created_at)");
        let mut tx = self.db.write().await?;
        exec!(tx tx, sqlx::query(&format!(
            "UPDATE source_runs SET status = 'failed', phase = NULL, error = $1, finished_at = $2, duration_ms = {elapsed}
              WHERE id = $4 AND status IN {ACTIVE}"
        ))
        .bind(error)
        .bind(&now)
        .bind(&now)
        .bind(run_id))?;
        cancel_queued_jobs(&mut tx, run_id).await?;
        tx.commit().await
    }

    /// Ends the run as done when its scan is over and no ingest job of it is left.
    pub async fn finish_run_if_idle(&self, run_id: i64) -> Result<bool> {
        let now = crate::store::now();
        let elapsed = self
            .dialect()
            .elapsed_ms("$2", "COALESCE(started_at, created_at)");
        let r = exec!(self, sqlx::query(&format!("UPDATE source_runs SET status = 'done', phase = NULL, finished_at = $1, duration_ms = {elapsed}
              WHERE id = $3 AND status = 'running' AND phase = 'ingesting'
                AND NOT EXISTS (SELECT 1 FROM jobs WHERE run_id = $4 AND kind = 'ingest' AND status IN ('queued', 'running'))"))
        .bind(&now)
        .bind(&now)
        .bind(run_id)
        .bind(run_id))?;
        Ok(r.rows_affected() > 0)
    }

    /// Cancels an active run: its queued ingest jobs are dropped (their documents keep what
    /// was indexed before, and their paths are checked again next run). `None` when the run
    /// is not active.
    pub async fn cancel_run(&self, run_id: i64) -> Result<bool> {
        let now = crate::store::now();
        let elapsed = self
            .dialect()
            .elapsed_ms("$2", "COALESCE(started_at, created_at)");
        let mut tx = self.db.write().await?;
        let r = exec!(tx tx, sqlx::query(&format!(
            "UPDATE source_runs SET status = 'cancelled', phase = NULL, finished_at = $1, duration_ms = {elapsed}
              WHERE id = $3 AND status IN {ACTIVE}"
        ))
        .bind(&now)
        .bind(&now)
        .bind(run_id))?;
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
        let rows: Vec<KnownRow> = fetch!(self, fetch_all, sqlx::query_as(
            "SELECT path, size_bytes, mtime_ns, content_hash, document_id, changed_run, etag, last_modified
             FROM source_files WHERE source_id = $1",
        )
        .bind(source_id))?;
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
        exec!(self, sqlx::query(
            "UPDATE source_files SET size_bytes = $1, mtime_ns = $2, etag = $3, last_modified = $4
             WHERE source_id = $5 AND path = $6",
        )
        .bind(seen.size)
        .bind(seen.mtime_ns)
        .bind(&seen.validators.etag)
        .bind(&seen.validators.last_modified)
        .bind(source_id)
        .bind(&seen.path))?;
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
        let mut tx = self.db.write().await?;
        let doc: Option<Option<String>> = fetch!(tx tx, fetch_optional, sqlx::query_scalar(
            "UPDATE source_files SET path = $1, size_bytes = $2, mtime_ns = $3, changed_run = $4, etag = $5, last_modified = $6
             WHERE source_id = $7 AND path = $8
             RETURNING document_id",
        )
        .bind(&seen.path)
        .bind(seen.size)
        .bind(seen.mtime_ns)
        .bind(run_id)
        .bind(&seen.validators.etag)
        .bind(&seen.validators.last_modified)
        .bind(source_id)
        .bind(from))?;
        if let Some(Some(doc)) = doc {
            exec!(tx tx, sqlx::query("UPDATE documents SET name = $1, updated_at = $2 WHERE id = $3 AND name = $4")
                .bind(&seen.path)
                .bind(&now)
                .bind(doc)
                .bind(from))?;
        }
        bump(&mut tx, run_id, Counter::Renamed).await?;
        tx.commit().await
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
        let mut tx = self.db.write().await?;
        let mut applied = Applied::default();
        let existing: Option<String> = fetch!(tx tx, fetch_optional, sqlx::query_scalar("SELECT id FROM documents WHERE kb_id = $1 AND content_hash = $2")
                .bind(kb_id)
                .bind(&seen.hash))?;
        let old_doc = previous.and_then(|k| k.document_id.clone());
        let sole_owner = match &old_doc {
            Some(doc) => {
                let (owner, paths): (Option<String>, i64) = fetch!(tx tx, fetch_optional, sqlx::query_as(
                    "SELECT d.source_id, (SELECT COUNT(*) FROM source_files f WHERE f.document_id = d.id)
                       FROM documents d WHERE d.id = $1",
                )
                .bind(doc))?
                .unwrap_or((None, 0));
                owner.as_deref() == Some(source_id) && paths == 1
            }
            None => false,
        };
        let document_id = match (existing, &old_doc) {
            // The path's own document already holds this content, but its indexing was
            // interrupted (a cancelled run): ingest it again.
            (Some(doc), Some(old)) if doc == *old => {
                exec!(tx tx, sqlx::query("UPDATE documents SET status = 'queued', error = NULL, updated_at = $1 WHERE id = $2")
                .bind(&now)
                .bind(&doc))?;
                queue_ingest(&mut tx, &doc, run_id).await?;
                applied.queued = true;
                doc
            }
            (Some(doc), _) => doc,
            (None, Some(doc)) if sole_owner => {
                exec!(tx tx, sqlx::query("UPDATE documents SET content_hash = $1, size_bytes = $2, format = $3, status = 'queued', error = NULL,
                            updated_at = $4 WHERE id = $5")
                .bind(&seen.hash)
                .bind(seen.size)
                .bind(&seen.format)
                .bind(&now)
                .bind(doc))?;
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
                exec!(tx tx, sqlx::query("INSERT INTO documents (id, kb_id, name, content_hash, size_bytes, format, source_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(&doc.id)
                    .bind(&doc.kb_id)
                    .bind(&doc.name)
                    .bind(&doc.content_hash)
                    .bind(doc.size_bytes)
                    .bind(&doc.format)
                    .bind(source_id)
                    .bind(&now)
                    .bind(&now))?;
                queue_ingest(&mut tx, &doc.id, run_id).await?;
                applied.queued = true;
                doc.id
            }
        };
        exec!(tx tx, sqlx::query(
            "INSERT INTO source_files (source_id, path, size_bytes, mtime_ns, content_hash, document_id, changed_run, etag, last_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        .bind(&seen.validators.last_modified))?;
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
        let mut tx = self.db.write().await?;
        let mut orphaned = Vec::new();
        for path in paths {
            let doc: Option<Option<String>> = fetch!(tx tx, fetch_optional, sqlx::query_scalar(
                "DELETE FROM source_files WHERE source_id = $1 AND path = $2 RETURNING document_id",
            )
            .bind(source_id)
            .bind(path))?;
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
        fetch!(
            self,
            fetch_all,
            sqlx::query_scalar(
                "SELECT d.id FROM documents d WHERE d.source_id = $1
               AND NOT EXISTS (SELECT 1 FROM source_files f WHERE f.document_id = d.id)",
            )
            .bind(source_id)
        )
        .map_err(StoreError::from)
    }

    /// Deletes document rows (their points are gone already). Returns their hashes.
    pub async fn delete_documents(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.db.write().await?;
        let mut hashes = Vec::new();
        for id in ids {
            let hash: Option<String> = fetch!(tx tx, fetch_optional, sqlx::query_scalar("DELETE FROM documents WHERE id = $1 RETURNING content_hash")
                    .bind(id))?;
            hashes.extend(hash);
        }
        tx.commit().await?;
        Ok(hashes)
    }
}

/// Orphaned documents are only detached here; the caller deletes their points first and
/// their rows after ([`Db::delete_documents`]), so a crash in between leaves rows without
/// points (cleaned next run), never points without rows.
async fn drop_if_orphan(tx: &mut Tx, source_id: &str, doc: &str) -> Result<Option<String>> {
    let orphan: Option<i64> = fetch!(tx tx, fetch_optional, sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM documents d WHERE d.id = $1 AND d.source_id = $2
           AND NOT EXISTS (SELECT 1 FROM source_files f WHERE f.document_id = d.id)",
    )
    .bind(doc)
    .bind(source_id))?;
    Ok(orphan.map(|_| doc.to_string()))
}

/// A document named after a path it no longer has takes the name of a path it still has
/// (several paths may hold the same content).
async fn follow_remaining_path(tx: &mut Tx, doc: &str, left: &str) -> Result<()> {
    let now = crate::store::now();
    exec!(tx tx, sqlx::query("UPDATE documents SET name = (SELECT path FROM source_files WHERE document_id = $1 ORDER BY path LIMIT 1),
                updated_at = $3
          WHERE id = $1 AND name = $2 AND EXISTS (SELECT 1 FROM source_files WHERE document_id = $1)")
    .bind(doc)
    .bind(left)
    .bind(&now))?;
    Ok(())
}

async fn queue_ingest(tx: &mut Tx, doc: &str, run_id: i64) -> Result<()> {
    let now = crate::store::now();
    // A document has at most one pending ingest.
    exec!(tx tx, sqlx::query("UPDATE jobs SET status = 'cancelled', finished_at = $1 WHERE document_id = $2 AND status = 'queued'")
        .bind(&now)
        .bind(doc))?;
    exec!(tx tx, sqlx::query(
        "INSERT INTO jobs (kind, document_id, run_id, created_at) VALUES ('ingest', $1, $2, $3)",
    )
    .bind(doc)
    .bind(run_id)
    .bind(&now))?;
    Ok(())
}

async fn bump(tx: &mut Tx, run_id: i64, counter: Counter) -> Result<()> {
    let column = counter_column(counter);
    exec!(tx tx, sqlx::query(&format!(
        "UPDATE source_runs SET {column} = {column} + 1 WHERE id = $1"
    ))
    .bind(run_id))?;
    Ok(())
}

/// Drops a run's queued jobs. Their documents keep the chunks they had; their paths get an
/// empty hash so the next run checks them again.
async fn cancel_queued_jobs(tx: &mut Tx, run_id: i64) -> Result<()> {
    let now = crate::store::now();
    let docs: Vec<String> = fetch!(tx tx, fetch_all, sqlx::query_scalar(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1
          WHERE run_id = $2 AND kind = 'ingest' AND status = 'queued' AND document_id IS NOT NULL RETURNING document_id",
    )
    .bind(&now)
    .bind(run_id))?;
    exec!(tx tx, sqlx::query("UPDATE jobs SET status = 'cancelled' WHERE run_id = $1 AND kind = 'sync' AND status = 'queued'")
        .bind(run_id))?;
    for doc in docs {
        exec!(tx tx, sqlx::query("UPDATE source_files SET content_hash = '' WHERE document_id = $1")
            .bind(&doc))?;
        exec!(tx tx, sqlx::query("UPDATE documents SET status = CASE WHEN chunk_count > 0 THEN 'ready' ELSE 'cancelled' END,
                    error = CASE WHEN chunk_count > 0 THEN NULL ELSE 'sync run cancelled before this file was ingested' END,
                    updated_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(&doc))?;
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
        let db = super::super::Store::open_for_tests(dir.path())
            .await
            .unwrap();
        db.create_kb(&crate::store::NewKbRow {
            id: "kb",
            name: "kb",
            description: "",
            chunk_size: 256,
            chunk_overlap: 32,
            chunk_template: "general",
            ocr_languages: "",
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
        let pending: i64 = fetch!(
            db,
            fetch_one,
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE document_id = $1 AND status = 'queued'",
            )
            .bind(&before)
        )
        .unwrap();
        assert_eq!(pending, 1, "the superseded ingest is cancelled");
        // A second active run is refused while this one is active.
        assert!(db.start_run("s", "manual", None).await.unwrap().is_err());
        assert!(db.cancel_run(run).await.unwrap());
        let known = db.known_files("s").await.unwrap();
        assert_eq!(known["a.txt"].hash, "", "checked again next run");
        assert!(!db.cancel_run(run).await.unwrap());
    }

    #[tokio::test]
    async fn claims_a_lapsed_claim_then_uploads_then_run_jobs_oldest_first() {
        let (_dir, db, run) = setup().await;
        for path in ["a.txt", "b.txt"] {
            db.upsert_file("kb", "s", run, &seen(path, path), None)
                .await
                .unwrap();
        }
        // The run's jobs (its sync, then a file's ingest each), oldest first.
        let queued: Vec<i64> = fetch!(
            db,
            fetch_all,
            sqlx::query_scalar("SELECT id FROM jobs WHERE run_id = $1 ORDER BY id").bind(run)
        )
        .unwrap();
        assert!(queued.len() >= 2, "{queued:?}");
        let (upload, _) = db
            .enqueue_document(&crate::store::NewDocument {
                id: "up".into(),
                kb_id: "kb".into(),
                name: "up.md".into(),
                content_hash: "up".into(),
                size_bytes: 1,
                format: "markdown".into(),
                metadata: "{}".into(),
            })
            .await
            .unwrap();
        let claim = || async { db.claim_job().await.unwrap().unwrap() };
        let first = claim().await;
        assert_eq!(first.document_id.as_deref(), Some(upload.id.as_str()));
        let oldest = claim().await;
        assert_eq!(oldest.id, queued[0]);
        // Its replica died: once its lease lapses it goes before the queued jobs.
        exec!(
            db,
            sqlx::query("UPDATE jobs SET lease_until = '2000-01-01T00:00:00Z' WHERE id = $1")
                .bind(oldest.id)
        )
        .unwrap();
        let again = claim().await;
        assert_eq!((again.id, again.attempts), (oldest.id, 2));
        let mut rest = Vec::new();
        while let Some(job) = db.claim_job().await.unwrap() {
            rest.push(job.id);
        }
        assert_eq!(rest, queued[1..]);
    }
}
