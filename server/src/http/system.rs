//! The system's state: `GET /api/v1/index`, `GET /api/v1/llm`, `/healthz`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::openapi::ErrorBody;
use crate::service::system::{self, Health, IndexStatus, LlmReport};
use crate::service::AppState;

/// Routes under `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(index))
}

/// Routes under `/api/v1` that may wait on the LLM's own timeouts.
pub fn llm_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(llm))
}

#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "every engine answers (`status`: `ok`)", body = Health),
        (status = 503, description = "an engine does not answer (`status`: `degraded`)", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = system::health(&state).await;
    let code = if health.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health))
}

#[utoipa::path(get, path = "/index", tag = "system",
    responses((status = 200, description = "each model's index: points, segments, the optimization passes", body = IndexStatus), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn index(State(state): State<AppState>) -> ApiResult<Json<IndexStatus>> {
    Ok(Json(system::index_status(&state).await?))
}

#[utoipa::path(get, path = "/llm", tag = "system",
    responses((status = 200, description = "the configured LLM, whether it answers, its GPU memory estimate", body = LlmReport)))]
async fn llm(State(state): State<AppState>) -> Json<LlmReport> {
    Json(system::llm_report(&state).await)
}
