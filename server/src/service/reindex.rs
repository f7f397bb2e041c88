//! Re-indexing a knowledge base in place, with a new embedding model and/or new chunking.
//!
//! The new generation is built beside the old one: its points carry the index key `id@N`
//! (in the new model's index, or the same index when only the chunking changes) and its
//! chunks wait in `reindex_chunks`, while searches keep using the old generation. A job works
//! through the ready documents in turns of [`TURN`] (uploads and source syncs go between
//! turns); each document's points are flushed before it is recorded. When every document is
//! done and none is being ingested, one transaction switches the knowledge base (chunks,
//! counts, model, chunking, index key); then the old generation's points are deleted.
//!
//! - **Cancel or failure:** the staged rows are dropped and the new points deleted; the
//!   knowledge base stays as it was.
//! - **A crash** (`kill -9`): the job is found `running` at start and taken up again; it
//!   resumes after the documents already recorded. Points deleted late (a crash after the
//!   switch, or after a cancel) are deleted at the next start ([`clean_up`]), before the
//!   reconciliation. A knowledge base never has half of each: searches read one generation.
//! - **Uploads during a re-index** go through the old generation as usual; a document that
//!   is ingested again loses what the re-index did for it, and the re-index does it again,
//!   so the new generation ends up with every document. The switch waits while a document is
//!   queued or being ingested.
//! - **An embedding server that is down** makes the job wait with a backoff, like documents.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::knowledge_bases::{self, EmbeddingChoice};
use super::State;
use crate::error::{Error, Result};
use crate::service::auth::Caller;
use crate::spaces::Space;
use crate::store::{Job, KnowledgeBase, NewReindexRow, Reindex, ReindexStatus, Switch};

/// Documents re-indexed per turn of the job, before other jobs get a worker.
const TURN: i64 = 8;
/// How long the switch waits for documents being ingested before it looks again.
const SETTLE: Duration = Duration::from_millis(500);
/// How long the old generation's points stay after the switch, for searches that read the
/// knowledge base just before it.
const GRACE: Duration = Duration::from_secs(2);

/// What a re-index changes; what is `None` stays as it is.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReindexRequest {
    /// The new embedding model: a preset's name or inline settings (as at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_overlap: Option<usize>,
    /// The new chunk template (`general`, `qa`, `table`, `parent_child`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_template: Option<String>,
}

