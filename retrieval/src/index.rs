//! The vector index on Qdrant Edge, in process: one shard for all knowledge bases.
//!
//! Each chunk is one point with a named dense vector (`dense`, cosine) and a named sparse
//! vector (`bm25`, IDF modifier), and a payload with the knowledge-base id, document id and
//! name, chunk ordinal, page, heading path and text. `kb_id` and `doc_id` carry keyword
//! indexes.
//!
//! Durability and concurrency (see `shared/notes/dependencies.md`): a write is durable only
//! after `flush()`, and `flush()` panics when an update runs at the same moment. So every
//! update, delete, flush and optimize goes through one writer lock; searches read
//! concurrently.
//!
//! Replacing a document's chunks ([`Index::replace_document`]) is atomic for searchers: the
//! delete and the upsert happen under the write side of a visibility lock whose read side a
//! search holds ([`Index::view`]) across all its branches, so no search sees both versions
//! of a document, or neither.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use qdrant_edge::{
    CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams,
    FieldIndexOperations, Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStruct, QueryEnum, ScoredPoint, SearchRequest,
    SparseVector, UpdateOperation, Vector, VectorInternal, Vectors, WithPayloadInterface,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::filter::{self, Scope, Selection, DOC_ID, KB_ID};
use crate::qdrant_server::{QdrantServerConfig, Remote};

/// Name of the dense vector.
pub const DENSE: &str = "dense";
/// Name of the sparse BM25 vector.
pub const SPARSE: &str = "bm25";
const META_FILE: &str = "ragd-index.json";
/// Points are written in groups of this many.
const UPSERT_BATCH: usize = 256;

/// Where the index lives: the folder (which holds the embedded shard, and in any case the
/// model record), and optionally a Qdrant server that holds the points instead.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    pub path: PathBuf,
    pub server: Option<QdrantServerConfig>,
}

/// One chunk ready to be stored.
#[derive(Debug, Clone)]
pub struct ChunkPoint {
    pub id: Uuid,
    pub kb_id: String,
    pub doc_id: String,
    pub doc_name: String,
    pub ordinal: u32,
    pub page: Option<u32>,
    pub heading: String,
    pub text: String,
    pub dense: Vec<f32>,
    pub sparse: SparseVector,
}

/// The payload stored with every point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkPayload {
    pub kb_id: String,
    pub doc_id: String,
    pub doc_name: String,
    pub ordinal: u32,
    pub page: Option<u32>,
    pub heading: String,
    pub text: String,
}

/// One result of a single-vector search: the chunk id, its score and payload.
#[derive(Debug, Clone)]
pub struct ScoredChunk {
    pub id: Uuid,
    pub score: f32,
    pub payload: ChunkPayload,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexMeta {
    model: String,
    dim: usize,
}

/// Where the points are.
enum Store {
    /// Qdrant Edge, in process (the default).
    Edge(Box<EdgeShard>),
    /// A Qdrant server or cluster.
    Server(Box<Remote>),
}

/// The vector store plus its single writer.
pub struct Index {
    store: Store,
    writer: Mutex<()>,
    visibility: RwLock<()>,
    dim: usize,
    /// The index folder (`IndexConfig::path`).
    path: PathBuf,
    /// Update operations since the last [`Index::optimize`]. Opening counts as one: what an
    /// earlier process wrote may never have been optimized.
    changes: AtomicU64,
}

/// The shard's shape, as Qdrant Edge reports it (approximate counts).
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
        f.debug_struct("Index").field("dim", &self.dim).finish()
    }
}

/// A write prepared for one backend.
enum Prepared {
    Edge(Vec<PointOperations>),
    Server(Vec<(Uuid, Vec<f32>, SparseVector, ChunkPayload)>),
}

