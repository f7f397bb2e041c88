//! The source operations every interface calls: create, list, get, change, remove, run now,
//! list runs, cancel.

use serde::{Deserialize, Deserializer, Serialize};

use super::{Kind, Run, RunError, SourceRow, Spec};
use crate::error::{Error, Result};
use crate::schedule::Schedule;
use crate::service::auth::Caller;
use crate::service::{documents, knowledge_bases, AppState, State};

/// A source as clients see it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceView {
    pub id: String,
    pub kb_id: String,
    pub kind: String,
    pub path: Option<String>,
    pub urls: Vec<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub schedule: Option<String>,
    pub timezone: String,
    pub enabled: bool,
    pub created_at: String,
    pub next_run_at: Option<String>,
    pub last_run: Option<RunView>,
}

/// A run with its per-file errors.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    pub errors: Vec<RunError>,
}

/// Per-file errors shown with a run.
const ERRORS_SHOWN: i64 = 500;

async fn run_view(state: &State, run: Run) -> Result<RunView> {
    let errors = state.store.run_errors(run.id, ERRORS_SHOWN).await?;
    Ok(RunView { run, errors })
}

async fn source_view(state: &State, row: SourceRow) -> Result<SourceView> {
    let last_run = match state.store.list_runs(&row.id, 1).await?.into_iter().next() {
        Some(run) => Some(run_view(state, run).await?),
        None => None,
    };
    let next_run_at = match (&row.schedule, row.enabled) {
        (Some(expr), true) => Schedule::parse(expr, &row.timezone)
            .ok()
            .and_then(|s| s.next_after(jiff::Timestamp::now()))
            .map(|z| z.to_string()),
        _ => None,
    };
    Ok(SourceView {
        urls: row.urls(),
        include: row.include(),
        exclude: row.exclude(),
        id: row.id,
        kb_id: row.kb_id,
        kind: row.kind,
        path: row.path,
        schedule: row.schedule,
        timezone: row.timezone,
        enabled: row.enabled,
        created_at: row.created_at,
        next_run_at,
        last_run,
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    pub kind: String,
    pub path: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

pub async fn create(
    state: &State,
    caller: &Caller,
    kb: &str,
    req: NewSource,
) -> Result<SourceView> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    let kind = Kind::parse(&req.kind)
        .ok_or_else(|| Error::bad_request("kind must be \"folder\" or \"urls\""))?;
    let spec = Spec {
        kind,
        path: req.path.map(Into::into),
        urls: req.urls,
        include: req.include,
        exclude: req.exclude,
        schedule: req.schedule,
        timezone: req
            .timezone
            .unwrap_or_else(|| state.config.sources.default_timezone.clone()),
        enabled: req.enabled.unwrap_or(true),
    };
    let spec = validate(state, spec).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let row = state.store.create_source(&id, &kb.id, &spec).await?;
    source_view(state, row).await
}

/// Validation touches the file system (canonical folder paths): off the runtime.
async fn validate(state: &State, spec: Spec) -> Result<Spec> {
    let config = state.config.sources.clone();
    Ok(tokio::task::spawn_blocking(move || spec.validate(&config)).await??)
}

pub async fn list(state: &State, caller: &Caller, kb: &str) -> Result<Vec<SourceView>> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    let mut sources = Vec::new();
    for row in state.store.list_sources(&kb.id).await? {
        sources.push(source_view(state, row).await?);
    }
    Ok(sources)
}

async fn find_source(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<SourceRow> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    state
        .store
        .get_source(&kb.id, id)
        .await?
        .ok_or_else(|| Error::not_found("source", id))
}

pub async fn get(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<SourceView> {
    let row = find_source(state, caller, kb, id).await?;
    source_view(state, row).await
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceChanges {
    pub path: Option<String>,
    pub urls: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub schedule: Option<Option<String>>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

pub async fn update(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
    req: SourceChanges,
) -> Result<SourceView> {
    let row = find_source(state, caller, kb, id).await?;
    let kind = Kind::parse(&row.kind).ok_or_else(|| Error::internal("unknown source kind"))?;
    let spec = Spec {
        kind,
        path: req
            .path
            .map(Into::into)
            .or(row.path.clone().map(Into::into)),
        urls: req.urls.unwrap_or_else(|| row.urls()),
        include: req.include.unwrap_or_else(|| row.include()),
        exclude: req.exclude.unwrap_or_else(|| row.exclude()),
        schedule: req.schedule.clone().unwrap_or(row.schedule.clone()),
        timezone: req.timezone.unwrap_or(row.timezone.clone()),
        enabled: req.enabled.unwrap_or(row.enabled),
    };
    let spec = validate(state, spec).await?;
    let schedule_changed = spec.schedule != row.schedule
        || spec.timezone != row.timezone
        || (spec.enabled && !row.enabled);
    state
        .store
        .update_source(&row.id, &spec, schedule_changed)
        .await?;
    let row = find_source(state, caller, kb, id).await?;
    source_view(state, row).await
}

/// Removes a source and the documents it brought in (through the one delete path).
pub async fn remove(state: &AppState, caller: &Caller, kb: &str, id: &str) -> Result<()> {
    let row = find_source(state, caller, kb, id).await?;
    if let Some(run) = state.store.list_runs(&row.id, 1).await?.into_iter().next() {
        state.store.cancel_run(run.id).await?;
    }
    // Points first, then rows: a crash in between leaves rows to delete again, never points
    // nobody can find.
    let docs = state.store.source_documents(&row.id).await?;
    let indexes = crate::service::reindex::indexes_of_id(state, &row.kb_id).await?;
    documents::remove(&state.store, &indexes, &state.files, docs).await?;
    state.store.delete_source(&row.id).await?;
    Ok(())
}

/// Queues a run now.
pub async fn run_now(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<RunView> {
    let row = find_source(state, caller, kb, id).await?;
    match state.store.start_run(&row.id, "manual", None).await? {
        Ok(run) => {
            state.wake.notify_waiters();
            run_view(state, run).await
        }
        Err(active) => Err(Error::Conflict(format!(
            "run {} of this source is still {}",
            active.id, active.status
        ))),
    }
}

/// A source's recent runs, newest first.
pub async fn runs(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<Vec<RunView>> {
    let row = find_source(state, caller, kb, id).await?;
    let mut runs = Vec::new();
    for run in state.store.list_runs(&row.id, 50).await? {
        runs.push(run_view(state, run).await?);
    }
    Ok(runs)
}

async fn find_run(state: &State, caller: &Caller, kb: &str, id: &str, run: i64) -> Result<Run> {
    let row = find_source(state, caller, kb, id).await?;
    state
        .store
        .get_run(run)
        .await?
        .filter(|r| r.source_id == row.id)
        .ok_or_else(|| Error::not_found("run", run.to_string()))
}

pub async fn run(state: &State, caller: &Caller, kb: &str, id: &str, run: i64) -> Result<RunView> {
    let run = find_run(state, caller, kb, id, run).await?;
    run_view(state, run).await
}

/// Cancels a run that is not over.
pub async fn cancel(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
    run: i64,
) -> Result<RunView> {
    let found = find_run(state, caller, kb, id, run).await?;
    if !state.store.cancel_run(found.id).await? {
        return Err(Error::Conflict(format!(
            "run {} is already {}",
            found.id, found.status
        )));
    }
    let run = state
        .store
        .get_run(found.id)
        .await?
        .ok_or_else(|| Error::not_found("run", found.id.to_string()))?;
    run_view(state, run).await
}
