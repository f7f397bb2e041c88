//! `[index]`: where the points live (embedded Qdrant Edge, or a Qdrant server with
//! `qdrant_url`) and when the embedded index is optimized.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[index]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IndexSettings {
    /// Seconds the job queue must stay empty before the index is optimized; 0: never.
    pub optimize_idle_secs: u64,
    /// Nice value of the optimizing thread (0 to 19; 0: normal priority).
    pub optimize_nice: i32,
    /// Group commit of the embedded index: a document the worker stored waits up to this
    /// long for others to share its flush (it is `ready` only after that flush). 0: each
    /// document flushes at once.
    pub flush_window_ms: u64,
    /// A Qdrant server or cluster (gRPC URL, e.g. `http://qdrant:6334`) that holds the points
    /// instead of the embedded Qdrant Edge; empty: embedded.
    pub qdrant_url: String,
    pub qdrant_api_key: retrieval::Secret,
    pub qdrant_collection: String,
    pub qdrant_timeout_secs: u64,
    /// Tests only: replicas sharing a PostgreSQL database each keep their own embedded index
    /// (a split index: a search sees only the documents its replica ingested). Lets the
    /// queue, files and scheduler be tested across replicas where no Qdrant server can run;
    /// never for serving.
    pub split_for_tests: bool,
}

impl IndexSettings {
    pub fn flush_window(&self) -> Duration {
        Duration::from_millis(self.flush_window_ms)
    }

    /// The server backend's settings, when one is configured.
    pub fn server(&self) -> Option<retrieval::QdrantServerConfig> {
        (!self.qdrant_url.is_empty()).then(|| retrieval::QdrantServerConfig {
            url: self.qdrant_url.clone(),
            api_key: (!self.qdrant_api_key.is_empty()).then(|| self.qdrant_api_key.clone()),
            collection: self.qdrant_collection.clone(),
            timeout: Duration::from_secs(self.qdrant_timeout_secs.max(1)),
        })
    }
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            optimize_idle_secs: 60,
            optimize_nice: 10,
            flush_window_ms: 100,
            qdrant_url: String::new(),
            qdrant_api_key: Default::default(),
            qdrant_collection: "ragd".into(),
            qdrant_timeout_secs: 30,
            split_for_tests: false,
        }
    }
}
