//! The operations every interface calls: typed inputs and outputs, errors by kind
//! ([`crate::error::Error`]), no HTTP. The REST API, the OpenAI-compatible API and the CLI
//! are thin adapters over these calls.
//!
//! - [`knowledge_bases`]: create, list, find, change, delete, statistics;
//! - [`documents`]: accept an upload, queue its ingest, list, re-parse, download, and the one
//!   delete path ([`documents::remove`]);
//! - [`search`]: hybrid search over knowledge bases;
//! - [`answer`]: retrieve → prompt → LLM → citations, as a stream of events;
//!   [`conversations`] keep the exchanges;
//! - [`sources`]: folders and URL lists kept in sync;
//! - [`eval`], [`backup`], [`system`] (index, LLM and maintenance status), [`reconcile`]
//!   (index and metadata brought back in line at start);
//! - [`auth`]: roles and the authorization decision; [`gate`]: turns for CPU-bound calls.
//!
//! [`State`] holds what a running ragd has; each operation takes the parts it uses.

pub mod answer;
pub mod auth;
pub mod backup;
pub mod conversations;
pub mod documents;
pub mod eval;
pub mod gate;
pub mod keys;
pub mod knowledge_bases;
pub mod metadata;
pub mod migrate;
pub mod reconcile;
pub mod reindex;

pub mod search;
pub mod sources;
pub mod state;
pub mod system;
#[cfg(test)]
pub mod testing;

pub use state::{AppState, Models, Progress, State};
