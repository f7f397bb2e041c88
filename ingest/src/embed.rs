//! Stage 4, embed: each chunk gets a dense vector (the [`Embed`] model's `embed_batch`; for
//! fastembed, its ingest instance) and a sparse BM25 vector. Chunks are sorted by length and
//! embedded in small batches, so padding is minimal and memory stays flat (a batch of 256
//! long texts peaked at 11 GB; 8 to 32 stays under 2 GB at the same speed).

use retrieval::SparseVector;
use retrieval::{Bm25, Embed};

use crate::chunk::Chunk;
use crate::error::Result;

/// The vectors of one chunk.
#[derive(Debug, Clone)]
pub struct ChunkVectors {
    pub dense: Vec<f32>,
    pub sparse: SparseVector,
}

/// Groups item indices into batches of at most `batch` items, in increasing `lens` order.
pub fn length_sorted_batches(lens: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| lens[i]);
    order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}

/// Embeds every chunk; `progress(done)` is called after each batch. Blocking.
pub fn embed(
    chunks: &[Chunk],
    embedder: &dyn Embed,
    bm25: &Bm25,
    mut progress: impl FnMut(usize),
) -> Result<Vec<ChunkVectors>> {
    let lens: Vec<usize> = chunks.iter().map(|c| c.tokens).collect();
    let mut dense: Vec<Option<Vec<f32>>> = vec![None; chunks.len()];
    let mut done = 0;
    for batch in length_sorted_batches(&lens, embedder.batch_size()) {
        let texts: Vec<&str> = batch
            .iter()
            .map(|&i| chunks[i].embed_text.as_str())
            .collect();
        let vectors = embedder.embed_batch(&texts)?;
        for (&i, v) in batch.iter().zip(vectors) {
            dense[i] = Some(v);
        }
        done += batch.len();
        progress(done);
    }
    Ok(chunks
        .iter()
        .zip(dense)
        .map(|(c, d)| ChunkVectors {
            dense: d.unwrap_or_default(),
            sparse: bm25.embed_document(&c.embed_text),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_length_sorted_and_bounded() {
        let lens = [50, 10, 30, 20, 40];
        let batches = length_sorted_batches(&lens, 2);
        assert_eq!(batches, vec![vec![1, 3], vec![2, 4], vec![0]]);
        let all: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(all, lens.len());
    }

    #[test]
    fn empty_input_has_no_batches() {
        assert!(length_sorted_batches(&[], 8).is_empty());
        assert_eq!(length_sorted_batches(&[1], 0), vec![vec![0]]);
    }
}
