//! Sparse BM25 vectors, the same BM25 the Qdrant server computes (`qdrant_edge::bm25_embed`).
//!
//! The multilingual tokenizer segments Chinese into words (大模型资源占用计算公式 →
//! 大/模型/资源/占用/计算/公式); English text is lowercased, stemmed and stripped of stopwords.
//! Term weights are computed here; the IDF part is applied by the index (`Modifier::Idf`).

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{SparseVector, TokenizerType};

use crate::error::{Error, Result};

/// A BM25 encoder for documents and queries.
#[derive(Debug)]
pub struct Bm25 {
    inner: EdgeBm25,
}

impl Bm25 {
    /// The multilingual BM25 with Qdrant's defaults (k1 = 1.2, b = 0.75).
    pub fn new() -> Result<Self> {
        let config = EdgeBm25Config {
            tokenizer: TokenizerType::Multilingual,
            ..EdgeBm25Config::default()
        };
        let inner = EdgeBm25::new(config).map_err(|e| Error::Bm25(e.to_string()))?;
        Ok(Self { inner })
    }

    /// The term-frequency vector of a document chunk.
    pub fn embed_document(&self, text: &str) -> SparseVector {
        self.inner.embed_document(text)
    }

    /// The query vector (one entry per distinct query term).
    pub fn embed_query(&self, text: &str) -> SparseVector {
        self.inner.embed_query(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_segmented_into_words() {
        let bm25 = Bm25::new().unwrap();
        // Characters-only tokenization would give 10 terms; word segmentation gives about 6.
        let q = bm25.embed_query("大模型资源占用计算公式");
        assert!(
            q.indices.len() >= 4 && q.indices.len() < 10,
            "{:?}",
            q.indices
        );
        // A word that occurs in the query also occurs in a document that contains it.
        let d = bm25.embed_document("这是一个关于模型资源的公式说明。");
        let shared = q.indices.iter().filter(|i| d.indices.contains(i)).count();
        assert!(shared >= 2, "query {:?} doc {:?}", q.indices, d.indices);
    }

    #[test]
    fn english_is_stemmed_and_stopwords_dropped() {
        let bm25 = Bm25::new().unwrap();
        let a = bm25.embed_query("the running dogs");
        let b = bm25.embed_query("run dog");
        let mut ai = a.indices.clone();
        let mut bi = b.indices.clone();
        ai.sort_unstable();
        bi.sort_unstable();
        assert_eq!(ai, bi);
    }

    #[test]
    fn empty_text_gives_empty_vector() {
        let bm25 = Bm25::new().unwrap();
        assert!(bm25.embed_document("").indices.is_empty());
    }
}
