//! `/api/v1/knowledge-bases`: create, list, get, change, delete, statistics, re-index.

use crate::service::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::knowledge_bases::{
    self, KnowledgeBaseChanges, KnowledgeBaseStats, KnowledgeBases, NewKnowledgeBase,
};
use crate::service::reindex::{self, ReindexRequest, ReindexView};
use crate::service::AppState;
use crate::store::KnowledgeBase;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(stats))
        .routes(routes!(reindex_start, reindex_status))
        .routes(routes!(reindex_cancel))
        .routes(routes!(reindex_history))
}

/// Starts a re-index: 202 with the re-index, whose progress `GET …/reindex` shows.
#[utoipa::path(post, path = "/knowledge-bases/{kb}/reindex", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")), request_body = ReindexRequest,
    responses((status = 202, description = "re-index started", body = ReindexView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn reindex_start(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<ReindexRequest>,
) -> ApiResult<(StatusCode, Json<ReindexView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(reindex::start(&state, &caller, &kb, req).await?),
    ))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/reindex", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 200, description = "the newest re-index and its progress", body = ReindexView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn reindex_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<Json<ReindexView>> {
    Ok(Json(reindex::latest(&state, &caller, &kb).await?))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/reindexes", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 200, description = "re-indexes, newest first", body = Vec<ReindexView>), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn reindex_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<Json<Vec<ReindexView>>> {
    Ok(Json(reindex::history(&state, &caller, &kb).await?))
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/reindex/cancel", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 202, description = "the running re-index is being cancelled", body = ReindexView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn reindex_cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<(StatusCode, Json<ReindexView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(reindex::cancel(&state, &caller, &kb).await?),
    ))
}

#[utoipa::path(post, path = "/knowledge-bases", tag = "knowledge bases", request_body = NewKnowledgeBase,
    responses((status = 201, description = "created", body = KnowledgeBase), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewKnowledgeBase>,
) -> ApiResult<(StatusCode, Json<KnowledgeBase>)> {
    let kb = knowledge_bases::create(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(kb)))
}

#[utoipa::path(get, path = "/knowledge-bases", tag = "knowledge bases",
    responses((status = 200, description = "the knowledge bases the key may see, the default model and the presets", body = KnowledgeBases), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<KnowledgeBases>> {
    Ok(Json(knowledge_bases::list(&state, &caller).await?))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 200, description = "the knowledge base", body = KnowledgeBase), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<Json<KnowledgeBase>> {
    Ok(Json(knowledge_bases::get(&state, &caller, &kb).await?))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/stats", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 200, description = "documents by status, chunks, index points", body = KnowledgeBaseStats), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<Json<KnowledgeBaseStats>> {
    Ok(Json(knowledge_bases::stats(&state, &caller, &kb).await?))
}

#[utoipa::path(patch, path = "/knowledge-bases/{kb}", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")), request_body = KnowledgeBaseChanges,
    responses((status = 200, description = "changed", body = KnowledgeBase), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<KnowledgeBaseChanges>,
) -> ApiResult<Json<KnowledgeBase>> {
    Ok(Json(
        knowledge_bases::update(&state, &caller, &kb, req).await?,
    ))
}

#[utoipa::path(delete, path = "/knowledge-bases/{kb}", tag = "knowledge bases", params(("kb" = String, Path, description = "knowledge base id or name")),
    responses((status = 204, description = "deleted with its documents and points"), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
) -> ApiResult<StatusCode> {
    knowledge_bases::delete(&state, &caller, &kb).await?;
    Ok(StatusCode::NO_CONTENT)
}
