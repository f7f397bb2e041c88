//! One typed configuration: defaults → `ragd.toml` → `RAGD_*` environment → CLI flags.
//!
//! Library crates get their typed sub-configs ([`retrieval::EmbeddingConfig`],
//! [`ingest::ChunkConfig`], [`retrieval::SearchConfig`]) and never read the environment.

pub mod auth;
pub mod backup;
pub mod index;
pub mod llm;
pub mod ocr;
pub mod sources;

pub use auth::AuthConfig;
pub use backup::BackupConfig;
pub use index::IndexSettings;
pub use llm::{LlmConfig, Provider};
pub use ocr::OcrConfig;
pub use sources::SourcesConfig;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The whole configuration of `ragd`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on; port 0 picks a free port.
    pub listen: String,
    /// Folder for metadata (SQLite), original files and vectors.
    pub data_dir: PathBuf,
    /// Where the metadata and the job queue live: empty (SQLite in `data_dir`),
    /// `sqlite://PATH`, or `postgres://USER:PASSWORD@HOST:PORT/DB`, which several replicas
    /// share.
    pub database_url: retrieval::Secret,
    /// Connections to PostgreSQL each replica opens at most.
    pub database_max_connections: u32,
    /// Where original files live: empty (`data_dir/files`), `file://PATH`, or
    /// `s3://BUCKET/PREFIX` (endpoint, region and keys from the `AWS_*` variables).
    pub storage_url: String,
    /// Seconds a job's claim (and the scheduler's turn) holds unless renewed: a replica that
    /// dies leaves its jobs to the others after this long.
    pub lease_secs: u64,
    /// Folder `make setup` fills with ONNX Runtime and the offline model. Relative model
    /// paths in `[embedding]` are resolved against it.
    pub cache_dir: PathBuf,
    /// Largest request body, uploads included.
    pub max_upload_bytes: u64,
    /// Time limit of one API request, in seconds.
    pub request_timeout_secs: u64,
    /// Time limit of the long requests (answers until their stream starts, evaluations,
    /// backups, the LLM check), in seconds.
    pub long_request_timeout_secs: u64,
    /// Documents processed at the same time.
    pub workers: usize,
    /// Searches (also those of answers) running at once; more wait in a queue.
    pub max_concurrent_searches: usize,
    /// Searches that may wait for a turn; beyond that the answer is 503 at once.
    pub max_queued_searches: usize,
    /// Time budget of one PDF parse, in seconds.
    pub pdf_timeout_secs: u64,
    /// Text one document's parse may produce, in bytes (every format): a file over it fails
    /// at once, naming the limit.
    pub max_parsed_text_bytes: usize,
    /// Sections one document's parse may produce.
    pub max_parsed_sections: usize,
    /// Parse each document in a child process with the limits below, so a parser that
    /// aborts, overflows its stack, loops or blows up its memory costs that document only.
    pub parse_isolation: bool,
    /// The parser process's address-space limit, in bytes.
    pub parse_memory_bytes: u64,
    /// The parser process's CPU-time limit, in seconds.
    pub parse_cpu_secs: u64,
    /// Serve the web UI from this folder instead of the embedded copy (UI development).
    pub web_dir: Option<PathBuf>,
    /// The server's default embedding model, for knowledge bases that do not choose one.
    pub embedding: retrieval::EmbeddingConfig,
    /// Named embedding models a knowledge base may choose (`[embedding_presets.NAME]`), e.g.
    /// a multilingual model on the GPU host.
    pub embedding_presets: std::collections::BTreeMap<String, retrieval::EmbeddingConfig>,
    /// Keep each chunk's vector by model and text, so re-parsing, a changed file in a source
    /// and re-indexing embed only the chunks whose text changed.
    pub embedding_cache: bool,
    pub chunking: ingest::ChunkConfig,
    pub ocr: OcrConfig,
    pub search: retrieval::SearchConfig,
    pub llm: LlmConfig,
    pub answer: AnswerConfig,
    pub sources: SourcesConfig,
    pub auth: AuthConfig,
    pub index: IndexSettings,
    pub backup: BackupConfig,
}

