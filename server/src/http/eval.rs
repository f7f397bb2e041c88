//! `POST /api/v1/eval` (no request timeout: an evaluation runs as long as its queries take).

use crate::service::auth::Caller;
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::eval::{self, EvalBody, EvalReport};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run))
}

#[utoipa::path(post, path = "/eval", tag = "evaluation", request_body = EvalBody,
    responses((status = 200, description = "nDCG@10, recall and MRR by retrieval mode", body = EvalReport), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn run(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EvalBody>,
) -> ApiResult<Json<EvalReport>> {
    Ok(Json(eval::eval(&state, &caller, body).await?))
}
