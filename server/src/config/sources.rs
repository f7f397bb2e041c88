//! `[sources]`: limits of folder and URL sources.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[sources]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// Folders under which folder sources may live. Empty: folder sources are refused
    /// (a server exposed on a network must not read any folder a client names).
    pub folder_roots: Vec<PathBuf>,
    /// Allow URL sources on loopback, private, link-local and metadata addresses.
    pub allow_private_urls: bool,
    /// Largest file or URL body a source ingests; larger ones are recorded as failed.
    pub max_file_bytes: u64,
    /// Time limit of one URL fetch, in seconds.
    pub fetch_timeout_secs: u64,
    /// Redirects followed per URL (each one checked like the URL itself).
    pub max_redirects: usize,
    /// Most files one folder source may hold.
    pub max_files: usize,
    /// Time zone of schedules that name none.
    pub default_timezone: String,
    /// How often the scheduler looks for due sources, in seconds.
    pub tick_secs: u64,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            folder_roots: Vec::new(),
            allow_private_urls: false,
            max_file_bytes: 100 * 1024 * 1024,
            fetch_timeout_secs: 30,
            max_redirects: 5,
            max_files: 200_000,
            default_timezone: "UTC".into(),
            tick_secs: 5,
        }
    }
}