impl Prepared {
    fn operations(&self) -> usize {
        match self {
            Prepared::Edge(ops) => ops.len(),
            Prepared::Server(points) => points.len().div_ceil(UPSERT_BATCH),
        }
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
        let new = |store| Self {
            store,
            writer: Mutex::new(()),
            visibility: RwLock::new(()),
            dim,
            path: path.clone(),
            changes: AtomicU64::new(1),
        };
        if let Some(server) = &config.server {
            return Ok(new(Store::Server(Box::new(Remote::open(server, dim)?))));
        }
        let shard_dir = path.join("shard");
        let fresh = !shard_dir.join("edge_config.json").exists();
        let shard = if fresh {
            std::fs::create_dir_all(&shard_dir).map_err(|source| Error::Io {
                path: shard_dir.clone(),
                source,
            })?;
            EdgeShard::new(&shard_dir, edge_config(dim))?
        } else {
            EdgeShard::load(&shard_dir, None)?
        };
        if fresh {
            for field in [KB_ID, DOC_ID] {
                shard.update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: field
                            .parse()
                            .map_err(|_| Error::Index(format!("bad field {field}")))?,
                        field_schema: Some(PayloadFieldSchema::FieldType(
                            PayloadSchemaType::Keyword,
                        )),
                    }),
                ))?;
            }
            flush(&shard)?;
        }
        Ok(new(Store::Edge(Box::new(shard))))
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the points live on a Qdrant server.
    pub fn is_remote(&self) -> bool {
        matches!(self.store, Store::Server(_))
    }

    /// Runs `f` as the only writer.
    fn write<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&self.store)
    }

    /// A consistent view for one search: while it is held no document is half replaced.
    pub fn view(&self) -> RwLockReadGuard<'_, ()> {
        self.visibility.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Swaps a document's points for `points` in one step as searches see it, then flushes.
    pub fn replace_document(&self, doc_id: &str, points: Vec<ChunkPoint>) -> Result<()> {
        let selection = filter::document(doc_id);
        let prepared = self.prepare(points)?;
        self.write(|store| {
            {
                let _swap = self.visibility.write().unwrap_or_else(|p| p.into_inner());
                self.changed(1 + prepared.operations());
                delete_from(store, &selection)?;
                apply(store, prepared)?;
            }
            flush_store(store)
        })
    }

    /// Inserts or replaces points. Not durable until [`Index::flush`].
    pub fn upsert(&self, points: Vec<ChunkPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let prepared = self.prepare(points)?;
        self.write(|store| {
            self.changed(prepared.operations());
            apply(store, prepared)
        })
    }

    /// The backend's form of `points`: upsert operations in groups of [`UPSERT_BATCH`] for
    /// Qdrant Edge, the points themselves for a server.
    fn prepare(&self, points: Vec<ChunkPoint>) -> Result<Prepared> {
        if let Some(p) = points.iter().find(|p| p.dense.len() != self.dim) {
            return Err(Error::Invalid(format!(
                "dense vector has {} dims, index has {}",
                p.dense.len(),
                self.dim
            )));
        }
        let split = |p: ChunkPoint| {
            (
                p.id,
                p.dense,
                p.sparse,
                ChunkPayload {
                    kb_id: p.kb_id,
                    doc_id: p.doc_id,
                    doc_name: p.doc_name,
                    ordinal: p.ordinal,
                    page: p.page,
                    heading: p.heading,
                    text: p.text,
                },
            )
        };
        if let Store::Server(_) = self.store {
            return Ok(Prepared::Server(points.into_iter().map(split).collect()));
        }
        let mut persisted = Vec::with_capacity(points.len());
        for p in points {
            let (id, dense, sparse, payload) = split(p);
            let payload = serde_json::to_value(payload).map_err(|e| Error::Index(e.to_string()))?;
            let vectors = Vectors::new_named([
                (DENSE, Vector::new_dense(dense)),
                (SPARSE, Vector(VectorInternal::Sparse(sparse))),
            ]);
            persisted.push(PointStruct::new(PointId::Uuid(id), vectors, payload).into());
        }
        let mut operations = Vec::new();
        while !persisted.is_empty() {
            let rest = persisted.split_off(persisted.len().min(UPSERT_BATCH));
            operations.push(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(std::mem::replace(&mut persisted, rest)),
            ));
        }
        Ok(Prepared::Edge(operations))
    }

    /// Deletes every point of `selection`. Not durable until [`Index::flush`].
    pub fn delete(&self, selection: Selection) -> Result<()> {
        self.write(|store| {
            self.changed(1);
            delete_from(store, &selection)
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
        self.write(flush_store)
    }

    /// Runs Qdrant Edge's optimizers until they have nothing left to do: merges small
    /// segments, builds the HNSW index of large ones and vacuums deleted points. Blocking, and
    /// writes wait meanwhile; searches keep working. Returns whether anything changed. A
    /// Qdrant server optimizes by itself: nothing to do.
    pub fn optimize(&self) -> Result<bool> {
        self.write(|store| {
            self.changes.store(0, Ordering::Relaxed);
            match store {
                Store::Edge(shard) => {
                    let done = shard.optimize()?;
                    flush(shard)?;
                    Ok(done)
                }
                Store::Server(_) => Ok(false),
            }
        })
    }

    /// Runs `f` on the index folder with every write held back and all earlier writes
    /// flushed: the folder's files are a consistent index while `f` runs (to copy them for a
    /// backup). Searches go on; writers, flushes and optimization wait. Not for a Qdrant
    /// server, whose collection is backed up with Qdrant's snapshots.
    pub fn with_writes_paused<T>(&self, f: impl FnOnce(&Path) -> T) -> Result<T> {
        self.write(|store| match store {
            Store::Edge(shard) => {
                flush(shard)?;
                Ok(f(&self.path))
            }
            Store::Server(_) => Err(Error::Index(
                "the points are on a qdrant server: back its collection up with qdrant's snapshots"
                    .into(),
            )),
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
        let (segments, points, indexed_vectors) = match &self.store {
            Store::Edge(shard) => {
                let info = shard.info();
                (
                    info.segments_count,
                    info.points_count,
                    info.indexed_vectors_count,
                )
            }
            Store::Server(remote) => remote.info()?,
        };
        Ok(IndexInfo {
            segments,
            points,
            indexed_vectors,
            changes_since_optimize: self.changes_since_optimize(),
        })
    }

    /// Number of points matching `scope` (exact).
    pub fn count(&self, scope: &Scope) -> Result<usize> {
        match &self.store {
            Store::Edge(shard) => Ok(shard.count(qdrant_edge::CountRequest {
                filter: Some(scope.to_filter()?),
                exact: true,
            })?),
            Store::Server(remote) => remote.count(&scope.selection()?),
        }
    }

    /// Points per document id, over the whole index (exact).
    pub fn document_counts(&self) -> Result<std::collections::HashMap<String, usize>> {
        let points = self.info()?.points;
        match &self.store {
            Store::Edge(shard) => {
                let key = DOC_ID
                    .parse()
                    .map_err(|_| Error::Invalid("bad payload key".into()))?;
                let r = shard.facet(qdrant_edge::FacetRequest {
                    key,
                    limit: points.max(1),
                    filter: None,
                    exact: true,
                })?;
                Ok(r.hits
                    .into_iter()
                    .filter_map(|h| match h.value {
                        qdrant_edge::FacetValue::Keyword(s) => Some((s, h.count)),
                        _ => None,
                    })
                    .collect())
            }
            Store::Server(remote) => remote.document_counts(points as u64),
        }
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
        if let Store::Server(remote) = &self.store {
            let query = qdrant_client::qdrant::VectorInput::new_dense(vector);
            return remote.search(query, DENSE, &scope.selection()?, limit);
        }
        self.search(VectorInternal::Dense(vector), DENSE, scope, limit)
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
        if let Store::Server(remote) = &self.store {
            let query =
                qdrant_client::qdrant::VectorInput::new_sparse(vector.indices, vector.values);
            return remote.search(query, SPARSE, &scope.selection()?, limit);
        }
        self.search(VectorInternal::Sparse(vector), SPARSE, scope, limit)
    }

    /// Cosine similarity of `vector` with the given chunks (those in `scope`).
    pub fn dense_scores(
        &self,
        vector: Vec<f32>,
        scope: &Scope,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, f32>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let selection = scope.selection()?.with_ids(ids);
        let shard = match &self.store {
            Store::Edge(shard) => shard,
            Store::Server(remote) => return remote.scores(vector, &selection),
        };
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::Dense(vector),
                using: Some(DENSE.into()),
            }),
            filter: Some(selection.to_edge()?),
            params: None,
            limit: ids.len(),
            offset: 0,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
        };
        let mut out = std::collections::HashMap::new();
        for p in shard.search(request)? {
            if let PointId::Uuid(u) = p.id {
                out.insert(u, p.score);
            }
        }
        Ok(out)
    }

    fn search(
        &self,
        query: VectorInternal,
        using: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<ScoredChunk>> {
        let Store::Edge(shard) = &self.store else {
            return Err(Error::Index("not an embedded index".into()));
        };
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query,
                using: Some(using.into()),
            }),
            filter: Some(scope.to_filter()?),
            params: None,
            limit: limit.max(1),
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        };
        shard
            .search(request)?
            .into_iter()
            .map(scored_chunk)
            .collect()
    }
}

