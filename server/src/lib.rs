//! The `ragd` server. Its layers, and which may call which (arrows point down, never up):
//!
//! ```text
//!   main ─ cli ─ serve            the binary: commands, and the server's start and stop
//!            │     │
//!            │    http ─ jobs     interfaces (axum only in http/) and background work
//!            │     │      │
//!            └─ service ──┘       typed operations: no HTTP types, errors by kind
//!                  │
//!   store · llm · spaces · retrieval · ingest · lock   metadata (sqlx only in store/),
//!                  │                 files, the LLM client, each embedding model's index
//!   config · error · schedule                   leaves: settings, the domain error, cron
//! ```
//!
//! - [`http`]: the REST API, the OpenAI-compatible API, sign-in and the web UI; each handler
//!   calls one [`service`] operation, and [`http::error`] maps errors to statuses once.
//! - [`cli`]: the commands; in embedded mode they call [`service`] directly, with `--url` a
//!   typed HTTP client.
//! - [`jobs`]: the worker draining the durable queue, the scheduler, index maintenance.
//! - [`service`]: knowledge bases, documents, search, answers and conversations, sources,
//!   evaluation, backups, the authorization decision.
//! - [`store`]: the metadata store behind one seam (SQLite, or PostgreSQL for several
//!   replicas), and the original files.
//! - [`llm`]: the chat model's client (Ollama and OpenAI-compatible protocols).
//! - [`spaces`]: each embedding model (local, or a model server) with the index of its
//!   vectors; knowledge bases choose their model.
//! - [`config`], [`error`], [`schedule`], [`lock`]: shared leaves.

pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod isolate;
pub mod jobs;
pub mod llm;
pub mod lock;
pub mod mcp;
pub mod schedule;
pub mod serve;
pub mod service;
pub mod spaces;
pub mod store;

pub use http::app;
