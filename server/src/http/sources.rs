//! `/api/v1/knowledge-bases/{kb}/sources`: folders and URL lists kept in sync
//! (contract: `docs/sources-api.md`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::ApiJson;
use crate::service::sources::manage::{self, NewSource, RunView, SourceChanges, SourceView};
use crate::service::AppState;

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

/// A knowledge base's sources.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sources {
    pub sources: Vec<SourceView>,
}

/// A source's recent runs, newest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct Runs {
    pub runs: Vec<RunView>,
}

async fn create(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<NewSource>,
) -> ApiResult<(StatusCode, Json<SourceView>)> {
    Ok((
        StatusCode::CREATED,
        Json(manage::create(&state, &kb, req).await?),
    ))
}

async fn list(State(state): State<AppState>, Path(kb): Path<String>) -> ApiResult<Json<Sources>> {
    Ok(Json(Sources {
        sources: manage::list(&state, &kb).await?,
    }))
}

async fn get_one(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<SourceView>> {
    Ok(Json(manage::get(&state, &kb, &id).await?))
}

async fn update(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SourceChanges>,
) -> ApiResult<Json<SourceView>> {
    Ok(Json(manage::update(&state, &kb, &id, req).await?))
}

async fn remove(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    manage::remove(&state, &kb, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn run_now(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(manage::run_now(&state, &kb, &id).await?),
    ))
}

async fn runs(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<Runs>> {
    Ok(Json(Runs {
        runs: manage::runs(&state, &kb, &id).await?,
    }))
}

async fn one_run(
    State(state): State<AppState>,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(manage::run(&state, &kb, &id, run).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(manage::cancel(&state, &kb, &id, run).await?),
    ))
}
