//! The metadata store: knowledge bases, documents and their chunks, the job queue,
//! conversations, sources and their runs. `sqlx` appears nowhere else in the server.
//!
//! This module holds what every dialect shares: the rows ([`KnowledgeBase`], [`Document`],
//! ...), the typed states ([`DocStatus`], [`JobKind`]) and the error ([`StoreError`], with a
//! kind). [`sql`] holds the queries, written once in portable SQL; [`db`] holds what differs
//! between the two engines, SQLite (the embedded default, one file) and PostgreSQL (shared by
//! several replicas): connecting, migrations, transactions, the job claim. Timestamps are
//! made in Rust ([`now`]), never by the database. The original files live in [`files`].

pub mod copy;
pub mod db;
pub mod files;
pub mod sql;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

pub use db::Dialect;
pub use files::{content_hash, Files, FilesError, FilesErrorKind};
pub use sql::Store;

/// Now, as stored: RFC 3339 UTC with milliseconds (`2026-12-02T16:23:11.123Z`), which sorts
/// as text.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The timestamp `after` from now, in the format of [`now`] (so the two compare as text).
pub fn after(after: std::time::Duration) -> String {
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::try_from(after).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    later.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What kind of failure a store call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A unique constraint refused the write.
    Conflict,
    /// The database cannot be reached or is overloaded (pool timeout, i/o).
    Unavailable,
    /// What was asked is not done on this engine (a backup of PostgreSQL).
    Unsupported,
    Internal,
}

/// A failed store call.
#[derive(Debug, thiserror::Error)]
#[error("database: {source}")]
pub struct StoreError {
    kind: StoreErrorKind,
    source: sqlx::Error,
}

impl StoreError {
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// A row that must exist was not found (a broken invariant, not a client's mistake).
    pub(crate) fn missing() -> Self {
        sqlx::Error::RowNotFound.into()
    }

    /// What went wrong, without the `database:` prefix.
    pub fn reason(&self) -> String {
        match &self.source {
            sqlx::Error::Configuration(why) => why.to_string(),
            sqlx::Error::PoolTimedOut => "no connection within the time limit".into(),
            other => other.to_string(),
        }
    }