/// `[answer]`: how questions are answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// Chunks retrieved for an answer.
    pub top_k: usize,
    /// A chunk is relevant when its dense (cosine) score reaches this, or BM25 matched it.
    /// When no chunk is relevant the LLM is not called and `empty_response` is the answer.
    pub min_score: f32,
    pub empty_response: String,
    pub empty_response_zh: String,
    /// Hosts (and their subdomains) that Markdown images and links in answers may point
    /// to; others are dropped, so injected text cannot make the UI fetch an attacker's URL.
    pub link_hosts: Vec<String>,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            top_k: 6,
            min_score: 0.3,
            empty_response: "I could not find anything about this in the knowledge base.".into(),
            empty_response_zh: "知识库中没有找到与这个问题相关的内容。".into(),
            link_hosts: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: Default::default(),
            database_max_connections: 10,
            storage_url: String::new(),
            lease_secs: 30,
            cache_dir: default_cache_dir(),
            max_upload_bytes: 100 * 1024 * 1024,
            request_timeout_secs: 60,
            long_request_timeout_secs: 1800,
            workers: 4,
            max_concurrent_searches: 4,
            max_queued_searches: 64,
            pdf_timeout_secs: 60,
            max_parsed_text_bytes: 64 * 1024 * 1024,
            max_parsed_sections: 200_000,
            parse_isolation: true,
            parse_memory_bytes: 4 * 1024 * 1024 * 1024,
            parse_cpu_secs: 120,
            web_dir: None,
            embedding: retrieval::EmbeddingConfig::default(),
            embedding_presets: Default::default(),
            embedding_cache: true,
            chunking: ingest::ChunkConfig::default(),
            ocr: OcrConfig::default(),
            search: retrieval::SearchConfig::default(),
            llm: LlmConfig::default(),
            answer: AnswerConfig::default(),
            sources: SourcesConfig::default(),
            auth: AuthConfig::default(),
            index: IndexSettings::default(),
            backup: BackupConfig::default(),
        }
    }
}

/// `$RAGD_CACHE_DIR`, else `$XDG_CACHE_HOME/ragd`, else `~/.cache/ragd` (as `scripts/setup.py`).
pub fn default_cache_dir() -> PathBuf {
    cache_dir_from(&|k| std::env::var(k).ok())
}

fn cache_dir_from(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = env("RAGD_CACHE_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir).join("ragd");
    }
    let home = env("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache").join("ragd")
}

