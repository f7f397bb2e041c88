//! A deterministic embedder for tests: no model files, no ONNX Runtime, instant.

use tokenizers::Tokenizer;

use super::Embed;
use crate::error::Result;

/// A deterministic embedder **for tests**: no model files, no ONNX Runtime, instant. Not for
/// serving: its vectors see shared words, not meaning.
///
/// Tokens are lowercased runs of letters and digits, and each CJK ideograph on its own
/// ([`HashEmbed::tokens`]). Each token, and each character trigram of `^token$`, is hashed
/// (FNV-1a, stable across builds and platforms) to a component of a `dim`-sized vector with a
/// hashed sign; the sum is L2-normalised. Texts sharing words get a high cosine similarity; a
/// text without tokens gets the first unit vector. Its name is [`HashEmbed::NAME`]; it covers
/// every language. Its tokenizer, which sizes chunks, counts BERT-style pieces: lowercased
/// words, CJK ideographs and punctuation marks.
#[derive(Debug, Clone)]
pub struct HashEmbed {
    dim: usize,
    tokenizer: Tokenizer,
}

/// A word-level tokenizer with one token, `[UNK]`, after BERT's normalizer and
/// pre-tokenizer: one id per word, ideograph or punctuation mark.
const HASH_TOKENIZER: &str = r#"{
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}
}"#;

/// The BERT-style word-level tokenizer of [`HashEmbed`]: one token per word, ideograph or
/// punctuation mark. Also what sizes chunks for a remote model when no tokenizer file is
/// at hand.
pub fn word_tokenizer() -> Tokenizer {
    HASH_TOKENIZER
        .parse()
        .expect("the built-in word-level tokenizer parses")
}

impl HashEmbed {
    /// The name recorded with an index built by it.
    pub const NAME: &'static str = "hash-test";

    /// An embedder of `dim` dimensions (at least 1).
    pub fn new(dim: usize) -> Self {
        Self {
            dim: dim.max(1),
            tokenizer: word_tokenizer(),
        }
    }

    /// The tokens of `text` that are hashed.
    pub fn tokens(text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut word = String::new();
        for c in text.chars() {
            if crate::normalize::is_cjk(c) {
                tokens.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
                tokens.push(c.to_string());
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
        }
        tokens.extend((!word.is_empty()).then_some(word));
        tokens
    }

    /// The L2-normalised vector of `text`.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        let mut add = |feature: &str, weight: f32| {
            let h = fnv1a(feature.as_bytes());
            let i = (h % self.dim as u64) as usize;
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[i] += sign * weight;
        };
        for token in Self::tokens(text) {
            add(&token, 1.0);
            let marked: Vec<char> = format!("^{token}$").chars().collect();
            for gram in marked.windows(3) {
                add(&gram.iter().collect::<String>(), 0.25);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > f32::EPSILON {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v.iter_mut().for_each(|x| *x = 0.0);
            v[0] = 1.0;
        }
        v
    }
}

impl Default for HashEmbed {
    /// 64 dimensions.
    fn default() -> Self {
        Self::new(64)
    }
}

impl Embed for HashEmbed {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn covers(&self, _language: &str) -> bool {
        true
    }

    fn batch_size(&self) -> usize {
        16
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.vector(text))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

/// 64-bit FNV-1a.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_embed_is_deterministic_normalised_and_sees_shared_words() {
        let e = HashEmbed::new(32);
        assert_eq!(Embed::name(&e), "hash-test");
        assert_eq!(Embed::dim(&e), 32);
        let a = e.embed_query("Rust borrow checker").unwrap();
        assert_eq!(a, e.embed_query("rust  BORROW checker!").unwrap());
        assert_eq!(a.len(), 32);
        let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        let cos = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        let batch = e
            .embed_batch(&["the borrow checker in rust", "baking sourdough bread"])
            .unwrap();
        assert!(cos(&a, &batch[0]) > cos(&a, &batch[1]) + 0.3, "{batch:?}");
        assert_eq!(e.embed_query("").unwrap()[0], 1.0);
        assert_eq!(
            HashEmbed::tokens("GPU显存 size-2"),
            ["gpu", "显", "存", "size", "2"]
        );
        // Chunks are sized in BERT-style pieces: the hyphen counts too.
        let pieces = e.tokenizer().encode("GPU显存 size-2", false).unwrap();
        assert_eq!(pieces.get_ids().len(), 6, "{:?}", pieces.get_tokens());
        assert!(e.covers("zh") && e.covers("en"));
    }
}
