//! Dense embeddings: what search and ingest need from an embedder ([`Embed`]), the fastembed
//! model on ONNX Runtime that serves (loaded dynamically; [`Embedder`]), and a deterministic
//! stand-in for tests ([`HashEmbed`]).
//!
//! [`Embedder`] runs two model instances (`TextEmbedding::embed` takes `&mut self`):
//! - the *query* instance is loaded at start, behind a mutex, and serves searches, so a query
//!   never waits behind a long ingest batch;
//! - the *ingest* instance lives on its own thread, started on the first ingest, which embeds
//!   the length-sorted batches sent to it. That thread runs at a lower CPU priority
//!   (`ingest_nice`), and so do ONNX Runtime's threads it starts: during a bulk sync the
//!   kernel gives searches the CPU first, and ingest takes whatever is left.
//!
//! Both are synchronous and CPU-bound: call them from `spawn_blocking` or a worker thread.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use fastembed::{
    EmbeddingModel, InitOptionsUserDefined, Pooling, TextEmbedding, TextInitOptions,
    TokenizerFiles, UserDefinedEmbeddingModel,
};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// What search ([`crate::Searcher`]) and ingest need from an embedding model. Shared as
/// `Arc<dyn Embed>`; every method is synchronous and may be CPU-bound.
pub trait Embed: Send + Sync + std::fmt::Debug {
    /// A short, stable name of the model, recorded with the index.
    fn name(&self) -> &str;

    /// Dimensions of every vector.
    fn dim(&self) -> usize;

    /// Whether the model understands text in `language` (`en`, `zh`).
    fn covers(&self, language: &str) -> bool;

    /// Texts per [`Embed::embed_batch`] call that keep memory flat.
    fn batch_size(&self) -> usize;

    /// The model's tokenizer, without truncation or padding: chunk sizes are counted with it.
    fn tokenizer(&self) -> &Tokenizer;

    /// Embeds one query.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>>;

