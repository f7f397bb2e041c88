//! What a running ragd holds: configuration, metadata store, file store, models and index.
//! Shared by the HTTP server and the embedded CLI.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ingest::Pipeline;
use retrieval::{Bm25, Searcher};
use tokio::sync::Notify;

use crate::config::Config;
use crate::llm::LlmClient;
use crate::lock::DataLock;
use crate::spaces::{Space, Spaces};
use crate::store::{Files, Store};

/// Embedding progress of a document: (chunks embedded, chunks in total).
pub type Progress = (usize, usize);

/// The models a state runs with.
pub struct Models {
    pub embedder: Arc<dyn retrieval::Embed>,
    pub bm25: Arc<Bm25>,
    pub cross_encoder: Option<Arc<retrieval::rerank::CrossEncoder>>,
}

/// The shared state; cheap to clone.
pub type AppState = Arc<State>;

pub struct State {
    pub config: Config,
    pub store: Store,
    pub files: Files,
    /// Where documents are parsed: a child process ([`crate::isolate`]), or this one.
    pub parser: Option<Arc<dyn ingest::parse::Parser>>,
    /// Each embedding model with its index; the default model's is opened at start.
    pub spaces: Arc<Spaces>,
    pub bm25: Arc<Bm25>,
    pub cross_encoder: Option<Arc<retrieval::rerank::CrossEncoder>>,
    /// Vectors computed before, by model and chunk text: unchanged chunks are not embedded
    /// again.
    pub vector_cache: Arc<dyn ingest::VectorCache>,
    /// Wakes idle workers when a job is queued.
    pub wake: Notify,
    /// Live embedding progress of documents being processed.
    pub progress: Mutex<HashMap<String, Progress>>,
    /// The stop flags of the ingests running here, by document id: a delete sets its
    /// document's, and the pipeline stops at its next batch.
    pub cancels: Mutex<HashMap<String, Arc<std::sync::atomic::AtomicBool>>>,
    pub lock: DataLock,
    /// What the index optimization passes did.
    pub maintenance: super::system::Maintenance,
    /// Turns for searches, and for evaluations (one at a time).
    pub searches: super::gate::Gate,
    pub evals: super::gate::Gate,
    /// One client for every answer, so connections to the LLM are kept alive.
    pub llm: LlmClient,
    /// One backup at a time.
    pub backups: tokio::sync::Mutex<()>,
    /// Failed web sign-ins per client address.
    pub sign_ins: super::auth::SignInLimiter,
    /// The API keys' digests (`None`: no key configured), derived once from `config.auth`.
    pub guard: Option<super::auth::Guard>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .finish()
    }
}

/// The lease of the replica that owns the embedded index on a shared database.
pub const EMBEDDED_INDEX_LEASE: &str = "embedded-index";

/// The metadata store the configuration names (SQLite in the data folder by default).
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url.expose();
    let lease = std::time::Duration::from_secs(config.lease_secs);
    let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Store::open_postgres(url, config.database_max_connections)
            .await
            .context("cannot open the postgresql database")?
    } else {
        let path = match url.strip_prefix("sqlite://") {
            Some(path) => PathBuf::from(path),
            None => config.data_dir.join("ragd.sqlite"),
        };
        Store::open(&path)
            .await
            .context("cannot open the metadata database")?
    };
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let folder =
        std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let replica = format!("{}:{}", host.trim(), folder.display());
    Ok(store.with_lease(lease).with_replica(&replica))
}

/// The child-process parser the configuration asks for.
fn parser(config: &Config) -> anyhow::Result<Option<Arc<dyn ingest::parse::Parser>>> {
    if !config.parse_isolation {
        return Ok(None);
    }
    let exe = std::env::current_exe().context("cannot find the ragd binary for the parser")?;
    // Only `ragd` has the `parse-child` command (a test or bench binary is something else).
    if exe.file_stem().and_then(|s| s.to_str()) != Some("ragd") {
        tracing::warn!(exe = %exe.display(), "not the ragd binary: documents are parsed in this process");
        return Ok(None);
    }
    Ok(Some(Arc::new(crate::isolate::ChildParser::new(
        exe,
        config.parse_memory_bytes,
        config.parse_cpu_secs,
        config.embedding.ingest_nice,
    ))))
}

