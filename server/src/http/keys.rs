//! `POST /api/v1/keys` (the secret is in this reply only), `GET /api/v1/keys`,
//! `DELETE /api/v1/keys/{id}` (revokes: the key and its web sessions stop at once). Admin
//! keys only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::auth::Caller;
use crate::service::keys::{self, CreatedKey, KeyView, NewKey};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}

/// The keys, newest first, revoked ones too; never their secrets.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Keys {
    pub keys: Vec<KeyView>,
}

#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, description = "the key, with its secret: shown this once", body = CreatedKey), (status = "4XX", description = "bad request, not found, not an admin, or a server without keys (409)", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    Ok((
        StatusCode::CREATED,
        Json(keys::create(&state, &caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/keys", tag = "keys",
    responses((status = 200, description = "the keys, newest first", body = Keys), (status = "4XX", description = "not an admin", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Keys>> {
    Ok(Json(Keys {
        keys: keys::list(&state, &caller).await?,
    }))
}

#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "key id")),
    responses((status = 200, description = "revoked (again is fine): the key as it is now", body = KeyView), (status = "4XX", description = "not found, not an admin", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(keys::revoke(&state, &caller, &id).await?))
}