/// Environment variables and the config keys they set.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("RAGD_LISTEN", "listen"),
    ("RAGD_DATA_DIR", "data_dir"),
    ("RAGD_DATABASE_URL", "database_url"),
    ("RAGD_DATABASE_MAX_CONNECTIONS", "database_max_connections"),
    ("RAGD_STORAGE_URL", "storage_url"),
    ("RAGD_LEASE_SECS", "lease_secs"),
    ("RAGD_CACHE_DIR", "cache_dir"),
    ("RAGD_MAX_UPLOAD_BYTES", "max_upload_bytes"),
    ("RAGD_REQUEST_TIMEOUT_SECS", "request_timeout_secs"),
    (
        "RAGD_LONG_REQUEST_TIMEOUT_SECS",
        "long_request_timeout_secs",
    ),
    ("RAGD_WORKERS", "workers"),
    ("RAGD_MAX_CONCURRENT_SEARCHES", "max_concurrent_searches"),
    ("RAGD_MAX_QUEUED_SEARCHES", "max_queued_searches"),
    ("RAGD_PDF_TIMEOUT_SECS", "pdf_timeout_secs"),
    ("RAGD_MAX_PARSED_TEXT_BYTES", "max_parsed_text_bytes"),
    ("RAGD_MAX_PARSED_SECTIONS", "max_parsed_sections"),
    ("RAGD_PARSE_ISOLATION", "parse_isolation"),
    ("RAGD_PARSE_MEMORY_BYTES", "parse_memory_bytes"),
    ("RAGD_PARSE_CPU_SECS", "parse_cpu_secs"),
    ("RAGD_WEB_DIR", "web_dir"),
    ("RAGD_BACKUP_DIR", "backup.dir"),
    ("RAGD_BACKUP_SCHEDULE", "backup.schedule"),
    ("RAGD_BACKUP_TIMEZONE", "backup.timezone"),
    ("RAGD_BACKUP_KEEP", "backup.keep"),
    ("RAGD_EMBEDDING_CACHE", "embedding_cache"),
    ("RAGD_EMBEDDING_PROVIDER", "embedding.provider"),
    ("RAGD_EMBEDDING_MODEL", "embedding.model"),
    ("RAGD_EMBEDDING_BASE_URL", "embedding.base_url"),
    ("RAGD_EMBEDDING_API_KEY", "embedding.api_key"),
    ("RAGD_EMBEDDING_CONCURRENCY", "embedding.concurrency"),
    ("RAGD_EMBEDDING_TIMEOUT_SECS", "embedding.timeout_secs"),
    ("RAGD_EMBEDDING_RETRIES", "embedding.retries"),
    ("RAGD_EMBEDDING_MAX_LENGTH", "embedding.max_length"),
    ("RAGD_EMBEDDING_QUERY_PREFIX", "embedding.query_prefix"),
    (
        "RAGD_EMBEDDING_DOCUMENT_PREFIX",
        "embedding.document_prefix",
    ),
    ("RAGD_EMBEDDING_INPUT_TYPE", "embedding.input_type"),
    ("RAGD_EMBEDDING_LANGUAGES", "embedding.languages"),
    ("RAGD_EMBEDDING_TOKENIZER", "embedding.tokenizer"),
    ("RAGD_EMBEDDING_MODEL_DIR", "embedding.model_dir"),
    ("RAGD_ORT_LIBRARY", "embedding.ort_library"),
    ("RAGD_EMBEDDING_THREADS", "embedding.threads"),
    ("RAGD_EMBEDDING_BATCH_SIZE", "embedding.batch_size"),
    ("RAGD_EMBEDDING_INGEST_NICE", "embedding.ingest_nice"),
    ("RAGD_CHUNK_SIZE", "chunking.size"),
    ("RAGD_CHUNK_OVERLAP", "chunking.overlap"),
    ("RAGD_CHUNK_TEMPLATE", "chunking.template"),
    ("RAGD_OCR_LANGUAGES", "ocr.languages"),
    ("RAGD_OCR_DPI", "ocr.dpi"),
    ("RAGD_OCR_TIMEOUT_SECS", "ocr.timeout_secs"),
    ("RAGD_SEARCH_TOP_K", "search.top_k"),
    ("RAGD_RRF_K", "search.rrf_k"),
    ("RAGD_FUSION", "search.fusion"),
    ("RAGD_RERANK", "search.rerank"),
    ("RAGD_CROSS_ENCODER_DIR", "search.cross_encoder.model_dir"),
    ("RAGD_CROSS_ENCODER_MODEL", "search.cross_encoder.model"),
    ("RAGD_USER_DICTIONARY", "search.user_dictionary"),
    ("RAGD_LLM_PROVIDER", "llm.provider"),
    ("RAGD_LLM_BASE_URL", "llm.base_url"),
    ("RAGD_LLM_MODEL", "llm.model"),
    ("RAGD_LLM_API_KEY", "llm.api_key"),
    ("RAGD_LLM_CONTEXT_WINDOW", "llm.context_window"),
    (
        "RAGD_LLM_FIRST_TOKEN_TIMEOUT_SECS",
        "llm.first_token_timeout_secs",
    ),
    ("RAGD_LLM_IDLE_TIMEOUT_SECS", "llm.idle_timeout_secs"),
    ("RAGD_ANSWER_MIN_SCORE", "answer.min_score"),
    ("RAGD_SOURCE_ROOTS", "sources.folder_roots"),
    (
        "RAGD_SOURCE_ALLOW_PRIVATE_URLS",
        "sources.allow_private_urls",
    ),
    ("RAGD_SOURCE_MAX_FILE_BYTES", "sources.max_file_bytes"),
    ("RAGD_SOURCE_TICK_SECS", "sources.tick_secs"),
    (
        "RAGD_SOURCE_FETCH_TIMEOUT_SECS",
        "sources.fetch_timeout_secs",
    ),
    ("RAGD_SOURCE_TIMEZONE", "sources.default_timezone"),
    ("RAGD_API_KEY", "auth.api_key"),
    ("RAGD_ALLOWED_HOSTS", "auth.allowed_hosts"),
    ("RAGD_ANSWER_LINK_HOSTS", "answer.link_hosts"),
    ("RAGD_API_READER_KEYS", "auth.reader_keys"),
    (
        "RAGD_AUTH_ALLOW_UNAUTHENTICATED",
        "auth.allow_unauthenticated",
    ),
    ("RAGD_AUTH_SESSION_HOURS", "auth.session_hours"),
    ("RAGD_INDEX_OPTIMIZE_IDLE_SECS", "index.optimize_idle_secs"),
    ("RAGD_INDEX_OPTIMIZE_NICE", "index.optimize_nice"),
    ("RAGD_INDEX_FLUSH_WINDOW_MS", "index.flush_window_ms"),
    ("RAGD_QDRANT_URL", "index.qdrant_url"),
    ("RAGD_INDEX_SPLIT_FOR_TESTS", "index.split_for_tests"),
    ("RAGD_QDRANT_API_KEY", "index.qdrant_api_key"),
    ("RAGD_QDRANT_COLLECTION", "index.qdrant_collection"),
];