/// A re-index as the interfaces show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ReindexView {
    pub id: i64,
    pub knowledge_base_id: String,
    pub status: ReindexStatus,
    /// Documents to re-index and done so far.
    pub total: i64,
    pub done: i64,
    /// Chunks the model embedded; the others' vectors came from the cache.
    pub embedded: i64,
    pub embedding_model: String,
    pub embedding_dim: i64,
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    pub chunk_template: String,
    pub from_model: String,
    /// What it waits for, if anything.
    pub note: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl From<Reindex> for ReindexView {
    fn from(r: Reindex) -> Self {
        Self {
            id: r.id,
            knowledge_base_id: r.kb_id,
            status: r.status,
            total: r.total,
            done: r.done,
            embedded: r.embedded,
            embedding_model: r.embedding_model,
            embedding_dim: r.embedding_dim,
            chunk_size: r.chunk_size,
            chunk_overlap: r.chunk_overlap,
            chunk_template: r.chunk_template,
            from_model: r.from_model,
            note: r.note,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// Starts re-indexing knowledge base `kb`: checks the new settings (a new model is asked for
/// its vector size), records the re-index and queues its job.
pub async fn start(
    state: &State,
    caller: &Caller,
    kb: &str,
    req: ReindexRequest,
) -> Result<ReindexView> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    if req.embedding.is_none()
        && req.chunk_size.is_none()
        && req.chunk_overlap.is_none()
        && req.chunk_template.is_none()
    {
        return Err(Error::bad_request(
            "say what to change: embedding, chunk_size, chunk_overlap or chunk_template",
        ));
    }
    let chunking = ingest::ChunkConfig {
        size: req
            .chunk_size
            .unwrap_or(usize::try_from(kb.chunk_size).unwrap_or(0)),
        overlap: req
            .chunk_overlap
            .unwrap_or(usize::try_from(kb.chunk_overlap).unwrap_or(0)),
        template: match req.chunk_template.as_deref() {
            Some(name) => super::knowledge_bases::template(name)?,
            None => kb.chunking().template,
        },
    };
    chunking
        .validate()
        .map_err(|e| Error::bad_request(e.to_string()))?;
    if let Some(active) = state.store.active_reindex(&kb.id).await? {
        return Err(Error::Conflict(format!(
            "knowledge base {:?} is being re-indexed already (re-index {})",
            kb.name, active.id
        )));
    }
    let resolved = match &req.embedding {
        Some(choice) => knowledge_bases::resolve(state, Some(choice), chunking).await?,
        None => {
            let settings = knowledge_bases::settings_of(state, &kb)?;
            knowledge_bases::Resolved {
                preset: kb.embedding_preset.clone(),
                settings,
                model: kb.embedding_model.clone(),
                dim: usize::try_from(kb.embedding_dim).unwrap_or(0),
            }
        }
    };
    let config = match &req.embedding {
        Some(_) => resolved.settings_json()?,
        None => kb.embedding_config.clone(),
    };
    let r = state
        .store
        .start_reindex(&NewReindexRow {
            kb: &kb,
            chunk_size: chunking.size as i64,
            chunk_overlap: chunking.overlap as i64,
            chunk_template: chunking.template.as_str(),
            embedding: resolved.row(&config),
        })
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::Conflict(format!(
                "knowledge base {:?} is being re-indexed already",
                kb.name
            )),
            other => other,
        })?;
    tracing::info!(kb = %kb.name, reindex = r.id, model = %r.embedding_model, chunk_size = r.chunk_size, chunk_overlap = r.chunk_overlap, "re-index queued");
    state.wake.notify_waiters();
    Ok(r.into())
}

/// The knowledge base's newest re-index.
pub async fn latest(state: &State, caller: &Caller, kb: &str) -> Result<ReindexView> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    state
        .store
        .latest_reindex(&kb.id)
        .await?
        .map(ReindexView::from)
        .ok_or_else(|| Error::not_found("re-index of knowledge base", &kb.name))
}

/// The knowledge base's re-indexes, newest first (at most 20).
pub async fn history(state: &State, caller: &Caller, kb: &str) -> Result<Vec<ReindexView>> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    Ok(state
        .store
        .list_reindexes(&kb.id, 20)
        .await?
        .into_iter()
        .map(ReindexView::from)
        .collect())
}

/// Asks the running re-index of `kb` to stop; the old index stays as it was.
pub async fn cancel(state: &State, caller: &Caller, kb: &str) -> Result<ReindexView> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    let r = state.store.cancel_reindex(&kb.id).await?.ok_or_else(|| {
        Error::Conflict(format!(
            "knowledge base {:?} is not being re-indexed",
            kb.name
        ))
    })?;
    state.wake.notify_waiters();
    Ok(r.into())
}

/// The space the new generation is built in.
async fn target_space(state: &State, r: &Reindex) -> Result<Arc<Space>> {
    open_space(
        state,
        &r.embedding_model,
        r.embedding_dim,
        &r.embedding_config,
    )
    .await
}

/// Every index holding points of the knowledge base: its own, and the one its running
/// re-index builds in (when another model's). Deletes go to all of them.
pub async fn indexes(state: &State, kb: &KnowledgeBase) -> Result<Vec<Arc<retrieval::Index>>> {
    let mut all = vec![knowledge_bases::space(state, kb).await?.index.clone()];
    if let Some(r) = state.store.active_reindex(&kb.id).await? {
        let target = target_space(state, &r).await?;
        if !all.iter().any(|i| Arc::ptr_eq(i, &target.index)) {
            all.push(target.index.clone());
        }
    }
    Ok(all)
}

