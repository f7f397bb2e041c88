//! The ragd index: everything that turns text into vectors and vectors into ranked chunks.
//!
//! Stage order of a search:
//! 1. [`embed`]: the query becomes a dense vector (an [`Embed`]: fastembed in process, or a
//!    model server over HTTP) and a sparse BM25 vector ([`sparse`]);
//! 2. [`index`]: dense ∥ sparse nearest-neighbour searches in Qdrant Edge (or on a Qdrant
//!    server), each restricted by the knowledge-base and document [`filter`]s;
//! 3. [`fusion`]: the two ranked lists are fused (reciprocal rank fusion, or
//!    distribution-based score fusion);
//! 4. [`rerank`]: optionally reordered (model-free weighted hybrid, or a cross-encoder);
//! 5. [`search`]: thresholded, cut to `top_k` and returned with every score.
//!
//! [`normalize`] prepares text for BM25 (full/half width, traditional/simplified, user
//! dictionary); [`eval`] measures rankings (nDCG, recall, MRR).
//!
//! The ingest crate writes through the same [`index::Index`] (one writer) and the same
//! [`Embed`], so indexing and querying always agree on models and tokenizers. Every failure
//! is an [`Error`] with an [`ErrorKind`].

pub mod embed;
pub mod error;
pub mod eval;
pub mod filter;
pub mod fusion;
pub mod index;
pub mod normalize;
pub mod priority;
pub mod rerank;
pub mod search;
pub mod secret;
pub mod sparse;

pub use embed::{connect, Embed, Embedder, EmbeddingConfig, HashEmbed, Provider, Remote};
pub use error::{Error, ErrorKind, Result};
pub use filter::Scope;
pub use index::{ChunkPoint, Index, IndexConfig, IndexInfo, QdrantServerConfig, Rect};
pub use qdrant_edge::SparseVector;
pub use search::{
    FusionMethod, Hit, HitScores, Report, SearchConfig, SearchMode, SearchOptions, SearchRequest,
    Searcher,
};
pub use secret::Secret;
pub use sparse::Bm25;
pub use tokenizers::Tokenizer;