/// Keys whose environment value is a list, split on `:` like `PATH`.
const LIST_KEYS: &[&str] = &[
    "ocr.languages",
    "sources.folder_roots",
    "auth.reader_keys",
    "auth.allowed_hosts",
    "answer.link_hosts",
    "embedding.languages",
];

/// Overrides from the command line, applied last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration: defaults, then the file (`explicit`, or `./ragd.toml` when it
    /// exists), then `RAGD_*` variables, then `overrides`.
    pub fn load(explicit: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = match explicit {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?,
            ),
            None => std::fs::read_to_string("ragd.toml").ok(),
        };
        Self::layered(file.as_deref(), &env, overrides)
    }

    /// The layering itself, pure for tests.
    pub fn layered(
        file: Option<&str>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> anyhow::Result<Self> {
        let defaults = Config {
            cache_dir: cache_dir_from(&|k| env.get(k).cloned()),
            ..Config::default()
        };
        let mut value = toml::Value::try_from(&defaults).context("config defaults")?;
        if let Some(text) = file {
            let file: toml::Value = toml::from_str(text).context("invalid ragd.toml")?;
            merge(&mut value, file);
        }
        for (var, key) in ENV_KEYS {
            if let Some(raw) = env.get(*var) {
                let v = if LIST_KEYS.contains(key) {
                    toml::Value::Array(
                        raw.split(':')
                            .filter(|s| !s.is_empty())
                            .map(|s| toml::Value::String(s.to_string()))
                            .collect(),
                    )
                } else {
                    scalar(raw)
                };
                set_path(&mut value, key, v);
            }
        }
        let mut config: Config = value.try_into().context("invalid configuration")?;
        if let Some(listen) = &overrides.listen {
            config.listen = listen.clone();
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        config.validate()?;
        config.resolve_paths();
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.workers == 0 || self.workers > 64 {
            bail!("workers must be between 1 and 64");
        }
        if !(self.database_url.is_empty()
            || self.database_url.starts_with("sqlite://")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite:// or postgres://");
        }
        if !(self.storage_url.is_empty()
            || self.storage_url.starts_with("file://")
            || self.storage_url.starts_with("s3://"))
        {
            bail!("storage_url must start with file:// or s3://");
        }
        if self.lease_secs < 2 || self.lease_secs > 3600 {
            bail!("lease_secs must be between 2 and 3600");
        }
        if self.database_max_connections == 0 || self.database_max_connections > 1000 {
            bail!("database_max_connections must be between 1 and 1000");
        }
        if self.max_concurrent_searches == 0 || self.max_concurrent_searches > 256 {
            bail!("max_concurrent_searches must be between 1 and 256");
        }
        if self.max_upload_bytes < 1024 {
            bail!("max_upload_bytes must be at least 1024");
        }
        self.embedding
            .validate()
            .map_err(|e| anyhow::anyhow!("[embedding]: {e}"))?;
        for (name, preset) in &self.embedding_presets {
            if !valid_preset_name(name) {
                bail!("embedding_presets: {name:?} is not a valid name (1 to 64 letters, digits, '-' or '_'; not \"default\")");
            }
            preset
                .validate()
                .map_err(|e| anyhow::anyhow!("[embedding_presets.{name}]: {e}"))?;
        }
        self.chunking
            .validate()
            .map_err(|e| anyhow::anyhow!("chunking: {e}"))?;
        self.ocr.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.sources.tick_secs == 0 {
            bail!("sources.tick_secs must be at least 1");
        }
        if jiff::tz::TimeZone::get(&self.sources.default_timezone).is_err() {
            bail!(
                "sources.default_timezone: unknown time zone {:?}",
                self.sources.default_timezone
            );
        }
        self.auth.validate().map_err(|e| anyhow::anyhow!(e))?;
        self.backup
            .validate()
            .map_err(|e| anyhow::anyhow!("backup: {e}"))?;
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!("listen must be ADDR:PORT, got {:?}", self.listen);
        }
        Ok(())
    }

    /// Relative model paths are relative to the cache folder.
    fn resolve_paths(&mut self) {
        let under_cache = |p: &mut PathBuf, cache: &Path| {
            if p.is_relative() {
                *p = cache.join(&*p);
            }
        };
        for e in std::iter::once(&mut self.embedding).chain(self.embedding_presets.values_mut()) {
            under_cache(&mut e.model_dir, &self.cache_dir);
            under_cache(&mut e.ort_library, &self.cache_dir);
            under_cache(&mut e.cache_dir, &self.cache_dir);
        }
    }

    /// The embedding preset called `name` (`default` is `[embedding]`).
    pub fn embedding_preset(&self, name: &str) -> Option<&retrieval::EmbeddingConfig> {
        if name == DEFAULT_PRESET {
            Some(&self.embedding)
        } else {
            self.embedding_presets.get(name)
        }
    }
}

