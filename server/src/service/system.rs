//! The system's state: the index and its maintenance passes, and the configured LLM.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::answer::memory;
use super::State;
use crate::config::Provider;
use crate::error::Result;

/// What the last optimization passes did (`GET /api/v1/index`).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct OptimizeRecord {
    pub runs: u64,
    pub last_finished_at: Option<String>,
    pub last_duration_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// Shared record of the optimization passes.
#[derive(Debug, Default)]
pub struct Maintenance {
    record: Mutex<OptimizeRecord>,
}

impl Maintenance {
    pub fn record(&self) -> OptimizeRecord {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn finished(&self, took: Duration, error: Option<String>) {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        r.runs += 1;
        r.last_finished_at = Some(jiff::Timestamp::now().to_string());
        r.last_duration_ms = Some(took.as_millis() as u64);
        r.last_error = error;
    }
}

/// The vector index: segments, points, indexed vectors, and the optimization passes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IndexStatus {
    pub segments: usize,
    pub points: usize,
    pub indexed_vectors: usize,
    pub changes_since_optimize: u64,
    pub optimize: OptimizeRecord,
    /// Each embedding model's index (the figures above are their sums).
    #[serde(default)]
    pub spaces: Vec<SpaceStatus>,
}

/// One embedding model's index.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpaceStatus {
    pub model: String,
    pub points: usize,
    pub segments: usize,
}

pub async fn index_status(state: &State) -> Result<IndexStatus> {
    let spaces = state.spaces.all();
    let infos = tokio::task::spawn_blocking(move || {
        spaces
            .iter()
            .map(|s| Ok((s.model().to_string(), s.index.info()?)))
            .collect::<retrieval::Result<Vec<_>>>()
    })
    .await??;
    Ok(IndexStatus {
        segments: infos.iter().map(|(_, i)| i.segments).sum(),
        points: infos.iter().map(|(_, i)| i.points).sum(),
        indexed_vectors: infos.iter().map(|(_, i)| i.indexed_vectors).sum(),
        changes_since_optimize: infos.iter().map(|(_, i)| i.changes_since_optimize).sum(),
        optimize: state.maintenance.record(),
        spaces: infos
            .into_iter()
            .map(|(model, i)| SpaceStatus {
                model,
                points: i.points,
                segments: i.segments,
            })
            .collect(),
    })
}

/// The configured model, whether its backend answers, and the GPU memory it needs.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LlmReport {
    pub configured: bool,
    pub reachable: bool,
    /// Why there is nothing more to say (no LLM configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<usize>,
    /// Why the backend does not answer.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub gpu_memory_estimate: Option<memory::MemoryEstimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
}

pub async fn llm_report(state: &State) -> LlmReport {
    let cfg = &state.llm.config;
    if !cfg.is_configured() {
        return LlmReport {
            configured: false,
            reachable: false,
            message: Some("no llm is configured: set RAGD_LLM_BASE_URL and RAGD_LLM_MODEL (answers are extractive meanwhile)".into()),
            provider: None,
            base_url: None,
            model: None,
            context_window: None,
            error: None,
            gpu_memory_estimate: None,
            formula: None,
        };
    }
    let client = &state.llm;
    let ping = client.ping().await;
    let details = client.model_details().await;
    let (params, quant) = details.unwrap_or((None, None));
    LlmReport {
        configured: true,
        reachable: ping.is_ok(),
        message: None,
        provider: Some(cfg.provider),
        base_url: Some(cfg.base_url.clone()),
        model: Some(cfg.model.clone()),
        context_window: Some(cfg.context_window),
        error: ping.err().map(|e| e.to_string()),
        gpu_memory_estimate: memory::estimate(&cfg.model, params.as_deref(), quant.as_deref()),
        formula: Some("M = P × 4 bytes × 1.2 / (32 / Q)".into()),
    }
}

/// One engine's answer to the health check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineHealth {
    /// What it holds: `metadata`, `files` or `index`.
    pub role: &'static str,
    /// `sqlite`, `postgresql`, `local disk`, `object store`, `qdrant edge`, `qdrant server`.
    pub engine: &'static str,
    pub ok: bool,
    /// Why not, in a word (`unavailable`, `timeout`); the detail is in the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    pub ms: u64,
}

/// `GET /healthz`: every engine, checked at once, each within [`HEALTH_TIMEOUT`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when an engine does not answer.
    pub status: &'static str,
    pub engines: Vec<EngineHealth>,
}

/// How long the health check waits for one engine.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

async fn check<E: std::fmt::Display>(
    role: &'static str,
    engine: &'static str,
    call: impl std::future::Future<Output = std::result::Result<(), E>>,
) -> EngineHealth {
    let started = std::time::Instant::now();
    let error = match tokio::time::timeout(HEALTH_TIMEOUT, call).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(role, engine, error = %e, "health check failed");
            Some("unavailable")
        }
        Err(_) => {
            tracing::warn!(role, engine, "health check timed out");
            Some("timeout")
        }
    };
    EngineHealth {
        role,
        engine,
        ok: error.is_none(),
        error,
        ms: started.elapsed().as_millis() as u64,
    }
}

/// Checks the metadata store, the file store and the default index.
pub async fn health(state: &State) -> Health {
    let index = state.default_space().index.clone();
    let remote = index.is_remote();
    let (metadata, files, index) = tokio::join!(
        check(
            "metadata",
            state.store.dialect().engine(),
            state.store.ping()
        ),
        check(
            "files",
            if state.files.root().is_some() {
                "local disk"
            } else {
                "object store"
            },
            state.files.ping()
        ),
        check(
            "index",
            if remote {
                "qdrant server"
            } else {
                "qdrant edge"
            },
            async move {
                tokio::task::spawn_blocking(move || index.info().map(drop))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        ),
    );
    let engines = vec![metadata, files, index];
    Health {
        status: if engines.iter().all(|e| e.ok) {
            "ok"
        } else {
            "degraded"
        },
        engines,
    }
}
