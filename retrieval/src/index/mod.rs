//! The vector index: one store of chunk points for all knowledge bases, behind one writer.
//!
//! Two backends hold the points, one file each, both implementing [`backend::Backend`]:
//! 1. [`edge`]: Qdrant Edge in process, a shard under the index folder (the default);
//! 2. [`server`]: a Qdrant server or cluster over gRPC (`[index] qdrant_url`).
//!
//! Each chunk is one point with a named dense vector (`dense`, cosine), a named sparse
//! vector (`bm25`, IDF modifier) and a [`ChunkPayload`]; `kb_id` and `doc_id` carry keyword
//! indexes. The shared types live in [`backend`], which the backends and this wrapper
//! import, so no two of these files import each other.
//!
//! This wrapper adds what both backends need:
//! - the model record: the index remembers the embedding model it was built with and refuses
//!   another one;
//! - one writer: every upsert, delete, flush and optimize goes through one writer lock (a
//!   Qdrant Edge flush panics when an update runs at the same moment; see
//!   `shared/notes/dependencies.md`); searches read concurrently;
//! - atomic replacement: [`Index::replace_document`] deletes and upserts under the write side
//!   of a visibility lock whose read side a search holds ([`Index::view`]) across all its
//!   branches, so no search sees both versions of a document, or neither;
//! - the change counter read by the maintenance loop ([`Index::changes_since_optimize`]).

mod backend;
mod edge;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use qdrant_edge::SparseVector;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::filter::{self, Scope, Selection};
use backend::{Backend, Query, UPSERT_BATCH};

pub use backend::{ChunkPayload, ChunkPoint, Rect, ScoredChunk, DENSE, SPARSE};
pub use server::QdrantServerConfig;

const META_FILE: &str = "ragd-index.json";

/// Where the index lives: the folder (which holds the embedded shard, and in any case the
/// model record), and optionally a Qdrant server that holds the points instead.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    pub path: PathBuf,
    pub server: Option<QdrantServerConfig>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexMeta {
    model: String,
    dim: usize,
}

/// A write not yet durable: pass it to [`Index::wait_durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a write is not durable until waited for"]
pub struct Ticket(u64);

/// Documents one flush covers at most before it runs without waiting out its window.
const FLUSH_GROUP: u64 = 64;

/// The group commit's state.
#[derive(Debug, Default)]
struct Flushes {
    /// How many of the writes the last flush made durable.
    flushed: u64,
    /// A flush is running.
    flushing: bool,
    /// When the oldest write not yet flushed was made.
    oldest: Option<Instant>,
    /// Flushes made.
    count: u64,
}

/// The vector store plus its single writer.
pub struct Index {
    backend: Box<dyn Backend>,
    writer: Mutex<()>,
    /// Writes made so far (each document replaced counts one), counted under `writer`.
    written: AtomicU64,
    /// Which writes are durable, and whether a flush runs: documents replaced at about the
    /// same time share one flush ([`Index::flush_through`]).
    flushes: Mutex<Flushes>,
    /// Signalled when a flush ends.
    flushed_cv: Condvar,
    visibility: RwLock<()>,
    dim: usize,
    /// The index folder (`IndexConfig::path`).
    path: PathBuf,
    /// Update operations since the last [`Index::optimize`]. Opening counts as one: what an
    /// earlier process wrote may never have been optimized.
    changes: AtomicU64,
}

/// The index's shape, as the backend reports it (approximate counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    pub segments: usize,
    pub points: usize,
    /// Vectors in an HNSW index; the rest are searched by full scan.
    pub indexed_vectors: usize,
    pub changes_since_optimize: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dim", &self.dim)
            .field("remote", &self.backend.is_remote())
            .finish()
    }
}

