//! The job worker: drains the durable queue (SQLite, or PostgreSQL shared by several
//! replicas) with a bounded number of concurrent jobs. A claim is leased and renewed while
//! the job runs. A job cut off by a crash is queued again: with SQLite at start-up
//! ([`crate::store::Store::recover`]), with PostgreSQL by another replica once the lease ran
//! out. One that keeps killing the process is given up after [`MAX_ATTEMPTS`].

use std::sync::Arc;
use std::time::Duration;

use ingest::{DocumentRef, Event};
use tokio::sync::{watch, Semaphore};

use crate::service::AppState;
use crate::service::{documents, knowledge_bases, reindex};
use crate::store::{DocStatus, Job, JobKind, KnowledgeBase};

/// Attempts before a job that never finishes (the process died each time) is failed.
pub const MAX_ATTEMPTS: i64 = 3;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How much of a Markdown file is searched for front matter.
const FRONT_MATTER_BYTES: usize = 64 * 1024;

/// Documents stored but waiting for the index flush that makes them durable, at most (each
/// holds its job's claim meanwhile).
const STORED_WAITING: usize = 64;

/// Runs `state.config.workers` worker loops until `shutdown` turns true, then waits for the
/// documents they stored to be durable and recorded.
pub async fn run(state: AppState, shutdown: watch::Receiver<bool>) {
    let waiting = Arc::new(Semaphore::new(STORED_WAITING));
    let mut handles = Vec::new();
    for n in 0..state.config.workers {
        handles.push(tokio::spawn(worker_loop(
            state.clone(),
            n,
            shutdown.clone(),
            waiting.clone(),
        )));
    }
    for h in handles {
        let _ = h.await;
    }
    let _ = waiting.acquire_many(STORED_WAITING as u32).await;
}

