//! The `local` provider: a fastembed model on ONNX Runtime (loaded dynamically), the offline
//! default or a fastembed catalog model.
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

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use fastembed::{
    EmbeddingModel, InitOptionsUserDefined, Pooling, TextEmbedding, TextInitOptions,
    TokenizerFiles, UserDefinedEmbeddingModel,
};
use tokenizers::Tokenizer;

use super::{Embed, EmbeddingConfig, LOCAL_MODEL};
use crate::error::{Error, Result};

/// A loaded embedding model: its tokenizer, dimension and the two instances.
pub struct Embedder {
    config: EmbeddingConfig,
    name: String,
    dim: usize,
    tokenizer: Tokenizer,
    /// Loaded with the embedder; `None` after [`Embedder::unload_query_model`] until the next
    /// query.
    query: Mutex<Option<TextEmbedding>>,
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
    /// Loads the configured model. Blocking. The offline default model's tokenizer and
    /// dimension are read from its folder, and its instances load when first used (about
    /// half a second each): a process that only ingests never holds the query instance
    /// ([`Embedder::prepare_queries`] loads it ahead). A catalog model is probed with its
    /// query instance, which stays.
    pub fn load(config: &EmbeddingConfig) -> Result<Self> {
        init_onnx_runtime(&config.ort_library)?;
        let (tokenizer, dim, query) = if config.model == LOCAL_MODEL {
            let (tokenizer, dim) = read_model_shape(&config.model_dir)?;
            (tokenizer, dim, None)
        } else {
            let mut query = new_instance(config, config.query_threads)?;
            let tokenizer = query.tokenizer.clone();
            let probe = query
                .embed(["dimension probe"], Some(1))
                .map_err(|e| Error::Model(e.to_string()))?;
            (tokenizer, probe.first().map_or(0, Vec::len), Some(query))
        };
        if dim == 0 {
            return Err(Error::Model("the model returned an empty embedding".into()));
        }
        let mut tokenizer = tokenizer;
        // Counting tokens for chunking must see the whole text: no truncation, no padding.
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Model(e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(Self {
            name: config.model_name(),
            config: config.clone(),
            dim,
            tokenizer,
            query: Mutex::new(query),
            ingest: OnceLock::new(),
        })
    }

    /// Loads the query instance now, if it is not loaded, so the first search does not wait
    /// for it and a model that cannot load is an error at start.
    pub fn prepare_queries(&self) -> Result<()> {
        let mut slot = self.query.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(self.load_query_instance()?);
        }
        Ok(())
    }

    fn load_query_instance(&self) -> Result<TextEmbedding> {
        let mut model = new_instance(&self.config, self.config.query_threads)?;
        let probe = model
            .embed(["dimension probe"], Some(1))
            .map_err(|e| Error::Model(e.to_string()))?;
        match probe.first().map(Vec::len) {
            Some(d) if d == self.dim => Ok(model),
            d => Err(Error::Model(format!(
                "the model gives vectors of {} dimensions, its folder says {}",
                d.unwrap_or(0),
                self.dim
            ))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the model understands text in `language` (`en`, `zh`).
    pub fn covers(&self, language: &str) -> bool {
        self.config.covers(language)
    }

    pub fn batch_size(&self) -> usize {
        self.config.batch().clamp(1, 256)
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
        let mut slot = self.query.lock().unwrap_or_else(|p| p.into_inner());
        let model = match slot.as_mut() {
            Some(model) => model,
            None => slot.insert(self.load_query_instance()?),
        };
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

    fn prepare_queries(&self) -> Result<()> {
        Embedder::prepare_queries(self)
    }
}

/// The tokenizer (`tokenizer.json`) and vector size (`hidden_size` of `config.json`, what
/// mean pooling gives) of a model folder, without loading the model.
fn read_model_shape(dir: &Path) -> Result<(Tokenizer, usize)> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(Error::ModelMissing(path));
    }
    let tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|_| Error::ModelMissing(path.clone()))?;
    let dim = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("hidden_size")?.as_u64())
        .and_then(|d| usize::try_from(d).ok())
        .ok_or_else(|| Error::Model(format!("{} names no hidden_size", path.display())))?;
    Ok((tokenizer, dim))
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
            .with_intra_threads(threads)
            .with_session_config("session.intra_op.allow_spinning", "0");
        TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| Error::Model(e.to_string()))
    } else {
        let model = catalog_model(&config.model)?;
        let options = TextInitOptions::new(model)
            .with_max_length(config.max_length)
            .with_cache_dir(config.cache_dir.clone())
            .with_intra_threads(threads)
            .with_session_config("session.intra_op.allow_spinning", "0");
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
}