impl Index {
    /// Opens the index: the Qdrant Edge shard under `config.path` (created on first use), or
    /// the collection on the Qdrant server of `config.server`. The index remembers the
    /// embedding model it was built with and refuses another one.
    pub fn open(config: &IndexConfig, model: &str, dim: usize) -> Result<Self> {
        let path = &config.path;
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let meta_path = path.join(META_FILE);
        match std::fs::read(&meta_path) {
            Ok(bytes) => {
                let meta: IndexMeta = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Index(format!("bad {META_FILE}: {e}")))?;
                if meta.model != model || meta.dim != dim {
                    return Err(Error::ModelMismatch {
                        stored: meta.model,
                        stored_dim: meta.dim,
                        configured: model.to_string(),
                        configured_dim: dim,
                    });
                }
            }
            Err(_) => {
                let meta = serde_json::to_vec(&IndexMeta {
                    model: model.to_string(),
                    dim,
                })
                .map_err(|e| Error::Index(e.to_string()))?;
                write_atomically(&meta_path, &meta)?;
            }
        }
        let backend: Box<dyn Backend> = match &config.server {
            Some(server) => Box::new(server::Remote::open(server, dim)?),
            None => Box::new(edge::Edge::open(&path.join("shard"), dim)?),
        };
        Ok(Self {
            backend,
            writer: Mutex::new(()),
            written: AtomicU64::new(0),
            flushes: Mutex::new(Flushes::default()),
            flushed_cv: Condvar::new(),
            visibility: RwLock::new(()),
            dim,
            path: path.clone(),
            changes: AtomicU64::new(1),
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the points live on a Qdrant server.
    pub fn is_remote(&self) -> bool {
        self.backend.is_remote()
    }

    /// Runs `f` as the only writer.
    fn write<T>(&self, f: impl FnOnce(&dyn Backend) -> Result<T>) -> Result<T> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(self.backend.as_ref())
    }

    /// A consistent view for one search: while it is held no document is half replaced.
    pub fn view(&self) -> RwLockReadGuard<'_, ()> {
        self.visibility.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Swaps a document's points under the knowledge-base key `kb_id` for `points` in one
    /// step as searches see it, then flushes. Its points under other keys (another generation
    /// of the knowledge base, being re-indexed) stay.
    pub fn replace_document(
        &self,
        kb_id: &str,
        doc_id: &str,
        points: Vec<ChunkPoint>,
    ) -> Result<()> {
        let ticket = self.replace_document_unflushed(kb_id, doc_id, points)?;
        self.wait_durable(ticket, Duration::ZERO)
    }

    /// [`Index::replace_document`] without the flush: searches see the new version at once,
    /// and it is durable once [`Index::wait_durable`] returns for the ticket.
    pub fn replace_document_unflushed(
        &self,
        kb_id: &str,
        doc_id: &str,
        points: Vec<ChunkPoint>,
    ) -> Result<Ticket> {
        let selection = filter::document_of(kb_id, doc_id);
        let operations = points.len().div_ceil(UPSERT_BATCH);
        let upsert = self.prepare(points)?;
        self.write(|backend| {
            let _swap = self.visibility.write().unwrap_or_else(|p| p.into_inner());
            self.changed(1 + operations);
            backend.delete(&selection)?;
            upsert()?;
            let mine = self.written.fetch_add(1, Ordering::SeqCst) + 1;
            let mut flushes = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
            flushes.oldest.get_or_insert_with(Instant::now);
            Ok(Ticket(mine))
        })
    }

    /// Returns once the write of `ticket` is durable. Group commit: a flush covers every
    /// write made before it started, and waits, before it starts, until the oldest write it
    /// would cover is `window` old (or [`FLUSH_GROUP`] writes wait), so that documents
    /// finished within a window share one flush. `Duration::ZERO`: flush now.
    pub fn wait_durable(&self, ticket: Ticket, window: Duration) -> Result<()> {
        // A server has applied each write before answering: nothing to wait for.
        let window = if self.is_remote() {
            Duration::ZERO
        } else {
            window
        };
        self.flush_through(ticket.0, window)
    }

    /// Returns once write number `mine` is durable: a flush that started after it was made
    /// (another document's) covers it; otherwise this call flushes, for every write made so
    /// far, once the oldest unflushed write is `window` old.
    fn flush_through(&self, mine: u64, window: Duration) -> Result<()> {
        let lock = || self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        let mut flushes = lock();
        loop {
            if flushes.flushed >= mine {
                return Ok(());
            }
            if flushes.flushing {
                flushes = self
                    .flushed_cv
                    .wait(flushes)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let waiting = self.written.load(Ordering::SeqCst) - flushes.flushed;
            let due = flushes.oldest.map_or_else(Instant::now, |t| t + window);
            let now = Instant::now();
            if waiting < FLUSH_GROUP && now < due {
                flushes = self
                    .flushed_cv
                    .wait_timeout(flushes, due - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
            flushes.flushing = true;
            drop(flushes);
            let before = Instant::now();
            let flushed = self.write(|backend| {
                let upto = self.written.load(Ordering::SeqCst);
                backend.flush()?;
                Ok(upto)
            });
            flushes = lock();
            flushes.flushing = false;
            if let Ok(upto) = flushed {
                tracing::debug!(
                    documents = upto - flushes.flushed,
                    ms = before.elapsed().as_millis() as u64,
                    "index flushed"
                );
                flushes.flushed = upto;
                flushes.count += 1;
                // Writes made while it ran are the oldest unflushed ones now.
                flushes.oldest = (self.written.load(Ordering::SeqCst) > upto).then_some(before);
            }
            drop(flushes);
            self.flushed_cv.notify_all();
            return flushed.map(drop);
        }
    }

    /// Inserts or replaces points. Not durable until [`Index::flush`].
    pub fn upsert(&self, points: Vec<ChunkPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let operations = points.len().div_ceil(UPSERT_BATCH);
        let upsert = self.prepare(points)?;
        self.write(|_| {
            self.changed(operations);
            upsert()
        })
    }

    /// Checks the points' dimension and converts them for the backend, before taking the
    /// writer lock.
    fn prepare(&self, points: Vec<ChunkPoint>) -> Result<backend::Upsert<'_>> {
        if let Some(p) = points.iter().find(|p| p.dense.len() != self.dim) {
            return Err(Error::Invalid(format!(
                "dense vector has {} dims, index has {}",
                p.dense.len(),
                self.dim
            )));
        }
        self.backend.prepare(points)
    }

    /// Deletes every point of `selection`. Not durable until [`Index::flush`].
    pub fn delete(&self, selection: Selection) -> Result<()> {
        self.write(|backend| {
            self.changed(1);
            backend.delete(&selection)
        })
    }

    /// Deletes one document's points and flushes.
    pub fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.delete(filter::document(doc_id))?;
        self.flush()
    }

    /// Deletes one knowledge base's points and flushes.
    pub fn delete_knowledge_base(&self, kb_id: &str) -> Result<()> {
        self.delete(filter::knowledge_base(kb_id))?;
        self.flush()
    }

    /// Makes every write so far durable (a server has applied each write before answering).
    pub fn flush(&self) -> Result<()> {
        self.flush_through(u64::MAX, Duration::ZERO)
    }

    /// Runs Qdrant Edge's optimizers until they have nothing left to do: merges small
    /// segments, builds the HNSW index of large ones and vacuums deleted points. Blocking, and
    /// writes wait meanwhile; searches keep working. Returns whether anything changed. A
    /// Qdrant server optimizes by itself: nothing to do.
    pub fn optimize(&self) -> Result<bool> {
        self.write(|backend| {
            self.changes.store(0, Ordering::Relaxed);
            backend.optimize()
        })
    }

    /// Runs `f` on the index folder with every write held back and all earlier writes
    /// flushed: the folder's files are a consistent index while `f` runs (to copy them for a
    /// backup). Searches go on; writers, flushes and optimization wait. Not for a Qdrant
    /// server, whose collection is backed up with Qdrant's snapshots.
    pub fn with_writes_paused<T>(&self, f: impl FnOnce(&Path) -> T) -> Result<T> {
        self.write(|backend| {
            backend.settle()?;
            Ok(f(&self.path))
        })
    }

    /// Update operations since the last optimization (a counter read; never blocks).
    pub fn changes_since_optimize(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    fn changed(&self, operations: usize) {
        self.changes.fetch_add(operations as u64, Ordering::Relaxed);
    }

    /// Segments, points and indexed vectors, and the updates since the last optimization.
    pub fn info(&self) -> Result<IndexInfo> {
        let shape = self.backend.shape()?;
        Ok(IndexInfo {
            segments: shape.segments,
            points: shape.points,
            indexed_vectors: shape.indexed_vectors,
            changes_since_optimize: self.changes_since_optimize(),
        })
    }

    /// Number of points matching `scope` (exact).
    pub fn count(&self, scope: &Scope) -> Result<usize> {
        self.backend.count(&scope.selection()?)
    }

    /// Points per document id, over the whole index (exact): what the start-up
    /// reconciliation compares with the metadata.
    pub fn document_counts(&self) -> Result<std::collections::HashMap<String, usize>> {
        let points = self.backend.shape()?.points;
        self.backend.document_counts(points, None)
    }

    /// Points per document id among the points of `selection` (exact).
    pub fn document_counts_in(
        &self,
        selection: &Selection,
    ) -> Result<std::collections::HashMap<String, usize>> {
        let points = self.backend.shape()?.points;
        self.backend.document_counts(points, Some(selection))
    }

    /// Dense nearest neighbours by cosine similarity.
    pub fn search_dense(
        &self,
        vector: Vec<f32>,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<ScoredChunk>> {
        if vector.len() != self.dim {
            return Err(Error::Invalid(format!(
                "query vector has {} dims, index has {}",
                vector.len(),
                self.dim
            )));
        }
        self.backend
            .search(Query::Dense(vector), &scope.selection()?, limit)
    }

    /// Sparse BM25 nearest neighbours (dot product with IDF applied).
    pub fn search_sparse(
        &self,
        vector: SparseVector,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<ScoredChunk>> {
        if vector.indices.is_empty() {
            return Ok(Vec::new());
        }
        self.backend
            .search(Query::Sparse(vector), &scope.selection()?, limit)
    }

    /// Cosine similarity of `vector` with the given chunks (those in `scope`).
    pub fn dense_scores(
        &self,
        vector: Vec<f32>,
        scope: &Scope,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, f32>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let selection = scope.selection()?.with_ids(ids);
        self.backend.dense_scores(vector, &selection, ids.len())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Bm25;

    fn point(
        bm25: &Bm25,
        kb: &str,
        doc: &str,
        ordinal: u32,
        text: &str,
        dense: Vec<f32>,
    ) -> ChunkPoint {
        ChunkPoint {
            id: Uuid::new_v4(),
            kb_id: kb.into(),
            doc_id: doc.into(),
            doc_name: format!("{doc}.txt"),
            ordinal,
            page: Some(ordinal + 1),
            heading: String::new(),
            text: text.into(),
            boxes: Vec::new(),
            context: None,
            dense,
            sparse: bm25.embed_document(text),
        }
    }

    fn scope(kbs: &[&str]) -> Scope {
        Scope {
            knowledge_bases: kbs.iter().map(|s| s.to_string()).collect(),
            documents: None,
        }
    }

    #[test]
    fn optimize_counts_changes_and_keeps_results() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IndexConfig {
            path: dir.path().join("vectors"),
            server: None,
        };
        let bm25 = Bm25::new().unwrap();
        let index = Index::open(&cfg, "test-model", 3).unwrap();
        assert_eq!(
            index.info().unwrap().changes_since_optimize,
            1,
            "opening counts as a change"
        );
        // Enough points, half of them deleted, for the vacuum optimizer to have work.
        let points: Vec<ChunkPoint> = (0..1200)
            .map(|i| {
                let doc = if i % 2 == 0 { "keep" } else { "drop" };
                let x = (i as f32) / 1200.0;
                point(&bm25, "kb", doc, i, &format!("note {i}"), vec![1.0, x, 0.5])
            })
            .collect();
        index.upsert(points).unwrap();
        index.delete_document("drop").unwrap();
        let before = index.info().unwrap();
        assert!(before.changes_since_optimize >= 3, "{before:?}");
        index.optimize().unwrap();
        let after = index.info().unwrap();
        assert_eq!(after.changes_since_optimize, 0, "{after:?}");
        assert_eq!(index.count(&scope(&["kb"])).unwrap(), 600);
        let hits = index
            .search_dense(vec![1.0, 0.0, 0.5], &scope(&["kb"]), 5)
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert!(hits.iter().all(|h| h.payload.doc_id == "keep"));
    }

    #[test]
    fn wrong_dimension_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IndexConfig {
            path: dir.path().to_path_buf(),
            server: None,
        };
        let bm25 = Bm25::new().unwrap();
        let index = Index::open(&cfg, "m", 3).unwrap();
        let err = index
            .upsert(vec![point(&bm25, "kb", "d", 0, "x", vec![1.0, 0.0])])
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
    }

    #[test]
    fn replacing_a_document_is_atomic_for_searchers() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IndexConfig {
            path: dir.path().join("vectors"),
            server: None,
        };
        let bm25 = Bm25::new().unwrap();
        let index = std::sync::Arc::new(Index::open(&cfg, "test-model", 3).unwrap());
        let version = |n: u32| -> Vec<ChunkPoint> {
            (0..n)
                .map(|o| {
                    point(
                        &bm25,
                        "kb",
                        "doc",
                        o,
                        &format!("version {n} part {o}"),
                        vec![1.0, 0.0, 0.0],
                    )
                })
                .collect()
        };
        index.replace_document("kb", "doc", version(3)).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let index = index.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _view = index.view();
                    let n = index.count(&scope(&["kb"])).unwrap();
                    let hits = index
                        .search_dense(vec![1.0, 0.0, 0.0], &scope(&["kb"]), 20)
                        .unwrap();
                    assert_eq!(hits.len(), n, "count and search saw different versions");
                    seen.insert(n);
                }
                seen
            })
        };
        for round in 0..60 {
            let n = if round % 2 == 0 { 5 } else { 3 };
            index.replace_document("kb", "doc", version(n)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = reader.join().unwrap();
        // Only whole versions: 3 or 5 chunks, never 0 (neither) or 8 (both).
        assert!(seen.iter().all(|n| *n == 3 || *n == 5), "{seen:?}");
        assert_eq!(index.count(&scope(&["kb"])).unwrap(), 3);
    }

    /// 8 threads store `docs` documents each (`t{t}d{d}`, one point) with `store`, on a new
    /// index under `dir`; returns the index, and its settings to reopen it.
    fn stored_from_threads(
        dir: &Path,
        docs: usize,
        store: fn(&Index, &str, ChunkPoint),
    ) -> (IndexConfig, std::sync::Arc<Index>) {
        let cfg = IndexConfig {
            path: dir.join("vectors"),
            server: None,
        };
        let bm25 = std::sync::Arc::new(Bm25::new().unwrap());
        let index = std::sync::Arc::new(Index::open(&cfg, "test-model", 3).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (index, bm25) = (index.clone(), bm25.clone());
                std::thread::spawn(move || {
                    for d in 0..docs {
                        let doc = format!("t{t}d{d}");
                        store(
                            &index,
                            &doc,
                            point(&bm25, "kb", &doc, 0, "text", vec![1.0, 0.0, 0.0]),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        (cfg, index)
    }

    /// Documents replaced from several threads at once share flushes, and each call returns
    /// only once a flush made after its write is done: all are there after a reopen. (The
    /// backend panics if a flush meets a write: none does.)
    #[test]
    fn documents_replaced_together_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, index) = stored_from_threads(dir.path(), 10, |index, doc, p| {
            index.replace_document("kb", doc, vec![p]).unwrap();
        });
        assert_eq!(index.written.load(Ordering::SeqCst), 80);
        assert_eq!(
            index.flushes.lock().unwrap().flushed,
            80,
            "every write is covered"
        );
        drop(index);
        let index = Index::open(&cfg, "test-model", 3).unwrap();
        assert_eq!(index.count(&scope(&["kb"])).unwrap(), 80);
    }

    /// Documents stored within a window share a flush: many threads' writes, few flushes, and
    /// each waiter returns only once its write is durable (all there after a reopen).
    #[test]
    fn writes_within_the_window_share_one_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, index) = stored_from_threads(dir.path(), 5, |index, doc, p| {
            let ticket = index
                .replace_document_unflushed("kb", doc, vec![p])
                .unwrap();
            index
                .wait_durable(ticket, Duration::from_millis(300))
                .unwrap();
            assert!(index.flushes.lock().unwrap().flushed >= ticket.0);
        });
        let flushes = index.flushes.lock().unwrap().count;
        assert!(
            flushes <= 10,
            "40 documents in 8 threads took {flushes} flushes"
        );
        // Without a window each waiter flushes unless a flush already covers it.
        let bm25 = Bm25::new().unwrap();
        let p = point(&bm25, "kb", "alone", 0, "text", vec![1.0, 0.0, 0.0]);
        index.replace_document("kb", "alone", vec![p]).unwrap();
        assert_eq!(index.flushes.lock().unwrap().count, flushes + 1);
        drop(index);
        let index = Index::open(&cfg, "test-model", 3).unwrap();
        assert_eq!(index.count(&scope(&["kb"])).unwrap(), 41);
    }
}
