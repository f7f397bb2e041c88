//! Sparse BM25 vectors, the same BM25 the Qdrant server computes (`qdrant_edge::bm25_embed`).
//!
//! The multilingual tokenizer segments Chinese into words (大模型资源占用计算公式 →
//! 大/模型/资源/占用/计算/公式); English text is lowercased, stemmed and stripped of stopwords.
//! Before tokenizing, text is normalized ([`crate::normalize`]: full-width → half-width,
//! traditional → simplified) and user-dictionary terms get a whole-term token, identically
//! for documents and queries. Term weights are computed here; the IDF part is applied by the
//! index (`Modifier::Idf`).

use std::collections::{HashMap, HashSet};

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{SparseVector, TokenizerType};

use crate::error::{Error, Result};
use crate::normalize::{is_cjk, normalize, UserDictionary};

/// A BM25 encoder for documents and queries.
#[derive(Debug)]
pub struct Bm25 {
    inner: EdgeBm25,
    dictionary: UserDictionary,
}

impl Bm25 {
    /// The multilingual BM25 with Qdrant's defaults (k1 = 1.2, b = 0.75).
    pub fn new() -> Result<Self> {
        Self::with_dictionary(UserDictionary::default())
    }

    pub fn with_dictionary(dictionary: UserDictionary) -> Result<Self> {
        let config = EdgeBm25Config {
            tokenizer: TokenizerType::Multilingual,
            ..EdgeBm25Config::default()
        };
        let inner = EdgeBm25::new(config).map_err(|e| Error::Bm25(e.to_string()))?;
        Ok(Self { inner, dictionary })
    }

    fn prepare(&self, text: &str) -> String {
        self.dictionary.annotate(&normalize(text))
    }

    /// The term-frequency vector of a document chunk.
    pub fn embed_document(&self, text: &str) -> SparseVector {
        self.inner.embed_document(&self.prepare(text))
    }

    /// The query vector (one entry per distinct query term).
    pub fn embed_query(&self, text: &str) -> SparseVector {
        self.inner.embed_query(&self.prepare(text))
    }

    /// The query's BM25 terms as text, with their sparse indices: which words of the query
    /// BM25 actually searches for (after segmentation, stopwords and stemming).
    pub fn query_terms(&self, query: &str) -> Vec<(String, u32)> {
        let wanted: HashSet<u32> = self.embed_query(query).indices.into_iter().collect();
        let normalized = normalize(query);
        let mut found: HashMap<u32, String> = HashMap::new();
        let mut consider = |candidate: &str| {
            let v = self.inner.embed_query(candidate);
            if let [index] = v.indices.as_slice() {
                if wanted.contains(index) {
                    let better = found
                        .get(index)
                        .is_none_or(|cur| candidate.chars().count() > cur.chars().count());
                    if better {
                        found.insert(*index, candidate.to_string());
                    }
                }
            }
        };
        for term in self.dictionary.find(&normalized) {
            consider(&crate::normalize::term_token(term));
        }
        let chars: Vec<char> = normalized.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if is_cjk(c) {
                let start = i;
                while i < chars.len() && is_cjk(chars[i]) {
                    i += 1;
                }
                let run = &chars[start..i];
                for len in 1..=run.len().min(6) {
                    for w in run.windows(len) {
                        consider(&w.iter().collect::<String>());
                    }
                }
            } else if c.is_alphanumeric() {
                let start = i;
                while i < chars.len() && chars[i].is_alphanumeric() && !is_cjk(chars[i]) {
                    i += 1;
                }
                consider(&chars[start..i].iter().collect::<String>());
            } else {
                i += 1;
            }
        }
        // Dictionary tokens are shown as the term itself.
        let mut terms: Vec<(String, u32)> = found
            .into_iter()
            .map(|(idx, t)| {
                let shown = self
                    .dictionary
                    .find(&normalized)
                    .into_iter()
                    .find(|d| crate::normalize::term_token(d) == t)
                    .map(str::to_string)
                    .unwrap_or(t);
                (shown, idx)
            })
            .collect();
        // In query order.
        let lower = normalized.to_lowercase();
        terms.sort_by_key(|(t, _)| lower.find(&t.to_lowercase()).unwrap_or(usize::MAX));
        terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(v: SparseVector) -> Vec<u32> {
        let mut i = v.indices;
        i.sort_unstable();
        i
    }

    #[test]
    fn chinese_is_segmented_into_words() {
        let bm25 = Bm25::new().unwrap();
        // Real sentences: a query and the passage that answers it share whole words.
        let q = bm25.embed_query("大模型资源占用计算公式");
        // Characters-only tokenization would give 10 terms; word segmentation gives 6.
        assert!(
            q.indices.len() >= 4 && q.indices.len() < 10,
            "{:?}",
            q.indices
        );
        let terms: Vec<String> = bm25
            .query_terms("大模型资源占用计算公式")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert!(
            terms.contains(&"模型".to_string()) && terms.contains(&"资源".to_string()),
            "{terms:?}"
        );
        assert!(terms.iter().any(|t| t.chars().count() >= 2), "{terms:?}");
        let d = bm25.embed_document(
            "部署大模型之前，需要估算资源占用：显存约等于参数量乘以每个参数的字节数。",
        );
        let shared = q.indices.iter().filter(|i| d.indices.contains(i)).count();
        assert!(shared >= 3, "query {:?} doc {:?}", q.indices, d.indices);
    }

    #[test]
    fn traditional_and_fullwidth_match_simplified_and_halfwidth() {
        let bm25 = Bm25::new().unwrap();
        assert_eq!(
            sorted(bm25.embed_query("資源計算")),
            sorted(bm25.embed_query("资源计算"))
        );
        assert_eq!(
            sorted(bm25.embed_query("ＧＰＵ　显存")),
            sorted(bm25.embed_query("GPU 显存"))
        );
        assert_eq!(
            sorted(bm25.embed_document("大模型資源佔用")),
            sorted(bm25.embed_document("大模型资源占用"))
        );
    }

    #[test]
    fn user_dictionary_keeps_terms_whole() {
        let plain = Bm25::new().unwrap();
        let dict = Bm25::with_dictionary(UserDictionary::parse("检索增强生成")).unwrap();
        let q_plain = plain.embed_query("检索增强生成");
        let q_dict = dict.embed_query("检索增强生成");
        assert_eq!(
            q_dict.indices.len(),
            q_plain.indices.len() + 1,
            "one whole-term token more"
        );
        let terms: Vec<String> = dict
            .query_terms("什么是检索增强生成")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert!(terms.contains(&"检索增强生成".to_string()), "{terms:?}");
    }

    #[test]
    fn english_is_stemmed_and_stopwords_dropped() {
        let bm25 = Bm25::new().unwrap();
        assert_eq!(
            sorted(bm25.embed_query("the running dogs")),
            sorted(bm25.embed_query("run dog"))
        );
        let terms: Vec<String> = bm25
            .query_terms("the running dogs")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(terms, ["running", "dogs"]);
    }

    #[test]
    fn empty_text_gives_empty_vector() {
        let bm25 = Bm25::new().unwrap();
        assert!(bm25.embed_document("").indices.is_empty());
        assert!(bm25.query_terms("").is_empty());
    }
}
