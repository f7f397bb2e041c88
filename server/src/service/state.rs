//! What a running ragd holds: configuration, metadata store, file store, models and index.
//! Shared by the HTTP server and the embedded CLI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ingest::Pipeline;
use retrieval::{Bm25, Embedder, Index, IndexConfig, Searcher};
use tokio::sync::Notify;

use crate::config::Config;
use crate::llm::LlmClient;
use crate::lock::DataLock;
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
    pub searcher: Searcher,
    pub pipeline: Pipeline,
    /// Wakes idle workers when a job is queued.
    pub wake: Notify,
    /// Live embedding progress of documents being processed.
    pub progress: Mutex<HashMap<String, Progress>>,
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
            let embedder = Embedder::load(&embedding)?;
            let bm25 = Bm25::with_dictionary(dictionary)?;
            let cross_encoder = retrieval::rerank::CrossEncoder::load(&cross_encoder_config)?;
            Ok(Models {
                embedder: Arc::new(embedder),
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
        let store = Store::open(&config.data_dir.join("ragd.sqlite"))
            .await
            .context("cannot open the metadata database")?;
        let files = Files::new(config.data_dir.join("files"));
        let index_config = IndexConfig {
            path: config.data_dir.join("vectors"),
            server: config.index.server(),
        };
        let Models {
            embedder,
            bm25,
            cross_encoder,
        } = models;
        let (name, dim) = (embedder.name().to_string(), embedder.dim());
        let index =
            tokio::task::spawn_blocking(move || Index::open(&index_config, &name, dim)).await??;
        let index = Arc::new(index);
        let searcher = Searcher {
            embedder: embedder.clone(),
            bm25: bm25.clone(),
            index: index.clone(),
            config: config.search.clone(),
            cross_encoder,
        };
        let pipeline = Pipeline {
            embedder,
            bm25,
            index,
            limits: ingest::ParseLimits {
                pdf_timeout: Duration::from_secs(config.pdf_timeout_secs),
            },
        };
        Ok(Arc::new(State {
            llm: LlmClient::new(config.llm.clone()),
            store,
            files,
            searcher,
            pipeline,
            wake: Notify::new(),
            progress: Mutex::new(HashMap::new()),
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

    /// Makes every index write durable. Called on shutdown.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let index = self.pipeline.index.clone();
        tokio::task::spawn_blocking(move || index.flush()).await??;
        Ok(())
    }
}