    /// What this engine does not do, and why.
    pub(crate) fn unsupported(why: &str) -> Self {
        Self {
            kind: StoreErrorKind::Unsupported,
            source: sqlx::Error::Configuration(why.into()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(source: sqlx::Error) -> Self {
        let kind = match &source {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreErrorKind::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreErrorKind::Unavailable
            }
            _ => StoreErrorKind::Internal,
        };
        Self { kind, source }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        sqlx::Error::Migrate(Box::new(e)).into()
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a document is in its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocStatus {
    Queued,
    Parsing,
    Embedding,
    Ready,
    Failed,
    /// Queued by a source run that was cancelled before it got to it (it had no chunks yet);
    /// the source's next run takes it up again.
    Cancelled,
}

impl DocStatus {
    pub const ALL: [DocStatus; 6] = [
        DocStatus::Queued,
        DocStatus::Parsing,
        DocStatus::Embedding,
        DocStatus::Ready,
        DocStatus::Failed,
        DocStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocStatus::Queued => "queued",
            DocStatus::Parsing => "parsing",
            DocStatus::Embedding => "embedding",
            DocStatus::Ready => "ready",
            DocStatus::Failed => "failed",
            DocStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Queued or somewhere in the pipeline: not to be queued again.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            DocStatus::Queued | DocStatus::Parsing | DocStatus::Embedding
        )
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Parse, chunk, embed and store one document.
    Ingest,
    /// One run of a source.
    Sync,
    /// A knowledge base re-indexed with a new embedding model or chunking.
    Reindex,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Ingest => "ingest",
            JobKind::Sync => "sync",
            JobKind::Reindex => "reindex",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [JobKind::Ingest, JobKind::Sync, JobKind::Reindex]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

db::text_type!(DocStatus);
db::text_type!(JobKind);
db::text_type!(ReindexStatus);

#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq, utoipa::ToSchema)]
pub struct KnowledgeBase {
    pub id: String,
    pub name: String,
    pub description: String,
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    /// How documents are cut: `general`, `qa`, `table` or `parent_child`.
    pub chunk_template: String,
    /// The languages OCR reads in, Tesseract's names joined by `+` (`eng+chi_sim`); empty:
    /// the server's default.
    pub ocr_languages: String,
    pub system_prompt: String,
    /// Search defaults (JSON [`retrieval::SearchOptions`]).
    #[serde(serialize_with = "as_json", deserialize_with = "from_json")]
    #[schema(value_type = Object)]
    pub retrieval: String,
    pub created_at: String,
    /// How the embedding model was chosen: `default`, a preset's name, or `None` (inline).
    pub embedding_preset: Option<String>,
    /// The model's name (`local:all-minilm-l6-v2-int8-dynamic`, `openai:bge-m3`), which names the
    /// vector space its chunks live in.
    pub embedding_model: String,
    pub embedding_dim: i64,
    pub embedding_provider: String,
    /// The settings the model was created with (JSON `retrieval::EmbeddingConfig`), secrets
    /// included: never serialized.
    #[serde(skip)]
    pub embedding_config: String,
    /// Re-indexes it went through; its points carry [`KnowledgeBase::index_key`].
    pub generation: i64,
    /// Its documents and their chunks: counted only where shown (the list, one knowledge
    /// base's page), since counting reads every document row; a lookup leaves them `None`.
    #[sqlx(default)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_count: Option<i64>,
    #[sqlx(default)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_count: Option<i64>,
}

/// Chunking as stored: size, overlap and the template's name.
fn chunking(size: i64, overlap: i64, template: &str) -> ingest::ChunkConfig {
    ingest::ChunkConfig {
        size: usize::try_from(size).unwrap_or(256),
        overlap: usize::try_from(overlap).unwrap_or(0),
        template: ingest::Template::parse(template).unwrap_or_default(),
    }
}

impl KnowledgeBase {
    /// How its documents are cut.
    pub fn chunking(&self) -> ingest::ChunkConfig {
        chunking(self.chunk_size, self.chunk_overlap, &self.chunk_template)
    }
}

/// A knowledge base's embedding model, as stored.
#[derive(Debug, Clone, Copy)]
pub struct KbEmbedding<'a> {
    pub preset: Option<&'a str>,
    pub model: &'a str,
    pub dim: i64,
    pub provider: &'a str,
    pub config: &'a str,
}

/// A new knowledge base's row.
#[derive(Debug, Clone, Copy)]
pub struct NewKbRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    pub chunk_template: &'a str,
    pub ocr_languages: &'a str,
    pub embedding: KbEmbedding<'a>,
}

#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq, utoipa::ToSchema)]
pub struct Document {
    pub id: String,
    pub kb_id: String,
    pub name: String,
    pub content_hash: String,
    pub size_bytes: i64,
    pub format: Option<String>,
    pub status: DocStatus,
    pub error: Option<String>,
    pub chunk_count: i64,
    pub page_count: Option<i64>,
    pub token_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// The source that brought this document in; `None` for uploads.
    pub source_id: Option<String>,
    /// Its metadata (a JSON object).
    #[serde(serialize_with = "as_json", deserialize_with = "from_json")]
    #[schema(value_type = Object)]
    pub metadata: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq, utoipa::ToSchema)]
pub struct ChunkRow {
    pub id: String,
    pub document_id: String,
    pub ordinal: i64,
    pub page: Option<i64>,
    pub heading: String,
    pub text: String,
    pub token_count: i64,
}

#[derive(Debug, Clone, Serialize, FromRow, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    /// JSON array of knowledge-base ids.
    #[serde(skip)]
    pub knowledge_bases: String,
    pub created_at: String,
    pub updated_at: String,
    /// The reader key that made it (its identity), if one did.
    #[serde(skip)]
    pub owner: Option<String>,
}

impl KnowledgeBase {
    /// The `kb_id` its points carry in the index now.
    pub fn index_key(&self) -> String {
        index_key(&self.id, self.generation)
    }

    /// The knowledge base's search defaults.
    pub fn search_defaults(&self) -> retrieval::SearchOptions {
        serde_json::from_str(&self.retrieval).unwrap_or_default()
    }
}

/// The `kb_id` the points of a knowledge base's `generation` carry: its id, then `id@N`.
pub fn index_key(kb_id: &str, generation: i64) -> String {
    if generation == 0 {
        kb_id.to_string()
    } else {
        format!("{kb_id}@{generation}")
    }
}

/// The knowledge base an index key belongs to.
pub fn kb_of_key(key: &str) -> &str {
    key.split_once('@').map_or(key, |(id, _)| id)
}

/// Where a re-index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReindexStatus {
    Running,
    Cancelling,
    Done,
    Cancelled,
    Failed,
}

impl ReindexStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Cancelling,
            Self::Done,
            Self::Cancelled,
            Self::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Running or asked to stop: the knowledge base has a new generation being built.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Cancelling)
    }
}

/// A re-index of a knowledge base: the settings of its new generation and its progress.
#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq)]
pub struct Reindex {
    pub id: i64,
    pub kb_id: String,
    pub generation: i64,
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    pub chunk_template: String,
    pub embedding_preset: Option<String>,
    pub embedding_model: String,
    pub embedding_dim: i64,
    pub embedding_provider: String,
    #[serde(skip)]
    pub embedding_config: String,
    pub from_generation: i64,
    pub from_model: String,
    pub from_dim: i64,
    #[serde(skip)]
    pub from_config: String,
    pub status: ReindexStatus,
    /// Documents to re-index, and those done.
    pub total: i64,
    pub done: i64,
    /// Chunks the model embedded (the others came from the cache).
    pub embedded: i64,
    /// What it waits for, if anything.
    pub note: Option<String>,
    pub error: Option<String>,
    #[serde(skip)]
    pub cleaned: bool,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl Reindex {
    /// How the new generation cuts documents.
    pub fn chunking(&self) -> ingest::ChunkConfig {
        chunking(self.chunk_size, self.chunk_overlap, &self.chunk_template)
    }

    /// The `kb_id` of the new generation's points.
    pub fn index_key(&self) -> String {
        index_key(&self.kb_id, self.generation)
    }

    /// The `kb_id` of the points it replaces.
    pub fn from_key(&self) -> String {
        index_key(&self.kb_id, self.from_generation)
    }
}

/// A new re-index's row.
#[derive(Debug, Clone, Copy)]
pub struct NewReindexRow<'a> {
    pub kb: &'a KnowledgeBase,
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    pub chunk_template: &'a str,
    pub embedding: KbEmbedding<'a>,
}