/// The name under which `[embedding]` is offered as a preset.
pub const DEFAULT_PRESET: &str = "default";

/// 1 to 64 ASCII letters, digits, `-` or `_`, and not `default`.
pub fn valid_preset_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name != DEFAULT_PRESET
}

/// A raw environment value as a TOML scalar: integer, float, boolean, else string.
fn scalar(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = raw.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = raw.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(raw.to_string())
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn set_path(value: &mut toml::Value, path: &str, new: toml::Value) {
    let mut cur = value;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(table) = cur.as_table_mut() else {
            return;
        };
        if parts.peek().is_none() {
            // Keep strings strings: a numeric-looking string key stays a string when the
            // default is a string (e.g. a model called "123").
            let new = match (table.get(part), new) {
                (Some(toml::Value::String(_)), v) if !v.is_str() => {
                    toml::Value::String(v.to_string().trim_matches('"').to_string())
                }
                (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => {
                    toml::Value::Float(i as f64)
                }
                (_, v) => v,
            };
            table.insert(part.to_string(), new);
            return;
        }
        cur = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::layered(None, &env(&[("HOME", "/home/u")]), &Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.cache_dir, PathBuf::from("/home/u/.cache/ragd"));
        assert_eq!(
            c.embedding.model_dir,
            PathBuf::from("/home/u/.cache/ragd/models/all-minilm-l6-v2-int8-dynamic")
        );
        assert_eq!(c.max_upload_bytes, 100 * 1024 * 1024);
    }

    #[test]
    fn file_then_env_then_flags() {
        let file = "listen = \"0.0.0.0:9000\"\nworkers = 3\n[chunking]\nsize = 128\n[search]\nrrf_k = 10\n";
        let e = env(&[
            ("RAGD_WORKERS", "4"),
            ("RAGD_CHUNK_OVERLAP", "16"),
            ("RAGD_RRF_K", "30"),
        ]);
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some("/tmp/x".into()),
        };
        let c = Config::layered(Some(file), &e, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.workers, 4);
        assert_eq!(c.chunking.size, 128);
        assert_eq!(c.chunking.overlap, 16);
        assert_eq!(c.search.rrf_k, 30.0);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let e = env(&[("RAGD_SOURCE_ROOTS", "/srv/a:/srv/b")]);
        let c = Config::layered(None, &e, &Overrides::default()).unwrap();
        assert_eq!(
            c.sources.folder_roots,
            vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/b")]
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::layered(Some("workers = 0"), &env(&[]), &Overrides::default()).is_err());
        assert!(Config::layered(Some("nonsense = 1"), &env(&[]), &Overrides::default()).is_err());
        assert!(Config::layered(
            Some("[sources]\ndefault_timezone = \"Mars/Base\""),
            &env(&[]),
            &Overrides::default()
        )
        .is_err());
        assert!(Config::layered(
            None,
            &env(&[("RAGD_LISTEN", "nowhere")]),
            &Overrides::default()
        )
        .is_err());
    }

    #[test]
    fn embedding_presets_and_variables() {
        let file = "[embedding_presets.e5]\nprovider = \"openai\"\nbase_url = \"http://gpu:8000/v1\"\nmodel = \"multilingual-e5-small\"\ninput_type = true\n";
        let e = env(&[
            ("RAGD_EMBEDDING_PROVIDER", "ollama"),
            ("RAGD_EMBEDDING_BASE_URL", "http://gpu:11434"),
            ("RAGD_EMBEDDING_MODEL", "bge-m3"),
            ("RAGD_EMBEDDING_QUERY_PREFIX", "query: "),
            ("RAGD_EMBEDDING_LANGUAGES", "en:zh"),
        ]);
        let c = Config::layered(Some(file), &e, &Overrides::default()).unwrap();
        assert_eq!(c.embedding.provider, retrieval::Provider::Ollama);
        assert_eq!(
            c.embedding.model_name(),
            c.embedding_preset("default").unwrap().model_name()
        );
        assert_eq!(c.embedding.query_prefix, "query: ");
        assert_eq!(c.embedding.languages, Some(vec!["en".into(), "zh".into()]));
        let e5 = c.embedding_preset("e5").unwrap();
        assert_eq!(
            (e5.provider, e5.input_type),
            (retrieval::Provider::Openai, true)
        );
        assert!(c.embedding_preset("nope").is_none());
        // A remote model without a URL, and a bad preset name, are refused.
        let bad = "[embedding]\nprovider = \"openai\"\nmodel = \"m\"\n";
        assert!(Config::layered(Some(bad), &env(&[]), &Overrides::default()).is_err());
        let bad = "[embedding_presets.\"a b\"]\nmodel = \"local\"\n";
        assert!(Config::layered(Some(bad), &env(&[]), &Overrides::default()).is_err());
    }

    #[test]
    fn absolute_model_paths_are_kept() {
        let file = "[embedding]\nmodel_dir = \"/models/mine\"\n";
        let c = Config::layered(Some(file), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.embedding.model_dir, PathBuf::from("/models/mine"));
    }
}
