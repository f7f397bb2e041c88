//! `POST /api/v1/eval` (no request timeout: an evaluation runs as long as its queries take).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use super::error::ApiResult;
use super::extract::ApiJson;
use crate::service::eval::{self, EvalBody, EvalReport};
use crate::service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/eval", post(run))
}

async fn run(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EvalBody>,
) -> ApiResult<Json<EvalReport>> {
    Ok(Json(eval::eval(&state, body).await?))
}