/// Deletes the points of `selection` (the caller is the writer).
fn delete_from(store: &Store, selection: &Selection) -> Result<()> {
    match store {
        Store::Edge(shard) => {
            shard.update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(selection.to_edge()?),
            ))?;
            Ok(())
        }
        Store::Server(remote) => remote.delete(selection),
    }
}

/// Applies prepared writes to the store (the caller is the writer).
fn apply(store: &Store, prepared: Prepared) -> Result<()> {
    match (store, prepared) {
        (Store::Edge(shard), Prepared::Edge(ops)) => {
            for op in ops {
                shard.update(UpdateOperation::PointOperation(op))?;
            }
            Ok(())
        }
        (Store::Server(remote), Prepared::Server(points)) => remote.upsert(points),
        _ => Err(Error::Index("a write prepared for another backend".into())),
    }
}

fn flush_store(store: &Store) -> Result<()> {
    match store {
        Store::Edge(shard) => flush(shard),
        Store::Server(_) => Ok(()),
    }
}

fn scored_chunk(p: ScoredPoint) -> Result<ScoredChunk> {
    let id = match p.id {
        PointId::Uuid(u) => u,
        PointId::NumId(n) => return Err(Error::Index(format!("unexpected numeric point id {n}"))),
    };
    let payload = p
        .payload
        .ok_or_else(|| Error::Index(format!("point {id} has no payload")))?;
    let payload: ChunkPayload = serde_json::from_value(Value::Object(payload.0))
        .map_err(|e| Error::Index(format!("point {id} has a bad payload: {e}")))?;
    Ok(ScoredChunk {
        id,
        score: p.score,
        payload,
    })
}

/// `EdgeShard::flush` panics instead of returning errors; turn a panic into an error.
fn flush(shard: &EdgeShard) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush()))
        .map_err(|_| Error::Index("flush failed".into()))
}

fn edge_config(dim: usize) -> EdgeConfig {
    EdgeConfig::builder()
        .vector(
            DENSE,
            EdgeVectorParams::builder(dim, Distance::Cosine).build(),
        )
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .build(),
        )
        .build()
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
        index.replace_document("doc", version(3)).unwrap();
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
            index.replace_document("doc", version(n)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = reader.join().unwrap();
        // Only whole versions: 3 or 5 chunks, never 0 (neither) or 8 (both).
        assert!(seen.iter().all(|n| *n == 3 || *n == 5), "{seen:?}");
        assert_eq!(index.count(&scope(&["kb"])).unwrap(), 3);
    }
}
