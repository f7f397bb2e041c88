//! `POST /api/v1/search`.

use crate::service::auth::Caller;
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::search::{self, SearchReply, SearchRequest};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run))
}

#[utoipa::path(post, path = "/search", tag = "search", request_body = SearchRequest,
    responses((status = 200, description = "hits, best first; `dense_used` and a `notice` when BM25 ranked alone", body = SearchReply), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn run(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SearchRequest>,
) -> ApiResult<Json<SearchReply>> {
    Ok(Json(search::search(&state, &caller, body).await?))
}