/// [`indexes`] of the knowledge base with this id.
pub async fn indexes_of_id(state: &State, kb_id: &str) -> Result<Vec<Arc<retrieval::Index>>> {
    let kb = knowledge_bases::find(state, &Caller::ADMIN, kb_id).await?;
    indexes(state, &kb).await
}

/// Runs one turn of a re-index job: stops it if asked, re-indexes up to [`TURN`] documents,
/// or switches when all are done. The job is queued again until the re-index ends.
pub async fn run(state: &State, job: &Job) {
    let Some(id) = job.reindex_id else {
        let _ = state
            .store
            .finish_job(job.id, Some("re-index job without a re-index"))
            .await;
        return;
    };
    match turn(state, job, id).await {
        Ok(None) => {}
        Ok(Some((engine, outage))) => {
            let wait = super::documents::wait_after(job.waits);
            let note = format!(
                "waiting for the {engine}, next try in {}s: {outage}",
                wait.as_secs()
            );
            tracing::warn!(reindex = id, engine, wait_secs = wait.as_secs(), error = %outage, "an engine is unavailable, the re-index waits");
            let _ = state.store.set_reindex_note(id, Some(&note)).await;
            if let Err(e) = state
                .store
                .defer_job(job.id, &crate::store::after(wait), true)
                .await
            {
                tracing::error!(reindex = id, error = %e, "cannot put the re-index job back");
            }
        }
        Err(e) => {
            let message = format!("re-index failed: {e}");
            tracing::error!(reindex = id, error = %e, "re-index failed, the knowledge base keeps its index");
            if let Err(e) = state
                .store
                .end_reindex(id, ReindexStatus::Failed, Some(&message), job.id)
                .await
            {
                tracing::error!(reindex = id, error = %e, "cannot record the failed re-index");
            }
            clean_up_quietly(state).await;
        }
    }
}

