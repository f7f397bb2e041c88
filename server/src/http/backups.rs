//! `POST /api/v1/backups` (no request timeout: a backup runs as long as the copy takes) and
//! `GET /api/v1/backups`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use crate::service::backup::{self, Backup};
use crate::service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/backups", post(create).get(list))
}

/// The backups, newest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backups {
    pub backups: Vec<Backup>,
}

async fn create(State(state): State<AppState>) -> ApiResult<(StatusCode, Json<Backup>)> {
    Ok((
        StatusCode::CREATED,
        Json(backup::create_backup(&state).await?),
    ))
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Backups>> {
    Ok(Json(Backups {
        backups: backup::list(&state).await?,
    }))
}
