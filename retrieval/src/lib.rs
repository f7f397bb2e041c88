//! The ragd index: everything that turns text into vectors and vectors into ranked chunks.
//!
//! Stage order of a search:
//! 1. [`embed`]: the query becomes a dense vector (fastembed) and a sparse BM25 vector ([`sparse`]);
//! 2. [`index`]: dense ∥ sparse nearest-neighbour searches in Qdrant Edge, each restricted by
//!    the knowledge-base and document [`filter`]s;
//! 3. [`fusion`]: the two ranked lists are fused with reciprocal rank fusion;
//! 4. [`search`]: the fused hits are cut to `top_k` and returned with every score.
//!
//! The ingest crate writes through the same [`index::Index`] (one writer) and the same
//! [`embed::Embedder`], so indexing and querying always agree on models and tokenizers.

pub mod embed;
pub mod error;
pub mod filter;
pub mod fusion;
pub mod index;
pub mod search;
pub mod sparse;

pub use embed::{Embedder, EmbeddingConfig};
pub use error::{Error, Result};
pub use filter::Scope;
pub use index::{ChunkPoint, Index, IndexConfig};
pub use qdrant_edge::SparseVector;
pub use search::{Hit, HitScores, SearchConfig, SearchRequest, Searcher};
pub use sparse::Bm25;
