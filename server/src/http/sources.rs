//! `/api/v1/knowledge-bases/{kb}/sources`: folders and URL lists kept in sync
//! (contract: `docs/sources-api.md`).

use crate::service::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::sources::manage::{self, NewSource, RunView, SourceChanges, SourceView};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(run_now))
        .routes(routes!(runs))
        .routes(routes!(one_run))
        .routes(routes!(cancel))
}

/// A knowledge base's sources.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sources {
    pub sources: Vec<SourceView>,
}

/// A source's recent runs, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Runs {
    pub runs: Vec<RunView>,
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/sources", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name")), request_body = NewSource,
    responses((status = 201, description = "created", body = SourceView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<NewSource>,
) -> ApiResult<(StatusCode, Json<SourceView>)> {
    Ok((
        StatusCode::CREATED,
        Json(manage::create(&state, &caller, &kb, req).await?),
    ))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/sources", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 200, description = "the sources", body = Sources), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<Json<Sources>> {
    Ok(Json(Sources {
        sources: manage::list(&state, &caller, &kb).await?,
    }))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/sources/{id}", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id")),
    responses((status = 200, description = "the source", body = SourceView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<SourceView>> {
    Ok(Json(manage::get(&state, &caller, &kb, &id).await?))
}

#[utoipa::path(patch, path = "/knowledge-bases/{kb}/sources/{id}", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id")), request_body = SourceChanges,
    responses((status = 200, description = "changed", body = SourceView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SourceChanges>,
) -> ApiResult<Json<SourceView>> {
    Ok(Json(manage::update(&state, &caller, &kb, &id, req).await?))
}

#[utoipa::path(delete, path = "/knowledge-bases/{kb}/sources/{id}", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id")),
    responses((status = 204, description = "removed with its documents"), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    manage::remove(&state, &caller, &kb, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/sources/{id}/run", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id")),
    responses((status = 202, description = "a run, queued", body = RunView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn run_now(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(manage::run_now(&state, &caller, &kb, &id).await?),
    ))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/sources/{id}/runs", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id")),
    responses((status = 200, description = "recent runs, newest first", body = Runs), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<Runs>> {
    Ok(Json(Runs {
        runs: manage::runs(&state, &caller, &kb, &id).await?,
    }))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/sources/{id}/runs/{run}", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id"), ("run" = i64, Path, description = "run id")),
    responses((status = 200, description = "the run and its errors", body = RunView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn one_run(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(manage::run(&state, &caller, &kb, &id, run).await?))
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/sources/{id}/runs/{run}/cancel", tag = "sources", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "source id"), ("run" = i64, Path, description = "run id")),
    responses((status = 202, description = "the run is being cancelled", body = RunView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id, run)): Path<(String, String, i64)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(manage::cancel(&state, &caller, &kb, &id, run).await?),
    ))
}
