//! What an index backend is: the one trait both backends implement ([`super::edge`] for
//! Qdrant Edge, [`super::server`] for a Qdrant server) and the types they share with the
//! wrapper ([`super::Index`]): the point and its payload, the vector names, a query and a
//! scored result. Backends and wrapper import this module; it imports neither.

use std::collections::HashMap;

use qdrant_edge::SparseVector;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::filter::Selection;

/// Name of the dense vector.
pub const DENSE: &str = "dense";
/// Name of the sparse BM25 vector.
pub const SPARSE: &str = "bm25";
/// Points are written in groups of this many.
pub const UPSERT_BATCH: usize = 256;

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
    /// Where the text lies on its page; empty where unknown.
    pub boxes: Vec<Rect>,
    /// What an answer's prompt receives instead of `text`; `None`: the text itself.
    pub context: Option<String>,
    pub dense: Vec<f32>,
    pub sparse: SparseVector,
}

impl ChunkPoint {
    /// The point's id, vectors and payload.
    pub fn into_parts(self) -> (Uuid, Vec<f32>, SparseVector, ChunkPayload) {
        (
            self.id,
            self.dense,
            self.sparse,
            ChunkPayload {
                kb_id: self.kb_id,
                doc_id: self.doc_id,
                doc_name: self.doc_name,
                ordinal: self.ordinal,
                page: self.page,
                heading: self.heading,
                text: self.text,
                boxes: self.boxes,
                context: self.context,
            },
        )
    }
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
    /// Where the text lies on its page (PDFs and images), one rectangle per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boxes: Vec<Rect>,
    /// The enclosing section of a small chunk (the `parent_child` template), which an
    /// answer's prompt receives instead of the chunk's own text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A rectangle on a page, in fractions of the page's width and height from its top-left
/// corner, so it fits the page drawn at any size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Rect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Rect {
    /// The smallest rectangle holding both.
    pub fn union(self, other: Rect) -> Rect {
        Rect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    /// Rounded to four decimals (a tenth of a point on an A4 page), clamped to the page.
    pub fn rounded(self) -> Rect {
        let r = |v: f32| (v.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0;
        Rect {
            x0: r(self.x0),
            y0: r(self.y0),
            x1: r(self.x1),
            y1: r(self.y1),
        }
    }
}

/// One result of a single-vector search: the chunk id, its score and payload.
#[derive(Debug, Clone)]
pub struct ScoredChunk {
    pub id: Uuid,
    pub score: f32,
    pub payload: ChunkPayload,
}

/// A nearest-neighbour query on one of the two named vectors.
#[derive(Debug, Clone)]
pub(crate) enum Query {
    /// On [`DENSE`], by cosine similarity.
    Dense(Vec<f32>),
    /// On [`SPARSE`], by dot product with IDF applied.
    Sparse(SparseVector),
}

/// Segments, points and vectors in an HNSW index, as the backend reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub segments: usize,
    pub points: usize,
    pub indexed_vectors: usize,
}

/// An upsert prepared outside the writer lock (vectors and payloads converted), run under it.
pub(crate) type Upsert<'a> = Box<dyn FnOnce() -> Result<()> + 'a>;

/// Where the points are. Writes ([`Backend::prepare`]'s upsert, `delete`, `flush`,
/// `optimize`, `settle`) are only made by the wrapper's single writer; reads may run at any
/// time, concurrently.
pub(crate) trait Backend: Send + Sync {
    /// Whether the points live outside the index folder (on a Qdrant server).
    fn is_remote(&self) -> bool;

    /// Converts `points` (their dense vectors already checked) into an upsert that writes them
    /// in groups of [`UPSERT_BATCH`]. Not durable until [`Backend::flush`].
    fn prepare(&self, points: Vec<ChunkPoint>) -> Result<Upsert<'_>>;

    /// Deletes every point of `selection`. Not durable until [`Backend::flush`].
    fn delete(&self, selection: &Selection) -> Result<()>;

    /// Makes every write so far durable.
    fn flush(&self) -> Result<()>;

    /// Merges segments, builds HNSW indexes and vacuums, then flushes; whether anything
    /// changed.
    fn optimize(&self) -> Result<bool>;

    /// Makes the index folder a consistent copy of the index (for a backup), or says why it
    /// cannot be one.
    fn settle(&self) -> Result<()>;

    fn shape(&self) -> Result<Shape>;

    /// Number of points of `selection` (exact).
    fn count(&self, selection: &Selection) -> Result<usize>;

    /// Points per document id over the whole index, or among the points of `selection`
    /// (exact); `limit` bounds the documents.
    fn document_counts(
        &self,
        limit: usize,
        selection: Option<&Selection>,
    ) -> Result<HashMap<String, usize>>;

    /// Nearest neighbours of `query` among the points of `selection`, with payloads.
    fn search(&self, query: Query, selection: &Selection, limit: usize)
        -> Result<Vec<ScoredChunk>>;

    /// Cosine similarity of `vector` with at most `limit` points of `selection` (no payloads).
    fn dense_scores(
        &self,
        vector: Vec<f32>,
        selection: &Selection,
        limit: usize,
    ) -> Result<HashMap<Uuid, f32>>;
}