/// A worker: claims a job and runs it; a document it stored waits for its flush in a task of
/// its own (so the flush can be shared), while the worker takes the next job.
async fn worker_loop(
    state: AppState,
    n: usize,
    mut shutdown: watch::Receiver<bool>,
    waiting: Arc<Semaphore>,
) {
    tracing::debug!(worker = n, "worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match state.store.claim_job().await {
            Ok(Some(job)) => {
                let claim = super::leases::keep_claim(&state, job.id);
                match start(&state, job, true).await {
                    Some(rest) => in_background(rest, &waiting, move || claim.abort()).await,
                    None => claim.abort(),
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(worker = n, error = %e, "cannot claim a job");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
    tracing::debug!(worker = n, "worker stopped");
}

/// Runs what is left of a stored document's job in a task of its own, which holds one of the
/// `waiting` permits (waits for one first), then `after`.
async fn in_background(
    rest: Rest,
    waiting: &Arc<Semaphore>,
    after: impl FnOnce() + Send + 'static,
) {
    let permit = waiting.clone().acquire_owned().await;
    tokio::spawn(async move {
        rest.await;
        after();
        drop(permit);
    });
}

/// Processes one claimed job to its end (done or failed).
pub async fn process(state: &AppState, job: Job) {
    if let Some(rest) = start(state, job, false).await {
        rest.await;
    }
}

/// What is left of an ingest job once its document is stored: wait for the flush, record.
type Rest = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs a claimed job. With `share_flush`, an ingest job returns once its document is stored,
/// with the rest to run ([`Rest`]); otherwise it runs to its end.
async fn start(state: &AppState, job: Job, share_flush: bool) -> Option<Rest> {
    match (job.kind, job.document_id.clone()) {
        (JobKind::Ingest, Some(doc_id)) => {
            let rest = ingest(state, &job, &doc_id, share_flush).await;
            let state = state.clone();
            let rest = async move {
                if let Some(rest) = rest {
                    rest.await;
                }
                if let Some(run_id) = job.run_id {
                    crate::service::sources::sync::after_ingest(&state, run_id, &doc_id).await;
                }
            };
            if share_flush {
                return Some(Box::pin(rest));
            }
            rest.await;
        }
        (JobKind::Sync, _) => sync(state, &job).await,
        (JobKind::Reindex, _) => crate::service::reindex::run(state, &job).await,
        (JobKind::Ingest, None) => {
            tracing::error!(job = job.id, "ingest job without a document");
            let _ = state
                .store
                .finish_job(job.id, Some("ingest job without a document"))
                .await;
        }
    }
    None
}

async fn sync(state: &AppState, job: &Job) {
    let Some(run_id) = job.run_id else {
        let _ = state
            .store
            .finish_job(job.id, Some("sync job without a run"))
            .await;
        return;
    };
    if job.attempts > MAX_ATTEMPTS {
        let msg =
            format!("gave up after {MAX_ATTEMPTS} attempts: the process stopped during this sync");
        let _ = state.store.fail_run(run_id, &msg).await;
        let _ = state.store.finish_job(job.id, Some(&msg)).await;
        return;
    }
    let outcome = crate::service::sources::sync::run(state, run_id).await;
    if let Err(e) = &outcome {
        tracing::error!(run = run_id, error = %e, "sync run stopped");
    }
    let _ = state
        .store
        .finish_job(job.id, outcome.err().as_deref())
        .await;
}

/// Ingests a claimed document. With `share_flush` it returns once the document is stored,
/// with the rest (wait for the flush that makes it durable, then record it `ready`) to run;
/// otherwise it runs to its end.
async fn ingest(state: &AppState, job: &Job, doc_id: &str, share_flush: bool) -> Option<Rest> {
    let db = &state.store;
    let doc = match db.get_document(doc_id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            let _ = db.finish_job(job.id, None).await;
            return None;
        }
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot load document");
            let _ = db.finish_job(job.id, Some("database error")).await;
            return None;
        }
    };
    if job.attempts > MAX_ATTEMPTS {
        let msg = format!(
            "gave up after {MAX_ATTEMPTS} attempts: the process stopped while ingesting this file"
        );
        let _ = db.fail_ingest(job.id, doc_id, &msg).await;
        return None;
    }
    let kb = match db.get_kb(&doc.kb_id).await {
        Ok(Some(kb)) => kb,
        _ => {
            let _ = db.finish_job(job.id, Some("knowledge base is gone")).await;
            return None;
        }
    };
    let space = match knowledge_bases::space(state, &kb).await {
        Ok(space) => space,
        Err(e) => {
            let message = format!("cannot use the embedding model: {e}");
            tracing::error!(doc = doc_id, error = %e, "cannot open the knowledge base's embedding model");
            let _ = db.fail_ingest(job.id, doc_id, &message).await;
            return None;
        }
    };
    let bytes = match state.files.get(&doc.content_hash).await {
        Ok(b) => b,
        Err(e) if e.kind() == crate::store::FilesErrorKind::Unavailable => {
            // The object store is down: the job waits for it, as for an embedding server.
            let wait = documents::wait_after(job.waits);
            let reason = format!(
                "waiting for the object store, next try in {}s: {e}",
                wait.as_secs()
            );
            tracing::warn!(doc = doc_id, error = %e, "object store unavailable, the document waits");
            if let Err(e) = db
                .wait_job(job.id, doc_id, &reason, &crate::store::after(wait))
                .await
            {
                tracing::error!(doc = doc_id, error = %e, "cannot put the job back");
            }
            return None;
        }
        Err(e) => {
            tracing::error!(doc = doc_id, error = %e, "original file is missing");
            let _ = db
                .fail_ingest(job.id, doc_id, "the original file is missing")
                .await;
            return None;
        }
    };
    if let Err(e) = db.set_status(doc_id, DocStatus::Parsing).await {
        tracing::error!(doc = doc_id, error = %e, "cannot set status");
    }

    let docref = DocumentRef {
        kb_id: kb.index_key(),
        doc_id: doc.id.clone(),
        doc_name: doc.name.clone(),
        format: doc.format.as_deref().and_then(ingest::Format::parse),
    };
    let chunking = kb.chunking();
    // Markdown front matter adds to the document's metadata (what was set explicitly wins).
    // It sits at the top: only the head is read, not a copy of the whole file.
    let front = (doc.format.as_deref() == Some("markdown"))
        .then(|| {
            let head = &bytes[..bytes.len().min(FRONT_MATTER_BYTES)];
            crate::service::metadata::front_matter(&String::from_utf8_lossy(head))
        })
        .filter(|m| !m.is_empty());
    let handle = tokio::runtime::Handle::current();
    let st = state.clone();
    let id = doc_id.to_string();
    let mut pipeline = state.pipeline(&space, &kb.ocr_languages);
    pipeline.cancel = Some(state.ingest_started(doc_id));
    pipeline.defer_flush = true;
    let result = tokio::task::spawn_blocking(move || {
        let mut total = 0;
        pipeline.run(&docref, &bytes, chunking, |event| match event {
            Event::Parsing => {}
            Event::Embedding { chunks } => {
                total = chunks;
                st.set_progress(&id, Some((0, chunks)));
                if let Err(e) = handle.block_on(st.store.set_status(&id, DocStatus::Embedding)) {
                    tracing::error!(doc = %id, error = %e, "cannot set status");
                }
            }
            Event::Embedded { done } => st.set_progress(&id, Some((done, total))),
        })
    })
    .await;
    state.set_progress(doc_id, None);
    state.ingest_ended(doc_id);

    let unflushed = match &result {
        Ok(Ok(outcome)) => outcome.unflushed,
        _ => None,
    };
    let (state, job, doc_id) = (state.clone(), job.clone(), doc_id.to_string());
    let window = state.config.index.flush_window();
    let rest = async move {
        let mut result = result;
        if let Some(ticket) = unflushed {
            let index = space.index.clone();
            let durable =
                tokio::task::spawn_blocking(move || index.wait_durable(ticket, window)).await;
            match durable {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Ok(Err(ingest::Error::Retrieval(e))),
                Err(e) => result = Err(e),
            }
        }
        record(&state, &job, &doc_id, doc, kb, front, result).await;
    };
    if share_flush && unflushed.is_some() {
        return Some(Box::pin(rest));
    }
    rest.await;
    None
}

/// Records how an ingest ended: `ready` with its chunks, failed, waiting for the embedding
/// server, or nothing at all for a document deleted meanwhile.
async fn record(
    state: &AppState,
    job: &Job,
    doc_id: &str,
    doc: crate::store::Document,
    kb: KnowledgeBase,
    front: Option<crate::service::metadata::Metadata>,
    result: Result<ingest::Result<ingest::Outcome>, tokio::task::JoinError>,
) {
    let db = &state.store;
    match result {
        Ok(Ok(outcome)) => {
            tracing::info!(
                doc = doc_id,
                chunks = outcome.chunks.len(),
                tokens = outcome.tokens,
                embedded = outcome.embedded,
                pages = outcome.pages,
                parse_ms = outcome.parse_time.as_millis() as u64,
                embed_ms = outcome.embed_time.as_millis() as u64,
                store_ms = outcome.store_time.as_millis() as u64,
                "document ready"
            );
            metrics::counter!("ragd_ingest_documents_total", "outcome" => "ready").increment(1);
            metrics::counter!("ragd_ingest_chunks_total").increment(outcome.chunks.len() as u64);
            metrics::counter!("ragd_ingest_tokens_total").increment(outcome.tokens as u64);
            metrics::counter!("ragd_ingest_embedded_chunks_total")
                .increment(outcome.embedded as u64);
            for (stage, d) in [
                ("parse", outcome.parse_time),
                ("embed", outcome.embed_time),
                ("store", outcome.store_time),
            ] {
                metrics::histogram!("ragd_ingest_stage_seconds", "stage" => stage)
                    .record(d.as_secs_f64());
            }
            match db.finish_ingest(job.id, doc_id, &outcome).await {
                Ok(true) => {
                    if let Some(front) = front {
                        let mut meta: crate::service::metadata::Metadata =
                            serde_json::from_str(&doc.metadata).unwrap_or_default();
                        for (k, v) in front {
                            meta.entry(k).or_insert(v);
                        }
                        let json = serde_json::Value::Object(meta).to_string();
                        if json != doc.metadata {
                            if let Err(e) = db.set_metadata(doc_id, &json).await {
                                tracing::error!(doc = doc_id, error = %e, "cannot store front matter");
                            }
                        }
                    }
                }
                Ok(false) => {
                    // Deleted while it was being processed: drop what was just written.
                    if let Err(e) = documents::remove(
                        &state.store,
                        &indexes(state, &kb).await,
                        &state.files,
                        vec![doc_id.to_string()],
                    )
                    .await
                    {
                        tracing::error!(doc = doc_id, error = %e, "cannot delete points");
                    }
                    let _ = db.finish_job(job.id, None).await;
                }
                Err(e) => {
                    tracing::error!(doc = doc_id, error = %e, "cannot record ingest");
                    remove_points(state, &kb, doc_id).await;
                    let _ = db
                        .fail_ingest(job.id, doc_id, "internal error while saving")
                        .await;
                }
            }
        }
        Ok(Err(ingest::Error::Cancelled)) => {
            // Deleted while it ran: nothing was written, and its rows are gone.
            tracing::info!(doc = doc_id, "ingest stopped: the document was deleted");
            let _ = db
                .finish_job(job.id, Some("cancelled: the document was deleted"))
                .await;
        }
        Ok(Err(ingest::Error::Retrieval(e))) if e.is_embedding_outage() => {
            metrics::counter!("ragd_ingest_documents_total", "outcome" => "waiting").increment(1);
            metrics::counter!("ragd_embedding_errors_total", "kind" => e.kind().as_str())
                .increment(1);
            // Nothing was written: the document keeps what it had and waits for the server.
            let wait = documents::wait_after(job.waits);
            let reason = format!(
                "waiting for the embedding server, next try in {}s: {e}",
                wait.as_secs()
            );
            tracing::warn!(doc = doc_id, waits = job.waits + 1, wait_secs = wait.as_secs(), error = %e, "embedding server unavailable, the document waits");
            if let Err(e) = db
                .wait_job(job.id, doc_id, &reason, &crate::store::after(wait))
                .await
            {
                tracing::error!(doc = doc_id, error = %e, "cannot put the job back");
            }
        }
        Ok(Err(e)) => {
            metrics::counter!("ragd_ingest_documents_total", "outcome" => "failed").increment(1);
            if let ingest::Error::Retrieval(r) = &e {
                metrics::counter!("ragd_embedding_errors_total", "kind" => r.kind().as_str())
                    .increment(1);
            }
            let message = e.to_string();
            tracing::warn!(doc = doc_id, error = %message, "document failed");
            // A failed document must not keep points from an earlier version or attempt.
            remove_points(state, &kb, doc_id).await;
            let _ = db.fail_ingest(job.id, doc_id, &message).await;
        }
        Err(e) => {
            tracing::error!(doc = doc_id, error = %e, "ingest task panicked");
            remove_points(state, &kb, doc_id).await;
            let _ = db
                .fail_ingest(job.id, doc_id, "internal error while ingesting")
                .await;
        }
    }
}

/// Deletes a document's points (a failed document keeps none), in every index of its
/// knowledge base.
async fn remove_points(state: &AppState, kb: &KnowledgeBase, doc_id: &str) {
    if let Err(e) =
        documents::remove_points(&indexes(state, kb).await, vec![doc_id.to_string()]).await
    {
        tracing::error!(doc = doc_id, error = %e, "cannot delete points");
    }
}

/// The indexes of a knowledge base ([`reindex::indexes`]); its own alone if the re-index's
/// cannot be opened.
async fn indexes(state: &AppState, kb: &KnowledgeBase) -> Vec<std::sync::Arc<retrieval::Index>> {
    match reindex::indexes(state, kb).await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(kb = %kb.name, error = %e, "cannot open the re-index's index");
            match knowledge_bases::space(state, kb).await {
                Ok(space) => vec![space.index.clone()],
                Err(_) => Vec::new(),
            }
        }
    }
}

