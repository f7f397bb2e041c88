//! The retrieval crate's one error type.

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

impl From<qdrant_edge::OperationError> for Error {
    fn from(e: qdrant_edge::OperationError) -> Self {
        Error::Index(e.to_string())
    }
}