/// The file store the configuration names (`data_dir/files` by default).
pub(crate) fn open_files(config: &Config) -> anyhow::Result<Files> {
    Ok(if config.storage_url.is_empty() {
        Files::new(config.data_dir.join("files"))
    } else {
        Files::from_url(&config.storage_url)?
    })
}

/// An embedded Qdrant Edge index belongs to one process: on a database several replicas
/// share, a second replica with its own embedded index would serve a split index, so it is
/// refused.
async fn claim_embedded_index(store: &Store) -> anyhow::Result<()> {
    if store.hold_lease(EMBEDDED_INDEX_LEASE).await? {
        return Ok(());
    }
    let holder = store
        .lease_holder(EMBEDDED_INDEX_LEASE)
        .await?
        .unwrap_or_else(|| "another replica".into());
    anyhow::bail!(
        "{holder} already serves this database with an embedded Qdrant Edge index, which \
         belongs to one process; run more replicas on a shared Qdrant server (RAGD_QDRANT_URL), \
         or stop the other one"
    )
}

impl State {
    /// Loads the configured models, then opens everything else ([`State::with_models`]).
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let embedding = config.embedding.clone();
        let dictionary = match &config.search.user_dictionary {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the user dictionary {}", path.display())
                })?;
                retrieval::normalize::UserDictionary::parse(&text)
            }
            None => Default::default(),
        };
        let cross_encoder_config = config.search.cross_encoder.clone();
        let models = tokio::task::spawn_blocking(move || -> anyhow::Result<Models> {
            let embedder = retrieval::connect(&embedding, None)?;
            let bm25 = Bm25::with_dictionary(dictionary)?;
            let cross_encoder = retrieval::rerank::CrossEncoder::load(&cross_encoder_config)?;
            Ok(Models {
                embedder,
                bm25: Arc::new(bm25),
                cross_encoder: cross_encoder.map(Arc::new),
            })
        })
        .await??;
        tracing::info!(
            model = models.embedder.name(),
            dim = models.embedder.dim(),
            "embedding model loaded"
        );
        Self::with_models(config, models).await
    }

    /// Locks the data folder, opens the metadata store and the index, with these models
    /// (tests pass a small deterministic embedder here).
    pub async fn with_models(config: Config, models: Models) -> anyhow::Result<AppState> {
        let lock = DataLock::acquire(&config.data_dir)?;
        let store = open_store(&config).await?;
        if store.dialect() == crate::store::Dialect::Postgres && config.index.server().is_none() {
            if config.index.split_for_tests {
                tracing::warn!("index.split_for_tests: this replica keeps an embedded index of its own on a shared database (tests only)");
            } else {
                claim_embedded_index(&store).await?;
            }
        }
        let files = open_files(&config)?;
        let Models {
            embedder,
            bm25,
            cross_encoder,
        } = models;
        let vectors = config.data_dir.join("vectors");
        let server = config.index.server();
        let spaces =
            tokio::task::spawn_blocking(move || Spaces::open(&vectors, server, embedder)).await??;
        fill_in_embedding(&store, &config, &spaces).await?;
        // Cached vectors of models no knowledge base uses any more are of no use.
        let mut in_use: Vec<String> = store
            .list_kbs()
            .await?
            .into_iter()
            .map(|k| k.embedding_model)
            .collect();
        in_use.push(spaces.default_space().model().to_string());
        let pruned = store.prune_vector_cache(&in_use).await?;
        if pruned > 0 {
            tracing::info!(
                vectors = pruned,
                "embedding cache: dropped the vectors of models no longer used"
            );
        }
        let vector_cache = Arc::new(store.vector_cache(tokio::runtime::Handle::current()));
        Ok(Arc::new(State {
            llm: LlmClient::new(config.llm.clone()),
            store,
            files,
            parser: parser(&config)?,
            spaces: Arc::new(spaces),
            bm25,
            cross_encoder,
            vector_cache,
            wake: Notify::new(),
            progress: Mutex::new(HashMap::new()),
            cancels: Mutex::new(HashMap::new()),
            lock,
            maintenance: Default::default(),
            searches: super::gate::Gate::new(
                "searches",
                config.max_concurrent_searches,
                config.max_queued_searches,
            ),
            evals: super::gate::Gate::new("evaluations", 1, 0),
            backups: tokio::sync::Mutex::new(()),
            sign_ins: Default::default(),
            guard: super::auth::Guard::from_config(&config.auth),
            config,
        }))
    }

    pub fn progress_of(&self, doc_id: &str) -> Option<Progress> {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(doc_id)
            .copied()
    }

    pub fn set_progress(&self, doc_id: &str, progress: Option<Progress>) {
        let mut map = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        match progress {
            Some(p) => {
                map.insert(doc_id.to_string(), p);
            }
            None => {
                map.remove(doc_id);
            }
        }
    }

    /// A stop flag for the ingest of `doc_id` starting now ([`State::cancel_ingest`] sets it).
    pub fn ingest_started(&self, doc_id: &str) -> Arc<std::sync::atomic::AtomicBool> {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(doc_id.to_string(), flag.clone());
        flag
    }

    pub fn ingest_ended(&self, doc_id: &str) {
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(doc_id);
    }

    /// Stops the ingest of `doc_id` if one runs here.
    pub fn cancel_ingest(&self, doc_id: &str) {
        if let Some(flag) = self
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(doc_id)
        {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The default embedding model's space.
    pub fn default_space(&self) -> &Arc<Space> {
        self.spaces.default_space()
    }

    /// Searches in one space.
    pub fn searcher(&self, space: &Space) -> Searcher {
        Searcher {
            embedder: space.embedder.clone(),
            bm25: self.bm25.clone(),
            index: space.index.clone(),
            config: self.config.search.clone(),
            cross_encoder: self.cross_encoder.clone(),
        }
    }

    /// Ingests into one space, OCR reading in `ocr_languages` (a knowledge base's, as
    /// stored: `""` for the server's default).
    pub fn pipeline(&self, space: &Space, ocr_languages: &str) -> Pipeline {
        Pipeline {
            embedder: space.embedder.clone(),
            bm25: self.bm25.clone(),
            index: space.index.clone(),
            limits: ingest::ParseLimits {
                pdf_timeout: Duration::from_secs(self.config.pdf_timeout_secs),
                max_text_bytes: self.config.max_parsed_text_bytes,
                max_sections: self.config.max_parsed_sections,
                ocr: self.config.ocr.options(ocr_languages),
            },
            cache: self
                .config
                .embedding_cache
                .then(|| self.vector_cache.clone()),
            cancel: None,
            parser: self.parser.clone(),
            batcher: Some(space.batcher.clone()),
            defer_flush: false,
        }
    }

    /// Makes every index write durable. Called on shutdown.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let spaces = self.spaces.clone();
        tokio::task::spawn_blocking(move || -> retrieval::Result<()> {
            for space in spaces.all() {
                space.index.flush()?;
            }
            Ok(())
        })
        .await??;
        Ok(())
    }
}

