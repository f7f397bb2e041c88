//! Stage 5, store: the document's previous points are swapped for the new ones in one step
//! (searches see the old version or the new one, never both or neither) and the index is
//! flushed, so that a document reported `ready` is on disk ([`store`]; with [`store_unflushed`]
//! the caller waits for the flush, which documents finished together share). Re-running the stage for the same
//! document (a retried job) leaves exactly one copy of its chunks.

use retrieval::index::{ChunkPoint, Ticket};
use retrieval::Index;
use uuid::Uuid;

use crate::chunk::Chunk;
use crate::embed::ChunkVectors;
use crate::error::Result;

/// Which document the chunks belong to.
#[derive(Debug, Clone)]
pub struct DocumentRef {
    pub kb_id: String,
    pub doc_id: String,
    pub doc_name: String,
    /// The format found when the file was accepted; detected again when unknown.
    pub format: Option<crate::Format>,
}

/// Replaces the document's points with `chunks` and flushes. Returns the chunk ids. Blocking.
pub fn store(
    index: &Index,
    doc: &DocumentRef,
    chunks: &[Chunk],
    vectors: Vec<ChunkVectors>,
) -> Result<Vec<Uuid>> {
    let (ids, ticket) = store_unflushed(index, doc, chunks, vectors)?;
    index.wait_durable(ticket, std::time::Duration::ZERO)?;
    Ok(ids)
}

/// [`store`] without the flush: the points are searchable at once and durable once
/// [`Index::wait_durable`] returns for the ticket (a bulk ingest shares flushes that way).
pub fn store_unflushed(
    index: &Index,
    doc: &DocumentRef,
    chunks: &[Chunk],
    vectors: Vec<ChunkVectors>,
) -> Result<(Vec<Uuid>, Ticket)> {
    let ids: Vec<Uuid> = chunks.iter().map(|_| Uuid::new_v4()).collect();
    let mut points = Vec::with_capacity(chunks.len());
    for ((chunk, v), id) in chunks.iter().zip(vectors).zip(&ids) {
        points.push(ChunkPoint {
            id: *id,
            kb_id: doc.kb_id.clone(),
            doc_id: doc.doc_id.clone(),
            doc_name: doc.doc_name.clone(),
            ordinal: chunk.ordinal,
            page: chunk.page,
            heading: chunk.heading_path(),
            text: chunk.text.clone(),
            boxes: chunk.boxes.clone(),
            context: chunk.context.clone(),
            dense: v.dense,
            sparse: v.sparse,
        });
    }
    let ticket = index.replace_document_unflushed(&doc.kb_id, &doc.doc_id, points)?;
    Ok((ids, ticket))
}