/// Processes queued jobs in this task until none is left (embedded CLI mode).
/// Stored documents share flushes as in [`run`].
pub async fn drain(state: &AppState) -> Result<(), crate::store::StoreError> {
    let waiting = Arc::new(Semaphore::new(STORED_WAITING));
    let mut handles = Vec::new();
    for _ in 0..state.config.workers {
        let (state, waiting) = (state.clone(), waiting.clone());
        handles.push(tokio::spawn(async move {
            while let Some(job) = state.store.claim_job().await? {
                if let Some(rest) = start(&state, job, true).await {
                    in_background(rest, &waiting, || {}).await;
                }
            }
            Ok::<_, crate::store::StoreError>(())
        }));
    }
    let mut outcome = Ok(());
    for h in handles {
        match h.await {
            Ok(r) => outcome = outcome.and(r),
            Err(e) => tracing::error!(error = %e, "worker task failed"),
        }
    }
    let _ = waiting.acquire_many(STORED_WAITING as u32).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::auth::Caller;
    use crate::service::testing::{self, points_of};
    use crate::service::{documents, State};

    async fn upload(state: &State, kb: &str, name: &str, text: &str) -> String {
        let docs = documents::upload(
            state,
            &Caller::ADMIN,
            kb,
            vec![(name.into(), text.as_bytes().to_vec())],
        )
        .await
        .unwrap();
        docs[0].doc.id.clone()
    }

    async fn status(state: &State, id: &str) -> (DocStatus, Option<String>, i64) {
        let d = state.store.get_document(id).await.unwrap().unwrap();
        (d.status, d.error, d.chunk_count)
    }

    #[tokio::test]
    async fn a_document_goes_from_queued_to_ready_with_its_points() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::kb(&state, "kb").await;
        let id = upload(
            &state,
            &kb.id,
            "a.md",
            "# Harbour\n\nThe harbour opens at six.",
        )
        .await;
        assert_eq!(status(&state, &id).await.0, DocStatus::Queued);
        let job = state
            .store
            .claim_job()
            .await
            .unwrap()
            .expect("a queued job");
        assert_eq!(
            (job.kind, job.document_id.as_deref()),
            (JobKind::Ingest, Some(id.as_str()))
        );
        process(&state, job).await;
        let (s, error, chunks) = status(&state, &id).await;
        assert_eq!((s, error), (DocStatus::Ready, None));
        assert!(chunks > 0);
        assert_eq!(points_of(&state, &kb.id, &id), chunks as usize);
        assert!(
            state.store.claim_job().await.unwrap().is_none(),
            "queue drained"
        );
        // Re-parse replaces the points instead of adding to them.
        documents::reparse(&state, &Caller::ADMIN, &kb.id, &id)
            .await
            .unwrap();
        drain(&state).await.unwrap();
        assert_eq!(points_of(&state, &kb.id, &id), chunks as usize);
    }

    /// The worker loops store documents and go on while the documents wait for the flush they
    /// share; each ends `ready` with its points, and the loops end only after them.
    #[tokio::test]
    async fn workers_go_on_while_stored_documents_wait_for_their_flush() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state_with(dir.path(), |c| {
            c.workers = 2;
            c.index.flush_window_ms = 200;
        })
        .await;
        let kb = testing::kb(&state, "kb").await;
        let mut ids = Vec::new();
        for i in 0..6 {
            let text = format!("# Note {i}\n\nThe lantern {i} guides the schooner.");
            ids.push(upload(&state, &kb.id, &format!("n{i}.md"), &text).await);
        }
        let (stop, shutdown) = watch::channel(false);
        let workers = tokio::spawn(run(state.clone(), shutdown));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut ready = 0;
            for id in &ids {
                if status(&state, id).await.0 == DocStatus::Ready {
                    ready += 1;
                }
            }
            if ready == ids.len() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{ready} of 6 ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send(true).unwrap();
        workers.await.unwrap();
        for id in &ids {
            let (s, error, chunks) = status(&state, id).await;
            assert_eq!((s, error), (DocStatus::Ready, None));
            assert_eq!(points_of(&state, &kb.id, id), chunks as usize);
        }
        assert!(state.store.claim_job().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_missing_file_fails_the_document_and_keeps_no_points() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::kb(&state, "kb").await;
        let id = upload(&state, &kb.id, "a.md", "# Gone\n\nThis file will vanish.").await;
        let doc = state.store.get_document(&id).await.unwrap().unwrap();
        state.files.remove(&doc.content_hash).await.unwrap();
        drain(&state).await.unwrap();
        let (s, error, chunks) = status(&state, &id).await;
        assert_eq!(s, DocStatus::Failed);
        assert_eq!(error.as_deref(), Some("the original file is missing"));
        assert_eq!((chunks, points_of(&state, &kb.id, &id)), (0, 0));
    }

    #[tokio::test]
    async fn a_job_that_keeps_killing_the_process_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::kb(&state, "kb").await;
        let id = upload(&state, &kb.id, "a.md", "# Crash\n\nEvery attempt dies.").await;
        // Each claim is an attempt; a crash leaves the job running, and start-up requeues it.
        for _ in 0..MAX_ATTEMPTS {
            state.store.claim_job().await.unwrap().unwrap();
            assert_eq!(state.store.after_crash().await.unwrap(), 1);
        }
        let job = state.store.claim_job().await.unwrap().unwrap();
        assert_eq!(job.attempts, MAX_ATTEMPTS + 1);
        process(&state, job).await;
        let (s, error, _) = status(&state, &id).await;
        assert_eq!(s, DocStatus::Failed);
        assert!(error.unwrap().starts_with("gave up after 3 attempts"));
    }

    #[tokio::test]
    async fn a_document_deleted_before_its_job_runs_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::kb(&state, "kb").await;
        let id = upload(&state, &kb.id, "a.md", "# Short-lived\n\nDeleted at once.").await;
        let job = state.store.claim_job().await.unwrap().unwrap();
        documents::delete(&state, &Caller::ADMIN, &kb.id, &id)
            .await
            .unwrap();
        process(&state, job).await;
        assert!(state.store.get_document(&id).await.unwrap().is_none());
        assert_eq!(points_of(&state, &kb.id, &id), 0);
        assert_eq!(state.store.pending_jobs().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_document_waits_for_a_model_server_that_is_down_and_finishes_after() {
        let server = retrieval::embed::fake::FakeServer::start(retrieval::Provider::Openai, 32);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::remote_kb(&state, "remote", &server).await;
        server.set_status(503);
        let id = upload(
            &state,
            &kb.id,
            "a.md",
            "# Tides\n\nThe tide turns twice a day. Boats wait for it.",
        )
        .await;
        let job = state.store.claim_job().await.unwrap().unwrap();
        process(&state, job).await;
        let (s, error, chunks) = status(&state, &id).await;
        assert_eq!((s, chunks), (DocStatus::Queued, 0), "not failed, not ready");
        let error = error.unwrap();
        assert!(
            error.starts_with("waiting for the embedding server, next try in 2s"),
            "{error}"
        );
        assert!(
            state.store.claim_job().await.unwrap().is_none(),
            "not before its backoff"
        );
        assert_eq!(testing::points_in_space(&state, &kb).await, 0);
        // Back up: after the wait the document finishes by itself, every chunk once.
        server.set_status(0);
        tokio::time::sleep(documents::wait_after(0) + Duration::from_millis(100)).await;
        let job = state.store.claim_job().await.unwrap().expect("due again");
        assert_eq!((job.attempts, job.waits), (1, 1), "a wait is not a crash");
        process(&state, job).await;
        let (s, error, chunks) = status(&state, &id).await;
        assert_eq!((s, error), (DocStatus::Ready, None));
        assert_eq!(testing::points_in_space(&state, &kb).await, chunks as usize);
    }

    #[tokio::test]
    async fn unchanged_chunks_are_not_embedded_again() {
        let server = retrieval::embed::fake::FakeServer::start(retrieval::Provider::Openai, 32);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::remote_kb(&state, "remote", &server).await;
        let text = |changed: &str| {
            (1..=10)
                .map(|i| {
                    let body = if i == 4 { changed } else { "unchanged words" };
                    format!("# Section {i}\n\nSection {i} says {body}.\n\n")
                })
                .collect::<String>()
        };
        let first = upload(&state, &kb.id, "a.md", &text("the first thing")).await;
        drain(&state).await.unwrap();
        let (_, _, chunks) = status(&state, &first).await;
        assert_eq!(chunks, 10);
        let probe_and_first = server.texts();
        assert_eq!(probe_and_first, 1 + 10);
        // A new version where one chunk in ten changed: one chunk goes to the model.
        let second = upload(&state, &kb.id, "b.md", &text("the second thing")).await;
        drain(&state).await.unwrap();
        assert_eq!(status(&state, &second).await.0, DocStatus::Ready);
        assert_eq!(server.texts() - probe_and_first, 1);
        // Re-parsing embeds nothing new, and the points are whole.
        documents::reparse(&state, &Caller::ADMIN, &kb.id, &first)
            .await
            .unwrap();
        drain(&state).await.unwrap();
        assert_eq!(server.texts() - probe_and_first, 1);
        assert_eq!(testing::points_in_space(&state, &kb).await, 20);
    }

    #[test]
    fn waits_double_up_to_two_minutes() {
        use documents::{wait_after, MAX_WAIT};
        assert_eq!(wait_after(0), Duration::from_secs(2));
        assert_eq!(wait_after(3), Duration::from_secs(16));
        assert_eq!(wait_after(40), MAX_WAIT);
    }
}
