//! Every API error in one place: its HTTP status, its stable `code`, and its message.
//!
//! Responses are `{"error":{"code":"...","message":"..."}}`. Server-side failures (5xx) are
//! logged with their detail and answered with a generic message, never the detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    #[error("missing or invalid api key")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    EmptyFile(String),
    #[error("{0}")]
    UnsupportedFormat(String),
    #[error("request timed out")]
    Timeout,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    LlmUnavailable(String),
    #[error("{0}")]
    LlmTimeout(String),
    #[error("{0}")]
    LlmFailed(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// Status and stable code: the table clients may rely on.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::EmptyFile(_) => (StatusCode::BAD_REQUEST, "empty_file"),
            ApiError::UnsupportedFormat(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_format")
            }
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::LlmFailed(_) => (StatusCode::BAD_GATEWAY, "llm_error"),
            ApiError::LlmUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "llm_unavailable"),
            ApiError::LlmTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "llm_timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        (status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<retrieval::Error> for ApiError {
    fn from(e: retrieval::Error) -> Self {
        match e {
            retrieval::Error::Invalid(m) => ApiError::BadRequest(m),
            other => ApiError::internal(other),
        }
    }
}

/// Errors found when a file is uploaded (before it is queued).
impl From<ingest::Error> for ApiError {
    fn from(e: ingest::Error) -> Self {
        match e {
            ingest::Error::Empty => ApiError::EmptyFile(e.to_string()),
            ingest::Error::UnsupportedFormat(_)
            | ingest::Error::PdfMalformed(_)
            | ingest::Error::Encoding(_)
            | ingest::Error::Archive(_) => ApiError::UnsupportedFormat(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::sources::Invalid> for ApiError {
    fn from(e: crate::sources::Invalid) -> Self {
        match e {
            crate::sources::Invalid::Bad(m) => ApiError::BadRequest(m),
            crate::sources::Invalid::Forbidden(m) => ApiError::Forbidden(m),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("task failed: {e}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("io: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_do_not_leak() {
        let resp = ApiError::internal("secret path /etc/x").into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"code\":\"internal\""));
    }

    #[test]
    fn upload_errors_map_to_4xx() {
        let (s, c) = ApiError::from(ingest::Error::Empty).status_and_code();
        assert_eq!((s.as_u16(), c), (400, "empty_file"));
        let (s, _) = ApiError::from(ingest::Error::UnsupportedFormat("x".into())).status_and_code();
        assert_eq!(s.as_u16(), 415);
    }
}
