//! Prometheus metrics at `GET /metrics` (admin keys only): the `metrics` facade's recorder,
//! rendered by `metrics-exporter-prometheus`. Counters and histograms are recorded where
//! things happen (this module's request middleware, the search service, the worker, answers,
//! source runs); gauges of state (queue depth, documents by status, index points and
//! segments, the last optimization) are read from the store and the index at each scrape.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::error::ApiResult;
use crate::service::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; `ragd serve` calls it before serving).
pub fn install() {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already");
        }
        handle
    });
}

/// Counts each request by route, method and status, with its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("ragd_http_requests_total", &labels).increment(1);
    metrics::histogram!("ragd_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The metrics in Prometheus' text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus' text format (admin keys only)", content_type = "text/plain", body = String),
        (status = 403, description = "not an admin key", body = super::openapi::ErrorBody)))]
pub async fn scrape(State(state): State<AppState>) -> ApiResult<Response> {
    for (kind, status, n) in state.store.job_counts().await? {
        metrics::gauge!("ragd_jobs", "kind" => kind, "status" => status).set(n as f64);
    }
    for (status, n) in state.store.document_counts().await? {
        metrics::gauge!("ragd_documents", "status" => status).set(n as f64);
    }
    let spaces = state.spaces.all();
    let infos = tokio::task::spawn_blocking(move || {
        spaces
            .iter()
            .map(|s| (s.model().to_string(), s.index.info()))
            .collect::<Vec<_>>()
    })
    .await?;
    for (model, info) in infos {
        if let Ok(info) = info {
            metrics::gauge!("ragd_index_points", "model" => model.clone()).set(info.points as f64);
            metrics::gauge!("ragd_index_segments", "model" => model).set(info.segments as f64);
        }
    }
    let record = state.maintenance.record();
    metrics::gauge!("ragd_index_optimizations").set(record.runs as f64);
    if let Some(ms) = record.last_duration_ms {
        metrics::gauge!("ragd_index_last_optimization_seconds").set(ms as f64 / 1000.0);
    }
    let text = HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