    /// Embeds one batch of documents, one vector per text, in order.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// The name that selects the model folder in [`EmbeddingConfig::model_dir`].
pub const LOCAL_MODEL: &str = "local";

/// Which embedding model to run and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// `local` for the model folder in `model_dir` (offline default), or a fastembed catalog
    /// model such as `BAAI/bge-small-zh-v1.5` (downloaded once into `cache_dir`; needs network).
    pub model: String,
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`
    /// and `tokenizer_config.json` (mean pooling).
    pub model_dir: PathBuf,
    /// Path of `libonnxruntime.so`.
    pub ort_library: PathBuf,
    /// Where catalog models are downloaded.
    pub cache_dir: PathBuf,
    /// Longest input in tokens; longer input is truncated by the model's tokenizer.
    pub max_length: usize,
    /// ONNX Runtime intra-op threads of the ingest instance.
    pub threads: usize,
    /// ONNX Runtime intra-op threads of the query instance.
    pub query_threads: usize,
    /// Texts per inference batch (8 to 32 keeps memory flat).
    pub batch_size: usize,
    /// Languages the model understands (`en`, `zh`, or `*` for any). Queries in another
    /// language are ranked by BM25 alone: an English-only model's vectors for Chinese text are
    /// noise that would pull good BM25 results down. Unset: `en` for the offline default
    /// (all-MiniLM-L6-v2 is English-only), `zh` + `en` for catalog models with `zh` in their
    /// name, `*` for other catalog models.
    pub languages: Option<Vec<String>>,
    /// Nice value (0 to 19) of the ingest thread and its ONNX Runtime threads; higher is
    /// lower priority. 0 leaves it as the process's.
    pub ingest_nice: i32,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            model: LOCAL_MODEL.into(),
            model_dir: PathBuf::from("models/all-minilm-l6-v2-int8"),
            ort_library: PathBuf::from("onnxruntime/libonnxruntime.so"),
            cache_dir: PathBuf::from("fastembed"),
            max_length: 256,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            query_threads: 1,
            batch_size: 16,
            languages: None,
            ingest_nice: 10,
        }
    }
}

impl EmbeddingConfig {
    /// A short, stable name of the model, recorded with the index.
    pub fn model_name(&self) -> String {
        if self.model == LOCAL_MODEL {
            let folder = self
                .model_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into());
            format!("local:{folder}")
        } else {
            self.model.clone()
        }
    }
}

impl EmbeddingConfig {
    /// The languages the model covers (see [`EmbeddingConfig::languages`]).
    pub fn covered_languages(&self) -> Vec<String> {
        if let Some(l) = &self.languages {
            return l.iter().map(|s| s.to_ascii_lowercase()).collect();
        }
        if self.model == LOCAL_MODEL {
            vec!["en".into()]
        } else if self.model.to_ascii_lowercase().contains("zh") {
            vec!["zh".into(), "en".into()]
        } else {
            vec!["*".into()]
        }
    }
}

/// A loaded embedding model: its tokenizer, dimension and the two instances.
pub struct Embedder {
    config: EmbeddingConfig,
    name: String,
    dim: usize,
    tokenizer: Tokenizer,
    query: Mutex<TextEmbedding>,
    ingest: OnceLock<mpsc::Sender<IngestJob>>,
}

/// A batch for the ingest thread and where to send its vectors.
struct IngestJob {
    texts: Vec<String>,
    reply: mpsc::Sender<Result<Vec<Vec<f32>>>>,
}

/// Starts the ingest thread: it lowers its own priority, loads the ingest instance (ONNX
/// Runtime's threads inherit the priority) and serves batches until the embedder is dropped.
fn start_ingest_thread(config: EmbeddingConfig) -> Result<mpsc::Sender<IngestJob>> {
    let (tx, rx) = mpsc::channel::<IngestJob>();
    std::thread::Builder::new()
        .name("ragd-ingest".into())
        .spawn(move || {
            if let Err(e) = crate::priority::lower_current_thread(config.ingest_nice) {
                tracing::warn!(error = %e, "cannot lower the ingest thread's priority");
            }
            let mut model = match new_instance(&config, config.threads) {
                Ok(m) => m,
                Err(e) => {
                    let message = e.to_string();
                    for job in rx {
                        let _ = job.reply.send(Err(Error::Model(message.clone())));
                    }
                    return;
                }
            };
            for job in rx {
                let out = model
                    .embed(&job.texts, Some(job.texts.len()))
                    .map_err(|e| Error::Model(e.to_string()));
                let _ = job.reply.send(out);
            }
        })
        .map_err(|e| Error::Model(format!("cannot start the ingest thread: {e}")))?;
    Ok(tx)
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish()
    }
}

/// Loads ONNX Runtime from `path` once per process. A missing file is a clear error, not
/// ort's panic.
pub fn init_onnx_runtime(path: &Path) -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    if !path.is_file() {
        return Err(Error::OrtMissing(path.to_path_buf()));
    }
    LOADED
        .get_or_init(|| ort::init_from(path).map(drop).map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| Error::OrtLoad {
            path: path.to_path_buf(),
            message,
        })
}

impl Embedder {
    /// Loads the configured model (the query instance). Blocking; takes about half a second.
    pub fn load(config: &EmbeddingConfig) -> Result<Self> {
        init_onnx_runtime(&config.ort_library)?;
        let mut query = new_instance(config, config.query_threads)?;
        let mut tokenizer = query.tokenizer.clone();
        // Counting tokens for chunking must see the whole text: no truncation, no padding.
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Model(e.to_string()))?;
        tokenizer.with_padding(None);
        let probe = query
            .embed(["dimension probe"], Some(1))
            .map_err(|e| Error::Model(e.to_string()))?;
        let dim = probe.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(Error::Model("the model returned an empty embedding".into()));
        }
        Ok(Self {
            name: config.model_name(),
            config: config.clone(),
            dim,
            tokenizer,
            query: Mutex::new(query),
            ingest: OnceLock::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the model understands text in `language` (`en`, `zh`).
    pub fn covers(&self, language: &str) -> bool {
        self.config
            .covered_languages()
            .iter()
            .any(|l| l == "*" || l == language)
    }

    pub fn batch_size(&self) -> usize {
        self.config.batch_size.clamp(1, 256)
    }

    /// The model's tokenizer, without truncation or padding: chunk sizes are counted with it.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Number of model tokens in `text` (special tokens excluded).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map_or(0, |e| e.get_ids().len())
    }

    /// Embeds one query with the query instance.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let mut model = self.query.lock().unwrap_or_else(|p| p.into_inner());
        model
            .embed([text], Some(1))
            .map_err(|e| Error::Model(e.to_string()))?
            .pop()
            .ok_or_else(|| Error::Model("no embedding returned".into()))
    }

    /// Embeds one batch of documents on the ingest thread (started on first use).
    /// Callers sort by length and keep batches small; see `ingest::embed`.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let sender = match self.ingest.get() {
            Some(tx) => tx,
            None => {
                let tx = start_ingest_thread(self.config.clone())?;
                // Another thread may have won the race; its thread serves, this one ends.
                let _ = self.ingest.set(tx);
                self.ingest.get().expect("ingest thread was just set")
            }
        };
        let (reply, answer) = mpsc::channel();
        let job = IngestJob {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            reply,
        };
        sender
            .send(job)
            .map_err(|_| Error::Model("the ingest thread stopped".into()))?;
        let out = answer
            .recv()
            .map_err(|_| Error::Model("the ingest thread stopped".into()))??;
        if out.len() != texts.len() {
            return Err(Error::Model(format!(
                "model returned {} embeddings for {} texts",
                out.len(),
                texts.len()
            )));
        }
        Ok(out)
    }
}

/// The trait's methods are [`Embedder`]'s own.
impl Embed for Embedder {
    fn name(&self) -> &str {
        Embedder::name(self)
    }

    fn dim(&self) -> usize {
        Embedder::dim(self)
    }

    fn covers(&self, language: &str) -> bool {
        Embedder::covers(self, language)
    }

    fn batch_size(&self) -> usize {
        Embedder::batch_size(self)
    }

    fn tokenizer(&self) -> &Tokenizer {
        Embedder::tokenizer(self)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Embedder::embed_query(self, text)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Embedder::embed_batch(self, texts)
    }
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
}

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

impl HashEmbed {
    /// The name recorded with an index built by it.
    pub const NAME: &'static str = "hash-test";

    /// An embedder of `dim` dimensions (at least 1).
    pub fn new(dim: usize) -> Self {
        let tokenizer = HASH_TOKENIZER
            .parse()
            .expect("the built-in word-level tokenizer parses");
        Self {
            dim: dim.max(1),
            tokenizer,
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
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Reads a model folder: `model.onnx` and the tokenizer files (`tokenizer.json`,
/// `config.json`, `special_tokens_map.json`, `tokenizer_config.json`).
pub fn read_model_folder(dir: &Path) -> Result<(Vec<u8>, TokenizerFiles)> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|_| Error::ModelMissing(path))
    };
    Ok((
        read("model.onnx")?,
        TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        },
    ))
}

fn new_instance(config: &EmbeddingConfig, threads: usize) -> Result<TextEmbedding> {
    let threads = threads.max(1);
    if config.model == LOCAL_MODEL {
        let (onnx, tokenizer_files) = read_model_folder(&config.model_dir)?;
        let model =
            UserDefinedEmbeddingModel::new(onnx, tokenizer_files).with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_max_length(config.max_length)
            .with_intra_threads(threads);
        TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| Error::Model(e.to_string()))
    } else {
        let model = catalog_model(&config.model)?;
        let options = TextInitOptions::new(model)
            .with_max_length(config.max_length)
            .with_cache_dir(config.cache_dir.clone())
            .with_intra_threads(threads);
        TextEmbedding::try_new(options).map_err(|e| Error::Model(e.to_string()))
    }
}

/// Finds a fastembed catalog model by its code (`Xenova/bge-small-zh-v1.5`), its enum name
/// (`BGESmallZHV15`), or its name without the organisation (`BAAI/bge-small-zh-v1.5` finds
/// the catalog's `Xenova/bge-small-zh-v1.5`), in that order of preference.
pub fn catalog_model(name: &str) -> Result<EmbeddingModel> {
    let models = TextEmbedding::list_supported_models();
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
    let wanted = base(name);
    models
        .iter()
        .find(|m| m.model_code.eq_ignore_ascii_case(name))
        .or_else(|| {
            models
                .iter()
                .find(|m| format!("{:?}", m.model).eq_ignore_ascii_case(name))
        })
        .or_else(|| models.iter().find(|m| base(&m.model_code) == wanted))
        .map(|m| m.model.clone())
        .ok_or_else(|| {
            Error::Model(format!(
                "unknown embedding model {name:?}: use \"local\" or a fastembed catalog model"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_resolve_by_code_or_enum_name() {
        let zh = catalog_model("BAAI/bge-small-zh-v1.5").unwrap();
        assert_eq!(zh, EmbeddingModel::BGESmallZHV15);
        assert_eq!(catalog_model("bgesmallzhv15").unwrap(), zh);
        let err = catalog_model("no/such-model").unwrap_err().to_string();
        assert!(err.contains("unknown embedding model"), "{err}");
    }

    #[test]
    fn missing_runtime_is_an_error_not_a_panic() {
        let err = init_onnx_runtime(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
        assert!(matches!(err, Error::OrtMissing(_)));
    }

    #[test]
    fn language_coverage() {
        let mut cfg = EmbeddingConfig::default();
        assert_eq!(cfg.covered_languages(), ["en"]);
        cfg.model = "BAAI/bge-small-zh-v1.5".into();
        assert_eq!(cfg.covered_languages(), ["zh", "en"]);
        cfg.model = "intfloat/multilingual-e5-small".into();
        assert_eq!(cfg.covered_languages(), ["*"]);
        cfg.languages = Some(vec!["EN".into(), "zh".into()]);
        assert_eq!(cfg.covered_languages(), ["en", "zh"]);
    }

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

    #[test]
    fn model_name_of_local_folder() {
        let cfg = EmbeddingConfig::default();
        assert_eq!(cfg.model_name(), "local:all-minilm-l6-v2-int8");
    }
}
