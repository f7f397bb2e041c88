//! The rerank stage, after fusion. Three kinds:
//! - `none`: the fused order stands;
//! - `weighted`: RAGFlow's model-free weighted hybrid,
//!   `score = (1 − w) · term_similarity + w · vector_similarity`, where term similarity is
//!   the share of the query's BM25 terms found in the chunk and vector similarity is the
//!   dense cosine clamped to [0, 1];
//! - `cross_encoder`: a cross-encoder (fastembed `TextRerank`) from a model folder the user
//!   supplies (`model.onnx` + tokenizer files) or a fastembed catalog name when online. Its
//!   score is the model's logit, shown through a sigmoid in [0, 1].
//!
//! Reranking is synchronous and CPU-bound: it runs inside the blocking search call, and the
//! cross-encoder sits behind one mutex, so at most one rerank runs at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fastembed::{
    RerankInitOptions, RerankInitOptionsUserDefined, TextRerank, UserDefinedRerankingModel,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which reranker to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RerankKind {
    #[default]
    None,
    Weighted,
    CrossEncoder,
}

/// Share of the query's terms (sparse indices) that the chunk contains, in [0, 1].
pub fn term_similarity(query_terms: &[u32], chunk_terms: &[u32]) -> f32 {
    if query_terms.is_empty() {
        return 0.0;
    }
    let chunk: HashSet<u32> = chunk_terms.iter().copied().collect();
    let hit = query_terms.iter().filter(|t| chunk.contains(t)).count();
    hit as f32 / query_terms.len() as f32
}

/// RAGFlow's weighted hybrid: `(1 − w) · term + w · vector`, vector similarity clamped to [0, 1].
pub fn weighted_score(term_similarity: f32, vector_similarity: f32, w: f32) -> f32 {
    let w = w.clamp(0.0, 1.0);
    (1.0 - w) * term_similarity + w * vector_similarity.clamp(0.0, 1.0)
}

/// Logit → [0, 1].
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Where a cross-encoder comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CrossEncoderConfig {
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`,
    /// `tokenizer_config.json`. The model takes `input_ids`, `attention_mask` (and optionally
    /// `token_type_ids`) and returns `logits`.
    pub model_dir: Option<PathBuf>,
    /// A fastembed catalog reranker (e.g. `BAAI/bge-reranker-base`), downloaded once when
    /// online; used when `model_dir` is not set.
    pub model: Option<String>,
    /// Where catalog models are downloaded.
    pub cache_dir: Option<PathBuf>,
    pub max_length: usize,
}

/// A loaded cross-encoder.
pub struct CrossEncoder {
    model: Mutex<TextRerank>,
    pub name: String,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder")
            .field("name", &self.name)
            .finish()
    }
}

impl CrossEncoder {
    /// Loads the configured cross-encoder; `None` when none is configured.
    pub fn load(config: &CrossEncoderConfig) -> Result<Option<Self>> {
        let max_length = if config.max_length == 0 {
            512
        } else {
            config.max_length
        };
        if let Some(dir) = &config.model_dir {
            return Self::from_folder(dir, max_length).map(Some);
        }
        let Some(name) = &config.model else {
            return Ok(None);
        };
        let model = TextRerank::list_supported_models()
            .into_iter()
            .find(|m| {
                m.model_code.eq_ignore_ascii_case(name)
                    || format!("{:?}", m.model).eq_ignore_ascii_case(name)
            })
            .ok_or_else(|| Error::Model(format!("unknown reranker {name:?}")))?;
        let mut options = RerankInitOptions::new(model.model).with_max_length(max_length);
        if let Some(cache) = &config.cache_dir {
            options = options.with_cache_dir(cache.clone());
        }
        let model = TextRerank::try_new(options).map_err(|e| Error::Model(e.to_string()))?;
        Ok(Some(Self {
            model: Mutex::new(model),
            name: name.clone(),
        }))
    }

    /// Loads a cross-encoder from a folder.
    pub fn from_folder(dir: &Path, max_length: usize) -> Result<Self> {
        let (onnx, tokenizer_files) = crate::embed::read_model_folder(dir)?;
        let model = UserDefinedRerankingModel::new(onnx, tokenizer_files);
        let options = RerankInitOptionsUserDefined::new()
            .with_max_length(max_length)
            .with_intra_threads(1);
        let model = TextRerank::try_new_from_user_defined(model, options)
            .map_err(|e| Error::Model(e.to_string()))?;
        Ok(Self {
            model: Mutex::new(model),
            name: format!(
                "local:{}",
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        })
    }

    /// The logit of each document for `query`, in the documents' order. Blocking.
    pub fn score(&self, query: &str, documents: &[&str]) -> Result<Vec<f32>> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let results = model
            .rerank(query, documents, false, Some(16))
            .map_err(|e| Error::Model(e.to_string()))?;
        let mut scores = vec![f32::NEG_INFINITY; documents.len()];
        for r in results {
            if let Some(s) = scores.get_mut(r.index) {
                *s = r.score;
            }
        }
        Ok(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_blend() {
        assert_eq!(weighted_score(1.0, 0.0, 0.3), 0.7);
        assert_eq!(weighted_score(0.0, 1.0, 0.3), 0.3);
        assert!((weighted_score(0.5, 0.8, 0.5) - 0.65).abs() < 1e-6);
        assert_eq!(
            weighted_score(0.5, -0.4, 1.0),
            0.0,
            "negative cosine clamps to 0"
        );
        assert_eq!(weighted_score(1.0, 1.0, 7.0), 1.0, "w clamps to 1");
    }

    #[test]
    fn term_overlap() {
        assert_eq!(term_similarity(&[1, 2, 3, 4], &[2, 4, 9]), 0.5);
        assert_eq!(term_similarity(&[], &[1]), 0.0);
        assert_eq!(term_similarity(&[1], &[]), 0.0);
    }

    #[test]
    fn sigmoid_range() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(10.0) > 0.99 && sigmoid(-10.0) < 0.01);
    }

    #[test]
    fn no_cross_encoder_configured() {
        assert!(CrossEncoder::load(&CrossEncoderConfig::default())
            .unwrap()
            .is_none());
        let err = CrossEncoder::from_folder(Path::new("/nonexistent"), 128).unwrap_err();
        assert!(matches!(err, Error::ModelMissing(_)));
    }
}
