//! The `ragd` server: HTTP API ([`api`]), durable job worker ([`worker`]), configuration
//! ([`config`]), metadata store ([`db`]), original files ([`blobs`]), the data-folder lock
//! ([`lock`]) and the command line ([`cli`]).
//!
//! Access control lives in [`auth`].
//!
//! [`app`] builds the whole HTTP application from a [`state::State`], so tests can drive it
//! in process.

pub mod answer;
pub mod api;
pub mod auth;
pub mod backup;
pub mod blobs;
pub mod chat_api;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod eval;
pub mod gate;
pub mod llm;
pub mod lock;
pub mod maintenance;
pub mod openai_api;
pub mod scheduler;
pub mod serve;
pub mod sources;
pub mod sources_api;
pub mod state;
pub mod web;
pub mod worker;

pub use api::app;
