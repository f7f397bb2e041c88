//! The one place a domain [`Error`] becomes an HTTP status. Responses are
//! `{"error":{"code":"...","message":"..."}}`; server-side failures (5xx) are logged with their
//! detail and answered with a generic message, never the detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;

/// The status of each kind of error: the table clients may rely on.
pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::BadRequest(_) | Error::EmptyFile(_) => StatusCode::BAD_REQUEST,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Timeout => StatusCode::REQUEST_TIMEOUT,
        Error::Unavailable(_) | Error::LlmUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::LlmFailed(_) => StatusCode::BAD_GATEWAY,
        Error::LlmTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of an error (also the `error` event of a stream).
pub fn body(e: &Error) -> serde_json::Value {
    if let Error::Internal(detail) = e {
        tracing::error!(error = %detail, "internal error");
    }
    json!({"error": {"code": e.code(), "message": e.to_string()}})
}

/// A domain error answered over HTTP.
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (status(&self.0), Json(body(&self.0))).into_response()
    }
}

/// What every handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_do_not_leak() {
        let resp = ApiError(Error::internal("secret path /etc/x")).into_response();
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
        assert_eq!(status(&Error::from(ingest::Error::Empty)).as_u16(), 400);
        let e = Error::from(ingest::Error::UnsupportedFormat("x".into()));
        assert_eq!(status(&e).as_u16(), 415);
    }

    #[test]
    fn a_backend_that_is_down_is_503() {
        assert_eq!(status(&Error::Unavailable("x".into())).as_u16(), 503);
        assert_eq!(status(&Error::LlmUnavailable("x".into())).as_u16(), 503);
    }
}
