//! The ragd ingest pipeline. One module per stage, in order:
//!
//! 1. [`load`]: detect the format from magic bytes, then the extension;
//! 2. [`parse`]: PDF (lopdf, per page), Markdown and HTML (heading paths), plain text
//!    (encoding detection) into sections;
//! 3. [`chunk`]: sections into token-sized chunks (text-splitter, the model's tokenizer);
//! 4. [`embed`]: dense vectors (fastembed) in length-sorted batches and BM25 sparse vectors;
//! 5. [`store`]: replace the document's points in the index and flush.
//!
//! Everything here is synchronous and CPU-bound; the server runs [`Pipeline::run`] on
//! blocking threads with bounded concurrency.

pub mod chunk;
pub mod embed;
pub mod error;
pub mod load;
pub mod parse;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use retrieval::{Bm25, Embedder, Index};
use uuid::Uuid;

pub use chunk::{Chunk, ChunkConfig};
pub use error::{Error, Result};
pub use load::Format;
pub use parse::ParseLimits;
pub use store::DocumentRef;

/// Where a document is in the pipeline, for status reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Parsing and chunking started.
    Parsing,
    /// Embedding started, with the number of chunks.
    Embedding { chunks: usize },
    /// `done` chunks of the document are embedded.
    Embedded { done: usize },
}

/// A stored chunk, as the metadata store keeps it.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub id: Uuid,
    pub chunk: Chunk,
}

/// What ingesting one document produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub format: Format,
    pub pages: u32,
    pub chunks: Vec<StoredChunk>,
    pub tokens: usize,
    pub parse_time: Duration,
    pub embed_time: Duration,
    pub store_time: Duration,
}

/// The models and index one pipeline writes to.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub embedder: Arc<Embedder>,
    pub bm25: Arc<Bm25>,
    pub index: Arc<Index>,
    pub limits: ParseLimits,
}

impl Pipeline {
    /// Runs every stage on one document. Blocking.
    pub fn run(
        &self,
        doc: &DocumentRef,
        bytes: &[u8],
        chunking: ChunkConfig,
        mut events: impl FnMut(Event),
    ) -> Result<Outcome> {
        events(Event::Parsing);
        let started = Instant::now();
        let format = match doc.format {
            Some(format) => format,
            None => load::detect(bytes, &doc.doc_name)?,
        };
        let parsed = parse::parse(bytes, format, self.limits)?;
        let chunks = chunk::chunk(&parsed, self.embedder.tokenizer(), chunking)?;
        let parse_time = started.elapsed();

        events(Event::Embedding {
            chunks: chunks.len(),
        });
        let started = Instant::now();
        let vectors = embed::embed(&chunks, &self.embedder, &self.bm25, |done| {
            events(Event::Embedded { done })
        })?;
        let embed_time = started.elapsed();

        let started = Instant::now();
        let ids = store::store(&self.index, doc, &chunks, vectors)?;
        let store_time = started.elapsed();

        let tokens = chunks.iter().map(|c| c.tokens).sum();
        Ok(Outcome {
            format,
            pages: parsed.pages,
            chunks: ids
                .into_iter()
                .zip(chunks)
                .map(|(id, chunk)| StoredChunk { id, chunk })
                .collect(),
            tokens,
            parse_time,
            embed_time,
            store_time,
        })
    }
}