/// What a try to switch a knowledge base to its new generation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// The knowledge base now uses the new generation.
    Done,
    /// Documents are still being ingested or are not re-indexed yet.
    NotYet,
    /// The re-index is no longer running (cancelled, or the knowledge base is gone).
    Stopped,
}

/// The stored JSON text of a value sent as JSON.
fn from_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.to_string())
}

fn as_json<S: serde::Serializer>(raw: &str, s: S) -> Result<S::Ok, S::Error> {
    let v: serde_json::Value = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    serde::Serialize::serialize(&v, s)
}

impl Conversation {
    pub fn kb_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.knowledge_bases).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, FromRow, PartialEq)]
pub struct StoredMessage {
    #[serde(skip)]
    pub id: i64,
    pub role: String,
    pub content: String,
    pub reasoning: Option<String>,
    /// JSON array of citations.
    #[serde(skip)]
    pub citations: Option<String>,
    pub created_at: String,
}

/// A claimed job.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub document_id: Option<String>,
    pub attempts: i64,
    /// The source run this job belongs to.
    pub run_id: Option<i64>,
    /// Times it waited for an embedding server that was down.
    pub waits: i64,
    /// The re-index this job drives.
    pub reindex_id: Option<i64>,
}

/// A new document to queue.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: String,
    pub kb_id: String,
    pub name: String,
    pub content_hash: String,
    pub size_bytes: i64,
    pub format: String,
    /// Its metadata (a JSON object's text).
    pub metadata: String,
}

/// What kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Folder,
    Urls,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Folder => "folder",
            SourceKind::Urls => "urls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "folder" => Some(SourceKind::Folder),
            "urls" => Some(SourceKind::Urls),
            _ => None,
        }
    }
}

/// A source's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub kind: SourceKind,
    /// Canonical folder (folder sources).
    pub path: Option<PathBuf>,
    pub urls: Vec<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub schedule: Option<String>,
    pub timezone: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct SourceRow {
    pub id: String,
    pub kb_id: String,
    pub kind: String,
    pub path: Option<String>,
    pub urls: String,
    pub include: String,
    pub exclude: String,
    pub schedule: Option<String>,
    pub timezone: String,
    pub enabled: bool,
    pub last_fire: Option<String>,
    pub created_at: String,
}

impl SourceRow {
    pub fn urls(&self) -> Vec<String> {
        serde_json::from_str(&self.urls).unwrap_or_default()
    }
    pub fn include(&self) -> Vec<String> {
        serde_json::from_str(&self.include).unwrap_or_default()
    }
    pub fn exclude(&self) -> Vec<String> {
        serde_json::from_str(&self.exclude).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq, utoipa::ToSchema)]
pub struct Run {
    pub id: i64,
    pub source_id: String,
    pub trigger: String,
    pub status: String,
    pub phase: Option<String>,
    pub files_total: Option<i64>,
    pub files_scanned: i64,
    pub docs_pending: i64,
    pub added: i64,
    pub updated: i64,
    pub deleted: i64,
    pub renamed: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, FromRow, PartialEq, utoipa::ToSchema)]
pub struct RunError {
    pub path: String,
    pub error: String,
}

/// A run counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Added,
    Updated,
    Deleted,
    Renamed,
    Failed,
}

/// A file's new content, read and hashed.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub size: i64,
    pub mtime_ns: i64,
    pub hash: String,
    pub format: String,
    /// HTTP validators of the body (URL sources).
    pub validators: Validators,
}

/// What applying a change did to the index's documents.
#[derive(Debug, Default)]
pub struct Applied {
    /// An ingest job was queued.
    pub queued: bool,
    /// Documents left without any path of the source: their points must go.
    pub orphaned: Vec<String>,
}

/// What the source recorded for a path at its last sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub size: i64,
    pub mtime_ns: i64,
    pub hash: String,
    pub document_id: Option<String>,
    /// The run that last added or changed this path.
    pub changed_run: Option<i64>,
    /// HTTP validators of the body behind `hash` (URL sources).
    pub validators: Validators,
}

/// HTTP validators of a fetched body: `ETag` and `Last-Modified`, as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}
