//! The ragd ingest pipeline. One module per stage, in order:
//!
//! 1. [`load`]: detect the format from magic bytes, then the extension;
//! 2. [`parse`]: PDF (lopdf, per page), Office, EPUB, Markdown and HTML (heading paths),
//!    CSV, plain text (encoding detection) into sections, tables kept as tables; scanned
//!    pages and images through OCR ([`parse::ocr`]), with the boxes of their words;
//! 3. [`chunk`]: sections into token-sized chunks (text-splitter, the model's tokenizer) by
//!    the knowledge base's template (general, qa, table, parent_child), each with its line
//!    boxes;
//! 4. [`embed`]: dense vectors (the pipeline's [`retrieval::Embed`]: fastembed when serving)
//!    in length-sorted batches, shared by the documents in flight ([`batch`]), and BM25
//!    sparse vectors;
//! 5. [`store`]: replace the document's points in the index and flush.
//!
//! Everything here is synchronous and CPU-bound; the server runs [`Pipeline::run`] on
//! blocking threads with bounded concurrency.

pub mod batch;
pub mod chunk;
pub mod embed;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod parse;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use retrieval::{Bm25, Embed, Index};
use uuid::Uuid;

pub use batch::Batcher;
pub use chunk::{Chunk, ChunkConfig, Template};
pub use embed::VectorCache;
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
    /// Chunks the model embedded; the others' vectors came from the cache.
    pub embedded: usize,
    pub parse_time: Duration,
    pub embed_time: Duration,
    pub store_time: Duration,
    /// With [`Pipeline::defer_flush`]: the write to wait for
    /// ([`retrieval::Index::wait_durable`]) before the document counts as stored.
    pub unflushed: Option<retrieval::index::Ticket>,
}

/// The models and index one pipeline writes to.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The dense model: the fastembed `retrieval::Embedder` when serving, or any
    /// [`Embed`] (a `retrieval::embed::HashEmbed` in tests). Chunks are sized in its tokens.
    pub embedder: Arc<dyn Embed>,
    pub bm25: Arc<Bm25>,
    pub index: Arc<Index>,
    pub limits: ParseLimits,
    /// Vectors computed before, so unchanged chunks are not embedded again.
    pub cache: Option<Arc<dyn embed::VectorCache>>,
    /// Set to stop this run between stages and embedding batches ([`Error::Cancelled`]).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Where documents are parsed; `None`: in this process.
    pub parser: Option<Arc<dyn parse::Parser>>,
    /// The model's shared batches, across the documents in flight; `None`: each document
    /// embeds in batches of its own.
    pub batcher: Option<Arc<Batcher>>,
    /// Leave the index flush to the caller ([`Outcome::unflushed`]), which can share it with
    /// other documents; otherwise a run returns once its points are durable.
    pub defer_flush: bool,
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
        let stop = || {
            self.cancel
                .as_ref()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        };
        let parsed = match &self.parser {
            Some(parser) => parser.parse(bytes, format, &self.limits)?,
            None => parse::parse(bytes, format, &self.limits)?,
        };
        if stop() {
            return Err(Error::Cancelled);
        }
        let chunks = chunk::chunk(&parsed, self.embedder.tokenizer(), chunking)?;
        let parse_time = started.elapsed();

        events(Event::Embedding {
            chunks: chunks.len(),
        });
        let started = Instant::now();
        let (vectors, embedded) = embed::embed_shared(
            &chunks,
            &self.embedder,
            self.batcher.as_deref(),
            &self.bm25,
            self.cache.as_deref(),
            &mut |done| events(Event::Embedded { done }),
            &stop,
        )?;
        if stop() {
            return Err(Error::Cancelled);
        }
        let embed_time = started.elapsed();

        let started = Instant::now();
        let (ids, unflushed) = if self.defer_flush {
            let (ids, ticket) = store::store_unflushed(&self.index, doc, &chunks, vectors)?;
            (ids, Some(ticket))
        } else {
            (store::store(&self.index, doc, &chunks, vectors)?, None)
        };
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
            embedded,
            parse_time,
            embed_time,
            store_time,
            unflushed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrieval::{HashEmbed, IndexConfig, Scope};

    #[test]
    fn a_cancelled_run_stops_between_batches_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let embedder = Arc::new(HashEmbed::new(32));
        let config = IndexConfig {
            path: dir.path().join("vectors"),
            server: None,
        };
        let index = Arc::new(Index::open(&config, embedder.name(), embedder.dim()).unwrap());
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pipeline = Pipeline {
            parser: None,
            batcher: None,
            defer_flush: false,
            cancel: Some(flag.clone()),
            embedder,
            bm25: Arc::new(Bm25::new().unwrap()),
            index: index.clone(),
            limits: ParseLimits::default(),
            cache: None,
        };
        let doc = DocumentRef {
            kb_id: "kb".into(),
            doc_id: "d1".into(),
            doc_name: "long.md".into(),
            format: None,
        };
        let text: String = (0..200)
            .map(|i| format!("# Part {i}\n\nParagraph number {i} about harbours and tides.\n\n"))
            .collect();
        // The flag is set after the first batch: the run stops at the next one.
        let result = pipeline.run(&doc, text.as_bytes(), ChunkConfig::default(), |e| {
            if matches!(e, Event::Embedded { .. }) {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
        let scope = Scope {
            knowledge_bases: vec!["kb".into()],
            documents: None,
        };
        assert_eq!(index.count(&scope).unwrap(), 0);
    }

    #[test]
    fn a_pipeline_on_the_hash_embedder_stores_searchable_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let embedder = Arc::new(HashEmbed::new(32));
        let config = IndexConfig {
            path: dir.path().join("vectors"),
            server: None,
        };
        let index = Arc::new(Index::open(&config, embedder.name(), embedder.dim()).unwrap());
        let pipeline = Pipeline {
            parser: None,
            batcher: None,
            defer_flush: false,
            cancel: None,
            embedder,
            bm25: Arc::new(Bm25::new().unwrap()),
            index: index.clone(),
            limits: ParseLimits::default(),
            cache: None,
        };
        let doc = DocumentRef {
            kb_id: "kb".into(),
            doc_id: "d1".into(),
            doc_name: "notes.md".into(),
            format: None,
        };
        let text = "# Bread\n\nSourdough needs a starter.\n\n\
                    # Rust\n\nThe borrow checker rejects two mutable references.\n";
        let mut events = Vec::new();
        let outcome = pipeline
            .run(&doc, text.as_bytes(), ChunkConfig::default(), |e| {
                events.push(e)
            })
            .unwrap();
        assert_eq!(outcome.format, Format::Markdown);
        assert_eq!(
            events,
            [
                Event::Parsing,
                Event::Embedding { chunks: 2 },
                Event::Embedded { done: 2 }
            ]
        );
        // Sized by the embedder's tokenizer: "rust" (the heading), 7 words and a period.
        let rust = &outcome.chunks[1].chunk;
        assert_eq!((rust.heading_path().as_str(), rust.tokens), ("Rust", 9));
        let scope = Scope {
            knowledge_bases: vec!["kb".into()],
            documents: None,
        };
        assert_eq!(index.count(&scope).unwrap(), 2);
        let query = HashEmbed::new(32).vector("borrow checker");
        let hits = index.search_dense(query, &scope, 1).unwrap();
        assert_eq!(hits[0].id, outcome.chunks[1].id);
    }
}
