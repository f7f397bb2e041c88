//! The domain error: what went wrong, by kind, in words a client may read. It knows no HTTP:
//! `http::error` maps each kind to a status code once, and the CLI prints the message.
//!
//! Server-side failures ([`Error::Internal`]) carry their detail for the log only; clients
//! get a generic message, never the detail.

use crate::llm::LlmError;
use crate::store::{FilesError, FilesErrorKind, StoreError, StoreErrorKind};

/// An error of a service call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// A backend (the metadata store, the index) or the server itself cannot take the call
    /// now; retrying later may work.
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

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
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

    /// The stable code clients may rely on (`{"error":{"code":..}}`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::NotFound { .. } => "not_found",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::RateLimited(_) => "rate_limited",
            Error::EmptyFile(_) => "empty_file",
            Error::UnsupportedFormat(_) => "unsupported_format",
            Error::Timeout => "timeout",
            Error::Unavailable(_) => "unavailable",
            Error::LlmFailed(_) => "llm_error",
            Error::LlmUnavailable(_) => "llm_unavailable",
            Error::LlmTimeout(_) => "llm_timeout",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e.kind() {
            StoreErrorKind::Conflict => Error::Conflict(e.to_string()),
            StoreErrorKind::Unavailable => {
                tracing::error!(error = %e, "metadata store unavailable");
                Error::Unavailable(format!(
                    "the metadata store ({}) is unavailable: {}; retry shortly",
                    crate::store::db::engine_in_use(),
                    e.reason()
                ))
            }
            StoreErrorKind::Unsupported => Error::BadRequest(e.reason()),
            StoreErrorKind::Internal => Error::internal(e),
        }
    }
}

/// The index's errors by kind: a Qdrant server that is down is 503, a slow one 503 too (the
/// request may be retried), bad input 400.
impl From<retrieval::Error> for Error {
    fn from(e: retrieval::Error) -> Self {
        match e.kind() {
            retrieval::ErrorKind::Invalid => match e {
                retrieval::Error::Invalid(m) => Error::BadRequest(m),
                other => Error::BadRequest(other.to_string()),
            },
            // The cause (a server's address) is logged, not told to every client.
            retrieval::ErrorKind::Unavailable | retrieval::ErrorKind::Timeout
                if e.is_embedding_outage() =>
            {
                tracing::error!(error = %e, "embedding server unavailable");
                Error::Unavailable(match e.kind() {
                    retrieval::ErrorKind::Timeout => {
                        "the embedding server did not answer in time, retry shortly".into()
                    }
                    _ => "the embedding server is unavailable, retry shortly".into(),
                })
            }
            retrieval::ErrorKind::Unavailable | retrieval::ErrorKind::Timeout => {
                tracing::error!(error = %e, "vector index unavailable");
                Error::Unavailable("the vector index is unavailable, retry shortly".into())
            }
            retrieval::ErrorKind::Internal => Error::internal(e),
        }
    }
}

/// Errors found when a file is uploaded (before it is queued).
impl From<ingest::Error> for Error {
    fn from(e: ingest::Error) -> Self {
        match e {
            ingest::Error::Empty => Error::EmptyFile(e.to_string()),
            ingest::Error::UnsupportedFormat(_)
            | ingest::Error::PdfMalformed(_)
            | ingest::Error::Encoding(_)
            | ingest::Error::Archive(_) => Error::UnsupportedFormat(e.to_string()),
            other => Error::internal(other),
        }
    }
}

/// Maps an LLM failure to the error clients see.
impl From<LlmError> for Error {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::NotConfigured => Error::Unavailable(e.to_string()),
            LlmError::Unreachable(_) => Error::LlmUnavailable(e.to_string()),
            LlmError::Timeout(_) => Error::LlmTimeout(e.to_string()),
            LlmError::Status { .. } | LlmError::Backend(_) | LlmError::Stream(_) => {
                Error::LlmFailed(e.to_string())
            }
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::internal(format!("task failed: {e}"))
    }
}

impl From<FilesError> for Error {
    fn from(e: FilesError) -> Self {
        match e.kind() {
            FilesErrorKind::NotFound => Error::not_found("original file", e.to_string()),
            FilesErrorKind::Invalid => Error::BadRequest(e.to_string()),
            FilesErrorKind::Unavailable => {
                tracing::error!(error = %e, "file storage unavailable");
                Error::Unavailable(format!("the {} is unavailable; retry shortly", e.engine()))
            }
            FilesErrorKind::Internal => Error::internal(e),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::internal(format!("io: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_errors_are_client_errors() {
        assert_eq!(Error::from(ingest::Error::Empty).code(), "empty_file");
        assert_eq!(
            Error::from(ingest::Error::UnsupportedFormat("x".into())).code(),
            "unsupported_format"
        );
    }

    #[test]
    fn index_failures_by_kind() {
        let down = retrieval::Error::Unavailable("qdrant server: connection refused".into());
        assert_eq!(Error::from(down).code(), "unavailable");
        let slow = retrieval::Error::Timeout("deadline".into());
        assert_eq!(Error::from(slow).code(), "unavailable");
        let bad = retrieval::Error::Invalid("top_k".into());
        assert_eq!(Error::from(bad).code(), "bad_request");
    }

    #[test]
    fn llm_failures_by_kind() {
        assert_eq!(
            Error::from(LlmError::Unreachable("x".into())).code(),
            "llm_unavailable"
        );
        assert_eq!(Error::from(LlmError::Timeout(3)).code(), "llm_timeout");
        assert_eq!(
            Error::from(LlmError::Stream("cut".into())).code(),
            "llm_error"
        );
    }
}
