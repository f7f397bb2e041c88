//! `POST /api/v1/backups` (no request timeout: a backup runs as long as the copy takes) and
//! `GET /api/v1/backups`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::openapi::ErrorBody;
use crate::service::backup::{self, Backup};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list))
}

/// The backups, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Backups {
    pub backups: Vec<Backup>,
}

#[utoipa::path(post, path = "/backups", tag = "system",
    responses((status = 201, description = "a consistent copy of the data folder", body = Backup), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn create(State(state): State<AppState>) -> ApiResult<(StatusCode, Json<Backup>)> {
    Ok((
        StatusCode::CREATED,
        Json(backup::create_backup(&state).await?),
    ))
}

#[utoipa::path(get, path = "/backups", tag = "system",
    responses((status = 200, description = "the backups, newest first", body = Backups), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(State(state): State<AppState>) -> ApiResult<Json<Backups>> {
    Ok(Json(Backups {
        backups: backup::list(&state).await?,
    }))
}
