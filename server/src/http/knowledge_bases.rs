//! `/api/v1/knowledge-bases`: create, list, get, change, delete, statistics, re-index.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::ApiResult;
use super::extract::ApiJson;
use crate::service::knowledge_bases::{
    self, KnowledgeBaseChanges, KnowledgeBaseStats, KnowledgeBases, NewKnowledgeBase,
};
use crate::service::reindex::{self, ReindexRequest, ReindexView};
use crate::service::AppState;
use crate::store::KnowledgeBase;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/knowledge-bases", post(create).get(list))
        .route(
            "/knowledge-bases/{kb}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/knowledge-bases/{kb}/stats", get(stats))
        .route(
            "/knowledge-bases/{kb}/reindex",
            post(reindex_start).get(reindex_status),
        )
        .route("/knowledge-bases/{kb}/reindex/cancel", post(reindex_cancel))
        .route("/knowledge-bases/{kb}/reindexes", get(reindex_history))
}

/// Starts a re-index: 202 with the re-index, whose progress `GET …/reindex` shows.
async fn reindex_start(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<ReindexRequest>,
) -> ApiResult<(StatusCode, Json<ReindexView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(reindex::start(&state, &kb, req).await?),
    ))
}

async fn reindex_status(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> ApiResult<Json<ReindexView>> {
    Ok(Json(reindex::latest(&state, &kb).await?))
}

async fn reindex_history(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> ApiResult<Json<Vec<ReindexView>>> {
    Ok(Json(reindex::history(&state, &kb).await?))
}

async fn reindex_cancel(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> ApiResult<(StatusCode, Json<ReindexView>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(reindex::cancel(&state, &kb).await?),
    ))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewKnowledgeBase>,
) -> ApiResult<(StatusCode, Json<KnowledgeBase>)> {
    let kb = knowledge_bases::create(&state, req).await?;
    Ok((StatusCode::CREATED, Json(kb)))
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<KnowledgeBases>> {
    Ok(Json(knowledge_bases::list(&state).await?))
}

async fn get_one(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> ApiResult<Json<KnowledgeBase>> {
    Ok(Json(knowledge_bases::find(&state, &kb).await?))
}

async fn stats(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> ApiResult<Json<KnowledgeBaseStats>> {
    Ok(Json(knowledge_bases::stats(&state, &kb).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<KnowledgeBaseChanges>,
) -> ApiResult<Json<KnowledgeBase>> {
    Ok(Json(knowledge_bases::update(&state, &kb, req).await?))
}

async fn delete(State(state): State<AppState>, Path(kb): Path<String>) -> ApiResult<StatusCode> {
    knowledge_bases::delete(&state, &kb).await?;
    Ok(StatusCode::NO_CONTENT)
}
