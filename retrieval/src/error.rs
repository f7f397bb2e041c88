//! The retrieval crate's one error type, and its kind: what a caller should make of it
//! ([`Error::kind`]: a bad request, an index that cannot be reached now, one that answered too
//! late, or a fault).

use std::path::PathBuf;

/// Everything that can go wrong while embedding, indexing or searching.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "onnx runtime library not found at {0} (run `make setup`, or set embedding.ort_library)"
    )]
    OrtMissing(PathBuf),
    #[error("could not load onnx runtime from {path}: {message}")]
    OrtLoad { path: PathBuf, message: String },
    #[error("embedding model not found: {0} (run `make setup`, or set embedding.model_dir)")]
    ModelMissing(PathBuf),
    #[error("embedding model error: {0}")]
    Model(String),
    #[error("the index was built with model {stored} ({stored_dim} dims) but {configured} ({configured_dim} dims) is configured; reindex or restore the old model")]
    ModelMismatch {
        stored: String,
        stored_dim: usize,
        configured: String,
        configured_dim: usize,
    },
    #[error("vector index error: {0}")]
    Index(String),
    /// The index's service (a Qdrant server) cannot be reached, or is overloaded.
    #[error("vector index unavailable: {0}")]
    Unavailable(String),
    /// The index's service did not answer in time.
    #[error("vector index timed out: {0}")]
    Timeout(String),
    /// The embedding server cannot be reached, refuses the load (429) or fails (5xx), after
    /// the configured retries.
    #[error("embedding server unavailable: {0}")]
    EmbeddingUnavailable(String),
    /// The embedding server did not answer in time, after the configured retries.
    #[error("embedding server timed out: {0}")]
    EmbeddingTimeout(String),
    #[error("bm25 error: {0}")]
    Bm25(String),
    #[error("io error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The same error again, for each of several callers a failure concerns (an embedding
    /// batch shared by documents). An I/O error keeps its kind and message.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::OrtMissing(p) => Error::OrtMissing(p.clone()),
            Error::OrtLoad { path, message } => Error::OrtLoad {
                path: path.clone(),
                message: message.clone(),
            },
            Error::ModelMissing(p) => Error::ModelMissing(p.clone()),
            Error::Model(m) => Error::Model(m.clone()),
            Error::ModelMismatch {
                stored,
                stored_dim,
                configured,
                configured_dim,
            } => Error::ModelMismatch {
                stored: stored.clone(),
                stored_dim: *stored_dim,
                configured: configured.clone(),
                configured_dim: *configured_dim,
            },
            Error::Index(m) => Error::Index(m.clone()),
            Error::Unavailable(m) => Error::Unavailable(m.clone()),
            Error::Timeout(m) => Error::Timeout(m.clone()),
            Error::EmbeddingUnavailable(m) => Error::EmbeddingUnavailable(m.clone()),
            Error::EmbeddingTimeout(m) => Error::EmbeddingTimeout(m.clone()),
            Error::Bm25(m) => Error::Bm25(m.clone()),
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Invalid(m) => Error::Invalid(m.clone()),
        }
    }
}

/// What kind of failure an [`Error`] is, for callers that answer for it (an HTTP status, a
/// retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is wrong (a bad option, an empty query, a vector of the wrong
    /// size): asking again the same way fails again.
    Invalid,
    /// Something the index needs cannot be reached now (a Qdrant server that refuses
    /// connections or is overloaded): asking again later may work.
    Unavailable,
    /// Something the index needs did not answer in time.
    Timeout,
    /// Anything else: missing models or runtime, a model mismatch, an index or disk fault.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// Whether this is an embedding server that is down or slow now: the work that needed it
    /// waits and is retried later; a search may fall back to BM25.
    pub fn is_embedding_outage(&self) -> bool {
        matches!(
            self,
            Error::EmbeddingUnavailable(_) | Error::EmbeddingTimeout(_)
        )
    }

    /// The kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Unavailable(_) | Error::EmbeddingUnavailable(_) => ErrorKind::Unavailable,
            Error::Timeout(_) | Error::EmbeddingTimeout(_) => ErrorKind::Timeout,
            Error::OrtMissing(_)
            | Error::OrtLoad { .. }
            | Error::ModelMissing(_)
            | Error::Model(_)
            | Error::ModelMismatch { .. }
            | Error::Index(_)
            | Error::Bm25(_)
            | Error::Io { .. } => ErrorKind::Internal,
        }
    }
}

impl From<qdrant_edge::OperationError> for Error {
    fn from(e: qdrant_edge::OperationError) -> Self {
        Error::Index(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_kind() {
        let cases = [
            (Error::Invalid("query is empty".into()), ErrorKind::Invalid),
            (Error::Unavailable("qdrant".into()), ErrorKind::Unavailable),
            (Error::Timeout("qdrant".into()), ErrorKind::Timeout),
            (Error::Index("flush failed".into()), ErrorKind::Internal),
            (Error::Model("x".into()), ErrorKind::Internal),
            (Error::OrtMissing(PathBuf::from("/x")), ErrorKind::Internal),
            (
                Error::ModelMismatch {
                    stored: "a".into(),
                    stored_dim: 3,
                    configured: "b".into(),
                    configured_dim: 4,
                },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