/// Knowledge bases from before models were chosen per knowledge base get the model their
/// points were indexed with: the one recorded in the root index folder.
async fn fill_in_embedding(store: &Store, config: &Config, spaces: &Spaces) -> anyhow::Result<()> {
    let Some((model, dim)) = spaces.root_model() else {
        return Ok(());
    };
    let default = spaces.default_space();
    let (preset, settings) = if default.model() == model {
        (Some(crate::config::DEFAULT_PRESET), Some(&config.embedding))
    } else {
        let named = config
            .embedding_presets
            .iter()
            .find(|(_, p)| p.model_name() == model);
        (named.map(|(n, _)| n.as_str()), named.map(|(_, p)| p))
    };
    let settings = match settings {
        Some(s) => serde_json::to_string(s)?,
        None => String::new(),
    };
    let filled = store
        .fill_in_embedding(&crate::store::KbEmbedding {
            preset,
            model: &model,
            dim: dim as i64,
            provider: match model.split_once(':') {
                Some(("openai", _)) => "openai",
                Some(("ollama", _)) => "ollama",
                _ => "local",
            },
            config: &settings,
        })
        .await?;
    if filled > 0 {
        tracing::info!(knowledge_bases = filled, model = %model, "recorded the embedding model of older knowledge bases");
    }
    Ok(())
}
