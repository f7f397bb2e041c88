//! Extractors whose rejections are API errors (JSON bodies, not axum's plain text).

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::{request::Parts, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::error::Error;

/// `Json<T>` with JSON error bodies.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge("request body is too large".into()).into())
            }
            Err(r) => Err(Error::bad_request(r.body_text().to_lowercase()).into()),
        }
    }
}

/// `Query<T>` with JSON error bodies.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|r| Error::bad_request(r.body_text().to_lowercase()).into())
    }
}
