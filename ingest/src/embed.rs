//! Stage 4, embed: each chunk gets a dense vector (the [`Embed`] model's `embed_batch`; for
//! fastembed, its ingest instance) and a sparse BM25 vector. Chunks are sorted by length and
//! embedded in small batches, so padding is minimal and memory stays flat (a batch of 256
//! long texts peaked at 11 GB; 8 to 32 stays under 2 GB at the same speed).
//!
//! With a [`VectorCache`], a chunk whose text the same model embedded before (keyed by the
//! model's name and the digest of the normalized text, [`cache_key`]) takes its vector from
//! the cache: re-parsing a document, or syncing a file where a few chunks changed, embeds only
//! the chunks that are new.

use retrieval::SparseVector;
use retrieval::{Bm25, Embed};
use sha2::{Digest, Sha256};

use crate::chunk::Chunk;
use crate::error::Result;

/// Vectors a model computed before, by [`cache_key`]. Failures are the cache's own business:
/// a lookup that fails finds nothing, a store that fails is forgotten.
pub trait VectorCache: Send + Sync + std::fmt::Debug {
    /// The vector of each key, if known, in order.
    fn get(&self, model: &str, keys: &[[u8; 32]]) -> Vec<Option<Vec<f32>>>;
    /// Remembers vectors.
    fn put(&self, model: &str, entries: &[([u8; 32], &[f32])]);
}

/// The cache key of a text: SHA-256 of the text with its whitespace runs collapsed to one
/// space and trimmed, so reflowed text hits the cache.
pub fn cache_key(text: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut first = true;
    for word in text.split_whitespace() {
        if !first {
            hasher.update(b" ");
        }
        hasher.update(word.as_bytes());
        first = false;
    }
    hasher.finalize().into()
}

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

/// The tokens a batch of texts of `lens` tokens holds, and the tokens the model computes
/// for it: each text is padded to the longest (both with the model's two special tokens).
pub fn padding(lens: &[usize]) -> (usize, usize) {
    let real: usize = lens.iter().map(|l| l + 2).sum();
    let longest = lens.iter().max().map_or(0, |l| l + 2);
    (real, longest * lens.len())
}

/// Embeds every chunk; `progress(done)` is called after each batch. Blocking.
pub fn embed(
    chunks: &[Chunk],
    embedder: &dyn Embed,
    bm25: &Bm25,
    progress: impl FnMut(usize),
) -> Result<Vec<ChunkVectors>> {
    embed_cached(chunks, embedder, bm25, None, progress, &|| false).map(|(v, _)| v)
}

/// [`embed`], taking what it can from `cache` and remembering what it computed; also returns
/// how many chunks the model embedded (the rest came from the cache).
pub fn embed_cached(
    chunks: &[Chunk],
    embedder: &dyn Embed,
    bm25: &Bm25,
    cache: Option<&dyn VectorCache>,
    mut progress: impl FnMut(usize),
    stop: &dyn Fn() -> bool,
) -> Result<(Vec<ChunkVectors>, usize)> {
    embed_shared(chunks, embedder, None, bm25, cache, &mut progress, stop)
}

/// [`embed_cached`], the chunks the cache lacks embedded in the `batcher`'s shared batches
/// (with other documents' chunks) when there is one, else in this document's own
/// length-sorted batches.
pub fn embed_shared(
    chunks: &[Chunk],
    embedder: &dyn Embed,
    batcher: Option<&crate::batch::Batcher>,
    bm25: &Bm25,
    cache: Option<&dyn VectorCache>,
    progress: &mut dyn FnMut(usize),
    stop: &dyn Fn() -> bool,
) -> Result<(Vec<ChunkVectors>, usize)> {
    let mut dense: Vec<Option<Vec<f32>>> = vec![None; chunks.len()];
    let keys: Vec<[u8; 32]> = match cache {
        Some(_) => chunks.iter().map(|c| cache_key(&c.embed_text)).collect(),
        None => Vec::new(),
    };
    if let Some(cache) = cache {
        for (slot, found) in dense.iter_mut().zip(cache.get(embedder.name(), &keys)) {
            *slot = found.filter(|v| v.len() == embedder.dim());
        }
    }
    let missing: Vec<usize> = (0..chunks.len()).filter(|&i| dense[i].is_none()).collect();
    let mut done = chunks.len() - missing.len();
    if done > 0 {
        progress(done);
    }
    if let Some(batcher) = batcher {
        let texts = missing
            .iter()
            .map(|&i| (chunks[i].embed_text.clone(), chunks[i].tokens))
            .collect();
        let before = done;
        let vectors = batcher.embed(texts, |n| progress(before + n), stop)?;
        keep(&missing, vectors, &mut dense, &keys, cache, embedder.name());
        return Ok((finish(chunks, dense, bm25), missing.len()));
    }
    let lens: Vec<usize> = missing.iter().map(|&i| chunks[i].tokens).collect();
    for batch in length_sorted_batches(&lens, embedder.batch_size()) {
        // Checked between batches: a document deleted meanwhile stops here.
        if stop() {
            return Err(crate::error::Error::Cancelled);
        }
        let batch: Vec<usize> = batch.into_iter().map(|j| missing[j]).collect();
        let texts: Vec<&str> = batch
            .iter()
            .map(|&i| chunks[i].embed_text.as_str())
            .collect();
        let started = std::time::Instant::now();
        let vectors = embedder.embed_batch(&texts)?;
        let lens: Vec<usize> = batch.iter().map(|&i| chunks[i].tokens).collect();
        let (real, padded) = padding(&lens);
        tracing::debug!(
            texts = batch.len(),
            tokens = real,
            padded,
            ms = started.elapsed().as_millis() as u64,
            "embedded a batch"
        );
        keep(&batch, vectors, &mut dense, &keys, cache, embedder.name());
        done += batch.len();
        progress(done);
    }
    Ok((finish(chunks, dense, bm25), missing.len()))
}