/// Outcomes that are not failures of the re-index.
enum Turned {
    /// More to do: the job goes back in the queue.
    Again(Duration),
    /// The re-index ended (switched, cancelled or gone).
    Ended,
    /// An engine it needs is down (the embedding server, the object store): the job waits
    /// with a backoff. Which one, and why.
    Outage(&'static str, String),
}

/// One turn; `Some((engine, cause))` when an engine it needs was down.
async fn turn(state: &State, job: &Job, id: i64) -> Result<Option<(&'static str, String)>> {
    let Some(r) = state.store.get_reindex(id).await? else {
        state.store.finish_job(job.id, None).await?;
        return Ok(None);
    };
    let outcome = match r.status {
        ReindexStatus::Cancelling => {
            state
                .store
                .end_reindex(id, ReindexStatus::Cancelled, None, job.id)
                .await?;
            tracing::info!(
                reindex = id,
                "re-index cancelled, the knowledge base keeps its index"
            );
            clean_up_quietly(state).await;
            Turned::Ended
        }
        ReindexStatus::Running => step(state, job, &r).await?,
        _ => {
            state.store.finish_job(job.id, None).await?;
            Turned::Ended
        }
    };
    match outcome {
        Turned::Again(wait) => {
            state
                .store
                .defer_job(job.id, &crate::store::after(wait), false)
                .await?;
            state.wake.notify_waiters();
            Ok(None)
        }
        Turned::Ended => Ok(None),
        Turned::Outage(engine, cause) => Ok(Some((engine, cause))),
    }
}

async fn step(state: &State, job: &Job, r: &Reindex) -> Result<Turned> {
    let todo = state.store.reindex_todo(r, TURN).await?;
    if todo.is_empty() {
        return match state.store.switch_reindex(r.id, job.id).await? {
            Switch::Done => {
                tracing::info!(reindex = r.id, kb = %r.kb_id, model = %r.embedding_model, documents = r.total, embedded = r.embedded, "re-index switched in");
                // Searches that read the knowledge base before the switch finish first.
                tokio::time::sleep(GRACE).await;
                clean_up_quietly(state).await;
                Ok(Turned::Ended)
            }
            Switch::NotYet => Ok(Turned::Again(SETTLE)),
            Switch::Stopped => Ok(Turned::Again(Duration::ZERO)),
        };
    }
    let space = target_space(state, r).await?;
    let ocr_languages = match state.store.get_kb(&r.kb_id).await? {
        Some(kb) => kb.ocr_languages,
        None => String::new(),
    };
    let pipeline = state.pipeline(&space, &ocr_languages);
    let key = r.index_key();
    let chunking = r.chunking();
    for doc in todo {
        let bytes = match state.files.get(&doc.content_hash).await {
            Ok(b) => b,
            Err(e) if e.kind() == crate::store::FilesErrorKind::Unavailable => {
                return Ok(Turned::Outage("object store", e.to_string()))
            }
            Err(e) => {
                return Err(Error::internal(format!(
                    "the original file of {:?} is missing: {e}",
                    doc.name
                )))
            }
        };
        let docref = ingest::DocumentRef {
            kb_id: key.clone(),
            doc_id: doc.id.clone(),
            doc_name: doc.name.clone(),
            format: doc.format.as_deref().and_then(ingest::Format::parse),
        };
        let p = pipeline.clone();
        let outcome =
            match tokio::task::spawn_blocking(move || p.run(&docref, &bytes, chunking, |_| {}))
                .await?
            {
                Ok(outcome) => outcome,
                Err(ingest::Error::Retrieval(e)) if e.is_embedding_outage() => {
                    return Ok(Turned::Outage("embedding server", e.to_string()))
                }
                Err(ingest::Error::Retrieval(e)) => return Err(Error::from(e)),
                Err(e) => return Err(Error::bad_request(format!("{:?}: {e}", doc.name))),
            };
        let kept = state
            .store
            .record_reindexed(r.id, &doc.id, &doc.content_hash, &outcome)
            .await?;
        if !kept {
            // Changed, deleted or failed meanwhile (the re-index does it again if it comes
            // back ready), or the re-index stopped: its new points go.
            let index = space.index.clone();
            let selection = retrieval::filter::document_of(&key, &doc.id);
            tokio::task::spawn_blocking(move || -> retrieval::Result<()> {
                index.delete(selection)?;
                index.flush()
            })
            .await??;
        }
    }
    Ok(Turned::Again(Duration::ZERO))
}

/// Deletes the points a finished re-index left: the old generation's after a switch, the new
/// one's after a cancel or failure. Run after each re-index and at start.
pub async fn clean_up(state: &State) -> Result<usize> {
    let ended = state.store.reindexes_to_clean().await?;
    let n = ended.len();
    for r in ended {
        let space = if r.status == ReindexStatus::Done {
            open_space(state, &r.from_model, r.from_dim, &r.from_config).await
        } else {
            open_space(
                state,
                &r.embedding_model,
                r.embedding_dim,
                &r.embedding_config,
            )
            .await
        };
        let key = if r.status == ReindexStatus::Done {
            r.from_key()
        } else {
            r.index_key()
        };
        let space = match space {
            Ok(space) => space,
            Err(e) => {
                tracing::warn!(reindex = r.id, key = %key, error = %e, "cannot open the index a re-index left points in; retried at the next start");
                continue;
            }
        };
        let index = space.index.clone();
        let k = key.clone();
        tokio::task::spawn_blocking(move || index.delete_knowledge_base(&k)).await??;
        state.store.mark_reindex_cleaned(r.id).await?;
        tracing::info!(reindex = r.id, key = %key, model = space.model(), "re-index leftovers deleted");
    }
    Ok(n)
}

/// A model's space: the open one, or opened from `config` (a stored JSON
/// `retrieval::EmbeddingConfig`) with vectors of `dim`.
async fn open_space(state: &State, model: &str, dim: i64, config: &str) -> Result<Arc<Space>> {
    if let Some(space) = state.spaces.get(model) {
        return Ok(space);
    }
    let settings: retrieval::EmbeddingConfig =
        serde_json::from_str(config).map_err(Error::internal)?;
    let dim = usize::try_from(dim).unwrap_or(0);
    let spaces = state.spaces.clone();
    Ok(tokio::task::spawn_blocking(move || spaces.open_space(&settings, dim)).await??)
}

async fn clean_up_quietly(state: &State) {
    if let Err(e) = clean_up(state).await {
        tracing::error!(error = %e, "cannot delete what a re-index left; retried at the next start");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{self, points_in_space};
    use crate::service::{documents, search};
    use retrieval::embed::fake::FakeServer;
    use retrieval::Provider;

    /// Runs queued jobs until none is left or waiting (jobs that wait for a moment are waited
    /// for), at most 30 s.
    async fn run_jobs(state: &crate::service::AppState) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            assert!(std::time::Instant::now() < deadline, "jobs did not finish");
            match state.store.claim_job().await.expect("claim") {
                Some(job) => crate::jobs::worker::process(state, job).await,
                None if state.store.pending_jobs().await.expect("pending") == 0 => return,
                None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    const DOCS: [(&str, &str); 3] = [
        (
            "harbour.md",
            "# Harbour\n\nThe harbour opens at six and closes at dusk.",
        ),
        (
            "bakery.md",
            "# Bakery\n\nThe bakery sells rye bread and cinnamon buns.",
        ),
        (
            "museum.md",
            "# Museum\n\nThe museum shows old maps of the harbour town.",
        ),
    ];

    async fn kb_with_docs(state: &crate::service::AppState) -> KnowledgeBase {
        let kb = testing::kb(state, "town").await;
        let files = DOCS
            .iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
            .collect();
        documents::upload(state, &Caller::ADMIN, &kb.id, files)
            .await
            .unwrap();
        run_jobs(state).await;
        knowledge_bases::find(state, &Caller::ADMIN, &kb.id)
            .await
            .unwrap()
    }

    fn to_fake(server: &FakeServer) -> ReindexRequest {
        ReindexRequest {
            embedding: Some(EmbeddingChoice::Inline(Box::new(
                knowledge_bases::InlineEmbedding {
                    provider: Provider::Openai,
                    model: "fake-e5".into(),
                    base_url: Some(format!("{}/v1", server.url)),
                    retries: Some(0),
                    ..Default::default()
                },
            ))),
            chunk_size: Some(64),
            chunk_overlap: Some(8),
            chunk_template: None,
        }
    }

    async fn hit_docs(state: &State, kb: &str, query: &str) -> Vec<String> {
        let reply = search::search(
            state,
            &Caller::ADMIN,
            search::SearchRequest {
                knowledge_bases: vec![kb.into()],
                query: query.into(),
                top_k: Some(10),
                document_ids: None,
                explain: false,
                bm25_fallback: false,
                filters: None,
                options: Default::default(),
            },
        )
        .await
        .unwrap();
        reply.hits.into_iter().map(|h| h.document_name).collect()
    }

    #[tokio::test]
    async fn a_reindex_builds_beside_the_old_index_and_switches_at_the_end() {
        let server = FakeServer::start(Provider::Openai, 48);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = kb_with_docs(&state).await;
        let old_points = points_in_space(&state, &kb).await;
        assert_eq!(old_points, 3);

        let r = start(&state, &Caller::ADMIN, "town", to_fake(&server))
            .await
            .unwrap();
        assert_eq!(r.status, ReindexStatus::Running);
        assert_eq!(r.embedding_dim, 48);
        // A second one is refused while it runs; so is one that changes nothing.
        let again = start(&state, &Caller::ADMIN, "town", to_fake(&server))
            .await
            .unwrap_err();
        assert!(matches!(again, Error::Conflict(_)), "{again}");
        let nothing = start(&state, &Caller::ADMIN, "town", ReindexRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(nothing, Error::BadRequest(_)), "{nothing}");

        // One turn re-indexes the documents into the new model's index; searches still use
        // the old generation and the knowledge base is unchanged.
        let job = state.store.claim_job().await.unwrap().unwrap();
        assert_eq!(job.kind, crate::store::JobKind::Reindex);
        crate::jobs::worker::process(&state, job).await;
        let mid = latest(&state, &Caller::ADMIN, "town").await.unwrap();
        assert_eq!(
            (mid.status, mid.total, mid.done),
            (ReindexStatus::Running, 3, 3)
        );
        assert_eq!(mid.embedded, 3);
        let now = knowledge_bases::find(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(
            (now.generation, now.embedding_model.as_str()),
            (0, "hash-test")
        );
        assert_eq!(hit_docs(&state, "town", "rye bread").await[0], "bakery.md");
        let new_space = state.spaces.get(&mid.embedding_model).unwrap();
        let new_key = crate::store::index_key(&kb.id, 1);
        let count = |space: &Space, key: &str| {
            space
                .index
                .count(&retrieval::Scope {
                    knowledge_bases: vec![key.to_string()],
                    documents: None,
                })
                .unwrap()
        };
        assert_eq!(count(&new_space, &new_key), 3);

        // The next turn switches: the knowledge base is on the new model and chunking, the
        // old points are gone, searches embed with the new model.
        let queries_before = server.texts();
        run_jobs(&state).await;
        let done = latest(&state, &Caller::ADMIN, "town").await.unwrap();
        assert_eq!(
            (done.status, done.total, done.done),
            (ReindexStatus::Done, 3, 3)
        );
        let kb2 = knowledge_bases::get(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(kb2.generation, 1);
        assert_eq!(kb2.embedding_model, mid.embedding_model);
        assert_eq!((kb2.chunk_size, kb2.chunk_overlap), (64, 8));
        assert_eq!(kb2.chunk_count, Some(3));
        assert_eq!(points_in_space(&state, &kb2).await, 3);
        assert_eq!(count(state.default_space(), &kb.id), 0);
        assert_eq!(hit_docs(&state, "town", "rye bread").await[0], "bakery.md");
        assert_eq!(
            server.texts(),
            queries_before + 1,
            "the query went to the new model"
        );
        // The chunks listed are the new generation's, whose ids are its points'.
        let (docs, _) = state
            .store
            .list_documents(&kb.id, None, 10, 0)
            .await
            .unwrap();
        assert!(docs.iter().all(|d| d.chunk_count == 1));
    }

    #[tokio::test]
    async fn a_cancelled_reindex_leaves_the_knowledge_base_as_it_was() {
        let server = FakeServer::start(Provider::Openai, 48);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = kb_with_docs(&state).await;
        start(&state, &Caller::ADMIN, "town", to_fake(&server))
            .await
            .unwrap();
        let job = state.store.claim_job().await.unwrap().unwrap();
        crate::jobs::worker::process(&state, job).await;
        let r = cancel(&state, &Caller::ADMIN, "town").await.unwrap();
        assert_eq!(r.status, ReindexStatus::Cancelling);
        run_jobs(&state).await;
        let r = latest(&state, &Caller::ADMIN, "town").await.unwrap();
        assert_eq!(r.status, ReindexStatus::Cancelled);
        let after = knowledge_bases::find(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(
            (
                after.generation,
                after.embedding_model.as_str(),
                after.chunk_size
            ),
            (0, "hash-test", kb.chunk_size)
        );
        assert_eq!(points_in_space(&state, &after).await, 3);
        let new_space = state.spaces.get(&r.embedding_model).unwrap();
        assert_eq!(
            new_space.index.info().unwrap().points,
            0,
            "new points deleted"
        );
        assert!(matches!(
            cancel(&state, &Caller::ADMIN, "town").await.unwrap_err(),
            Error::Conflict(_)
        ));
    }

    #[tokio::test]
    async fn uploads_and_deletes_during_a_reindex_reach_the_new_index() {
        let server = FakeServer::start(Provider::Openai, 48);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = kb_with_docs(&state).await;
        start(&state, &Caller::ADMIN, "town", to_fake(&server))
            .await
            .unwrap();
        let job = state.store.claim_job().await.unwrap().unwrap();
        crate::jobs::worker::process(&state, job).await;
        // After the documents were re-indexed: one new, one deleted, one re-parsed.
        let new = documents::upload(
            &state,
            &Caller::ADMIN,
            &kb.id,
            vec![(
                "ferry.md".into(),
                b"# Ferry\n\nThe ferry leaves hourly.".to_vec(),
            )],
        )
        .await
        .unwrap();
        let (docs, _) = state
            .store
            .list_documents(&kb.id, None, 10, 0)
            .await
            .unwrap();
        let by_name = |n: &str| docs.iter().find(|d| d.name == n).unwrap().id.clone();
        documents::delete(&state, &Caller::ADMIN, &kb.id, &by_name("museum.md"))
            .await
            .unwrap();
        documents::reparse(&state, &Caller::ADMIN, &kb.id, &by_name("bakery.md"))
            .await
            .unwrap();
        run_jobs(&state).await;
        let r = latest(&state, &Caller::ADMIN, "town").await.unwrap();
        assert_eq!((r.status, r.done), (ReindexStatus::Done, 3));
        let after = knowledge_bases::get(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(
            (after.document_count, after.chunk_count),
            (Some(3), Some(3))
        );
        assert_eq!(points_in_space(&state, &after).await, 3);
        assert_eq!(
            hit_docs(&state, "town", "ferry hourly").await[0],
            new[0].doc.name
        );
        assert!(!hit_docs(&state, "town", "museum maps")
            .await
            .contains(&"museum.md".to_string()));
    }

    #[tokio::test]
    async fn a_reindex_cut_off_resumes_and_one_switched_is_cleaned_up_at_start() {
        let server = FakeServer::start(Provider::Openai, 48);
        let dir = tempfile::tempdir().unwrap();
        let kb_id;
        {
            let state = testing::state(dir.path()).await;
            let kb = kb_with_docs(&state).await;
            kb_id = kb.id.clone();
            start(&state, &Caller::ADMIN, "town", to_fake(&server))
                .await
                .unwrap();
            // The process dies while the job runs: claimed, never finished.
            let _job = state.store.claim_job().await.unwrap().unwrap();
            state.flush().await.unwrap();
        }
        let state = testing::state(dir.path()).await;
        assert_eq!(state.store.after_crash().await.unwrap(), 1);
        clean_up(&state).await.unwrap();
        crate::service::reconcile::run(&state).await.unwrap();
        let kb = knowledge_bases::find(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(kb.generation, 0, "still the old generation");
        run_jobs(&state).await;
        let kb = knowledge_bases::find(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!(kb.generation, 1);
        assert_eq!(points_in_space(&state, &kb).await, 3);

        // A switch whose clean-up never ran (a crash right after it): the old generation's
        // points are deleted at the next start.
        let kb_old = state.default_space().index.clone();
        start(
            &state,
            &Caller::ADMIN,
            "town",
            ReindexRequest {
                chunk_size: Some(128),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let job = state.store.claim_job().await.unwrap().unwrap();
        crate::jobs::worker::process(&state, job).await;
        let r = state.store.active_reindex(&kb_id).await.unwrap().unwrap();
        let job = state.store.claim_job().await.unwrap().unwrap();
        assert_eq!(
            state.store.switch_reindex(r.id, job.id).await.unwrap(),
            Switch::Done
        );
        let space = state.spaces.get(&kb.embedding_model).unwrap();
        let points = |key: String| {
            space
                .index
                .count(&retrieval::Scope {
                    knowledge_bases: vec![key],
                    documents: None,
                })
                .unwrap()
        };
        assert_eq!(points(kb.index_key()), 3, "old generation still there");
        assert_eq!(clean_up(&state).await.unwrap(), 1);
        assert_eq!(points(kb.index_key()), 0);
        let kb = knowledge_bases::find(&state, &Caller::ADMIN, "town")
            .await
            .unwrap();
        assert_eq!((kb.generation, kb.chunk_size), (2, 128));
        assert_eq!(points(kb.index_key()), 3);
        drop(kb_old);
    }
}
