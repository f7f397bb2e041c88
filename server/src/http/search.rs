//! `POST /api/v1/search`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use super::error::ApiResult;
use super::extract::ApiJson;
use crate::service::search::{self, SearchReply, SearchRequest};
use crate::service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/search", post(run))
}

async fn run(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SearchRequest>,
) -> ApiResult<Json<SearchReply>> {
    Ok(Json(search::search(&state, body).await?))
}
