//! The system's state: `GET /api/v1/index`, `GET /api/v1/llm`, `/healthz`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiResult;
use crate::service::system::{self, IndexStatus, LlmReport};
use crate::service::AppState;

/// Routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/index", get(index))
}

/// Routes under `/api/v1` that may wait on the LLM's own timeouts.
pub fn llm_routes() -> Router<AppState> {
    Router::new().route("/llm", get(llm))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn index(State(state): State<AppState>) -> ApiResult<Json<IndexStatus>> {
    Ok(Json(system::index_status(&state).await?))
}

async fn llm(State(state): State<AppState>) -> Json<LlmReport> {
    Json(system::llm_report(&state).await)
}
