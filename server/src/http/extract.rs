//! Extractors whose rejections are API errors (JSON bodies, not axum's plain text).

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::{request::Parts, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::error::Error;

/// The largest JSON body of any route (uploads are multipart, with `max_upload_bytes`): a
/// request's JSON is questions, settings and lists, never documents.
pub const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

/// `Json<T>` with JSON error bodies, at most [`MAX_JSON_BYTES`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let too_large = || {
            ApiError::from(Error::PayloadTooLarge(format!(
                "a json body may be at most {MAX_JSON_BYTES} bytes"
            )))
        };
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_JSON_BYTES as u64) {
            return Err(too_large());
        }
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
            .await
            .map_err(|_| too_large())?;
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
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
