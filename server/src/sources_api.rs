//! `/api/v1/knowledge-bases/{kb}/sources`: folders and URL lists kept in sync
//! (contract: `docs/sources-api.md`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::api::{find_kb, ApiJson};
use crate::error::ApiError;
use crate::sources::schedule::Schedule;
use crate::sources::{Kind, Run, RunError, SourceRow, Spec};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/knowledge-bases/{kb}/sources", post(create).get(list))
        .route(
            "/knowledge-bases/{kb}/sources/{id}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/knowledge-bases/{kb}/sources/{id}/run", post(run_now))
        .route("/knowledge-bases/{kb}/sources/{id}/runs", get(runs))
        .route(
            "/knowledge-bases/{kb}/sources/{id}/runs/{run}",
            get(one_run),
        )
        .route(
            "/knowledge-bases/{kb}/sources/{id}/runs/{run}/cancel",
            post(cancel),
        )
}

/// A source as clients see it.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    pub errors: Vec<RunError>,
}

/// Per-file errors shown with a run.
const ERRORS_SHOWN: i64 = 500;

async fn run_view(state: &AppState, run: Run) -> Result<RunView, ApiError> {
    let errors = state.db.run_errors(run.id, ERRORS_SHOWN).await?;
    Ok(RunView { run, errors })
}

async fn source_view(state: &AppState, row: SourceRow) -> Result<SourceView, ApiError> {
    let last_run = match state.db.list_runs(&row.id, 1).await?.into_iter().next() {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSource {
    kind: String,
    path: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    schedule: Option<String>,
    timezone: Option<String>,
    enabled: Option<bool>,
}

async fn create(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<CreateSource>,
) -> Result<(StatusCode, Json<SourceView>), ApiError> {
    let kb = find_kb(&state, &kb).await?;
    let kind = Kind::parse(&req.kind)
        .ok_or_else(|| ApiError::bad_request("kind must be \"folder\" or \"urls\""))?;
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
    let spec = validate(&state, spec).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let row = state.db.create_source(&id, &kb.id, &spec).await?;
    Ok((StatusCode::CREATED, Json(source_view(&state, row).await?)))
}

/// Validation touches the file system (canonical folder paths): off the runtime.
async fn validate(state: &AppState, spec: Spec) -> Result<Spec, ApiError> {
    let config = state.config.sources.clone();
    Ok(tokio::task::spawn_blocking(move || spec.validate(&config)).await??)
}

async fn list(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kb = find_kb(&state, &kb).await?;
    let mut sources = Vec::new();
    for row in state.db.list_sources(&kb.id).await? {
        sources.push(source_view(&state, row).await?);
    }
    Ok(Json(json!({ "sources": sources })))
}

async fn find_source(state: &AppState, kb: &str, id: &str) -> Result<SourceRow, ApiError> {
    let kb = find_kb(state, kb).await?;
    state
        .db
        .get_source(&kb.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("source", id))
}

async fn get_one(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<Json<SourceView>, ApiError> {
    let row = find_source(&state, &kb, &id).await?;
    Ok(Json(source_view(&state, row).await?))
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateSource {
    path: Option<String>,
    urls: Option<Vec<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    schedule: Option<Option<String>>,
    timezone: Option<String>,
    enabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateSource>,
) -> Result<Json<SourceView>, ApiError> {
    let row = find_source(&state, &kb, &id).await?;
    let kind = Kind::parse(&row.kind).ok_or_else(|| ApiError::internal("unknown source kind"))?;
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
    let spec = validate(&state, spec).await?;
    let schedule_changed = spec.schedule != row.schedule
        || spec.timezone != row.timezone
        || (spec.enabled && !row.enabled);
    state
        .db
        .update_source(&row.id, &spec, schedule_changed)
        .await?;
    let row = find_source(&state, &kb, &id).await?;
    Ok(Json(source_view(&state, row).await?))
}

async fn remove(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let row = find_source(&state, &kb, &id).await?;
    if let Some(run) = state.db.list_runs(&row.id, 1).await?.into_iter().next() {
        state.db.cancel_run(run.id).await?;
    }
    // Points first, then rows: a crash in between leaves rows to delete again, never points
    // nobody can find.
    let docs = state.db.source_documents(&row.id).await?;
    crate::sources::sync::remove_documents(&state, docs)
        .await
        .map_err(ApiError::internal)?;
    state.db.delete_source(&row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn run_now(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let row = find_source(&state, &kb, &id).await?;
    match state.db.start_run(&row.id, "manual", None).await? {
        Ok(run) => {
            state.wake.notify_waiters();
            Ok((StatusCode::ACCEPTED, Json(run_view(&state, run).await?)))
        }
        Err(active) => Err(ApiError::Conflict(format!(
            "run {} of this source is still {}",
            active.id, active.status
        ))),
    }
}

async fn runs(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let row = find_source(&state, &kb, &id).await?;
    let mut runs = Vec::new();
    for run in state.db.list_runs(&row.id, 50).await? {
        runs.push(run_view(&state, run).await?);
    }
    Ok(Json(json!({ "runs": runs })))
}

async fn find_run(state: &AppState, kb: &str, id: &str, run: i64) -> Result<Run, ApiError> {
    let row = find_source(state, kb, id).await?;
    state
        .db
        .get_run(run)
        .await?
        .filter(|r| r.source_id == row.id)
        .ok_or_else(|| ApiError::not_found("run", run.to_string()))
}

async fn one_run(
    State(state): State<AppState>,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> Result<Json<RunView>, ApiError> {
    let run = find_run(&state, &kb, &id, run).await?;
    Ok(Json(run_view(&state, run).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let found = find_run(&state, &kb, &id, run).await?;
    if !state.db.cancel_run(found.id).await? {
        return Err(ApiError::Conflict(format!(
            "run {} is already {}",
            found.id, found.status
        )));
    }
    let run = state
        .db
        .get_run(found.id)
        .await?
        .ok_or_else(|| ApiError::not_found("run", found.id.to_string()))?;
    Ok((StatusCode::ACCEPTED, Json(run_view(&state, run).await?)))
}