/// Puts the vectors of the chunks numbered `which` in their slots of `dense`, and in the
/// cache under their `keys`.
fn keep(
    which: &[usize],
    vectors: Vec<Vec<f32>>,
    dense: &mut [Option<Vec<f32>>],
    keys: &[[u8; 32]],
    cache: Option<&dyn VectorCache>,
    model: &str,
) {
    if let Some(cache) = cache {
        let entries: Vec<([u8; 32], &[f32])> = which
            .iter()
            .zip(&vectors)
            .map(|(&i, v)| (keys[i], v.as_slice()))
            .collect();
        cache.put(model, &entries);
    }
    for (&i, v) in which.iter().zip(vectors) {
        dense[i] = Some(v);
    }
}

/// Each chunk's dense vector with its BM25 vector.
fn finish(chunks: &[Chunk], dense: Vec<Option<Vec<f32>>>, bm25: &Bm25) -> Vec<ChunkVectors> {
    chunks
        .iter()
        .zip(dense)
        .map(|(c, d)| ChunkVectors {
            dense: d.unwrap_or_default(),
            sparse: bm25.embed_document(&c.embed_text),
        })
        .collect()
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
    fn cache_keys_ignore_whitespace_runs() {
        assert_eq!(cache_key("a  b\n c "), cache_key("a b c"));
        assert_ne!(cache_key("a b c"), cache_key("a b d"));
    }

    /// Vectors by (model, key).
    type Entries = std::collections::HashMap<(String, [u8; 32]), Vec<f32>>;

    /// A cache in memory.
    #[derive(Debug, Default)]
    struct Memory(std::sync::Mutex<Entries>);

    impl VectorCache for Memory {
        fn get(&self, model: &str, keys: &[[u8; 32]]) -> Vec<Option<Vec<f32>>> {
            let map = self.0.lock().unwrap();
            keys.iter()
                .map(|k| map.get(&(model.to_string(), *k)).cloned())
                .collect()
        }
        fn put(&self, model: &str, entries: &[([u8; 32], &[f32])]) {
            let mut map = self.0.lock().unwrap();
            for (k, v) in entries {
                map.insert((model.to_string(), *k), v.to_vec());
            }
        }
    }

    #[test]
    fn cached_chunks_are_not_embedded_again() {
        let embedder = retrieval::HashEmbed::new(16);
        let bm25 = Bm25::with_dictionary(Default::default()).unwrap();
        let chunk = |t: &str| Chunk {
            embed_text: t.to_string(),
            tokens: t.split_whitespace().count(),
            ..Default::default()
        };
        let first = [chunk("one fish"), chunk("two fish"), chunk("red fish")];
        let cache = Memory::default();
        let (v1, embedded) =
            embed_cached(&first, &embedder, &bm25, Some(&cache), |_| {}, &|| false).unwrap();
        assert_eq!(embedded, 3);
        // One chunk changed: one is embedded, the others come from the cache, same vectors.
        let second = [chunk("one  fish"), chunk("blue fish"), chunk("red fish")];
        let mut seen = Vec::new();
        let (v2, embedded) = embed_cached(
            &second,
            &embedder,
            &bm25,
            Some(&cache),
            |d| seen.push(d),
            &|| false,
        )
        .unwrap();
        assert_eq!(embedded, 1);
        assert_eq!(seen, [2, 3]);
        assert_eq!(v2[0].dense, v1[0].dense);
        assert_eq!(v2[1].dense, embedder.vector("blue fish"));
        // Vectors of another size are never taken.
        let other = retrieval::HashEmbed::new(8);
        let (_, embedded) =
            embed_cached(&second, &other, &bm25, Some(&cache), |_| {}, &|| false).unwrap();
        assert_eq!(embedded, 3);
    }

    #[test]
    fn empty_input_has_no_batches() {
        assert!(length_sorted_batches(&[], 8).is_empty());
        assert_eq!(length_sorted_batches(&[1], 0), vec![vec![0]]);
    }
}
